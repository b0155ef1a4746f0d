//! The durable store's thread for the async adapters: the runtime's storage effects, mapped
//! by [`arcp_store::runtime`], executed on one dedicated thread (store calls block), one
//! batch at a time (see that module for the write-ahead rule), whatever the backend.

use arcp_store::Store;
use arcp_store::runtime::{Batch, Completion, run_batch};
use std::sync::mpsc::{SyncSender, sync_channel};

/// The store's thread: takes one [`Batch`] at a time; each [`Completion`] goes to `deliver`.
#[derive(Debug)]
pub struct StoreThread {
    tx: SyncSender<Batch>,
}

impl StoreThread {
    /// Starts the thread owning `store`. `read_limit` caps the frames one `ReadEvents`
    /// returns; `deliver` hands each completion to the driver (blocking is fine: only one
    /// batch is ever outstanding) and returns `false` once the driver is gone.
    pub fn spawn(
        mut store: Box<dyn Store>,
        read_limit: usize,
        mut deliver: impl FnMut(Completion) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Batch>(1);
        std::thread::Builder::new()
            .name("arcp-store".into())
            .spawn(move || {
                while let Ok(batch) = rx.recv() {
                    if !deliver(run_batch(&mut *store, batch, read_limit)) {
                        break;
                    }
                }
            })?;
        Ok(StoreThread { tx })
    }

    /// Hands `batch` over without waiting (the channel holds one batch and the host hands
    /// out at most one at a time); `false` when the thread is gone (the batch is dropped and
    /// no completion comes).
    pub fn send(&self, batch: Batch) -> bool {
        self.tx.try_send(batch).is_ok()
    }
}
