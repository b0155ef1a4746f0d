//! The client side shared by every adapter.
//!
//! - [`ClientDriver`]: owns the core [`ClientSession`](arcp_proto::client::ClientSession),
//!   keeps the replies of pending requests (submit, list_jobs, subscribe, ping) keyed by
//!   request, matches them with their answers, turns a resume refused while the session is
//!   still attached into a retry after a backoff ([`ResumeRetry`]), and reports every frame
//!   to the [`FrameTap`]. Sync and Sans-IO: the adapter feeds it (`connected`, `feed_frame`,
//!   `handle_timeout`, `disconnected`, commands), drains it (`poll_output`) and sleeps until
//!   `poll_timeout`.
//! - [`EventStash`]: job events waiting for room in a full bounded per-job queue, itself
//!   bounded (while it is full the adapter stops reading the transport).
//! - [`StdioChild`]: the stdio transport to a child process (NDJSON on its stdin/stdout),
//!   on std threads, usable from any runtime.

mod clock;
mod driver;
mod retry;
mod stash;
mod stdio;
mod tap;

pub use clock::Clock;
pub use driver::{ClientDriver, EntropySource, JobEventItem, Output, Pending, Replies};
pub use retry::ResumeRetry;
pub use stash::{BoundedSender, EventStash, TrySend};
pub use stdio::{StdioChild, StdioInbound};
pub use tap::{FrameTap, TapEvent};
