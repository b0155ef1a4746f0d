//! The client's errors as the store's.

use arcp_store::StoreError;

/// Wraps a client error as [`StoreError::Backend`] (`postgres: ...`).
pub(crate) fn pg(e: postgres::Error) -> StoreError {
    StoreError::backend("postgres", e)
}
