//! (feature `runtime`) The runtime's storage effects mapped onto batches, for every backend:
//! `arcp_store::runtime`, re-exported where it lived before the store became a trait. Use it
//! with a [`SqliteStore`](crate::SqliteStore) as `run_batch(&mut store, batch, limit)` and
//! `restore(&mut store, now_unix_micros)`.

pub use arcp_store::runtime::*;
