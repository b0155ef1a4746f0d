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

/// The cluster watch's thread (a node of a cluster): waits on the
/// [`ClusterWatch`](arcp_store::cluster::ClusterWatch) and hands each non-empty report to
/// the driver.
#[derive(Debug)]
pub struct ClusterThread;

impl ClusterThread {
    /// Starts the thread owning `watch`: each non-empty report goes to `deliver`, which
    /// returns `false` once the driver is gone; `alive` is asked before every wait (the
    /// thread ends, dropping the watch — a clean leave — once it says `false`). A failed
    /// wait is logged and retried after half a second.
    pub fn spawn(
        mut watch: Box<dyn arcp_store::cluster::ClusterWatch>,
        mut deliver: impl FnMut(Vec<arcp_store::cluster::ClusterEvent>) -> bool + Send + 'static,
        alive: impl Fn() -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        std::thread::Builder::new()
            .name("arcp-cluster".into())
            .spawn(move || {
                while alive() {
                    match watch.wait() {
                        Ok(events) if events.is_empty() => {}
                        Ok(events) => {
                            if !deliver(events) {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cluster watch failed; retrying");
                            std::thread::sleep(std::time::Duration::from_millis(500));
                        }
                    }
                }
            })?;
        Ok(ClusterThread)
    }
}
