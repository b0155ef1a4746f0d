//! The durable store: the runtime's storage effects mapped onto [`arcp_sqlite`] records,
//! executed on one dedicated thread (SQLite calls block), one batch at a time.
//!
//! Every storage effect drained in one pass (and any drained while the previous batch was
//! being written) goes into a single [`SqliteStore::apply`] transaction; the effects are
//! reported complete only after it committed, so the runtime's write-ahead rule holds: a
//! frame reaches the wire only after the append holding it is on disk (issue 5 item 10).
//! `ReadEvents` is served after that batch's writes.

use super::records::{Batch, Completion, run_batch};
use arcp_sqlite::SqliteStore;
use tokio::sync::mpsc;

pub(crate) use super::records::open;

/// The store's thread: takes one [`Batch`] at a time and answers with its [`Completion`].
#[derive(Debug)]
pub(crate) struct StoreWorker {
    tx: mpsc::Sender<Batch>,
    pub(crate) done: mpsc::Receiver<Completion>,
    /// A batch is being written (at most one: batches commit in order).
    pub(crate) inflight: bool,
    /// What accumulates meanwhile.
    pub(crate) pending: Batch,
}

impl StoreWorker {
    /// Starts the thread owning `store`. `read_limit` caps the frames one `ReadEvents` returns.
    pub(crate) fn spawn(mut store: SqliteStore, read_limit: usize) -> std::io::Result<Self> {
        let (tx, mut rx) = mpsc::channel::<Batch>(1);
        let (done_tx, done) = mpsc::channel::<Completion>(1);
        std::thread::Builder::new()
            .name("arcp-sqlite".into())
            .spawn(move || {
                while let Some(batch) = rx.blocking_recv() {
                    let out = run_batch(&mut store, batch, read_limit);
                    if done_tx.blocking_send(out).is_err() {
                        break;
                    }
                }
            })?;
        Ok(StoreWorker {
            tx,
            done,
            inflight: false,
            pending: Batch::default(),
        })
    }

    /// Sends the pending batch when none is in flight. Never blocks: the channel holds one
    /// batch and only one is ever outstanding.
    pub(crate) fn flush(&mut self) {
        if self.inflight || self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        match self.tx.try_send(batch) {
            Ok(()) => self.inflight = true,
            Err(mpsc::error::TrySendError::Full(b) | mpsc::error::TrySendError::Closed(b)) => {
                self.pending = b;
            }
        }
    }
}
