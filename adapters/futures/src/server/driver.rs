//! The ONE task that owns the runtime, inside an [`arcp_host::server::ServerHost`] (the
//! driving contract, the effect dispatch, the connection set). This file is the futures
//! part, IO only: the wait (`select_biased!` over the input queue, the store thread's
//! completions, the shutdown request and an `async_io::Timer` at the core's deadline),
//! performing the host's actions (the writer queues, never waited on: a full one is handed
//! back to the host and its writer wakes the driver once it has room; agent tasks on the application's [`Spawner`], authentications on the `blocking` crate's thread
//! pool, the store thread), and the clock.

use super::Spawner;
use arcp_agents::SystemClock;
use arcp_host::server::{
    Action, AgentLink, BoxFuture, Built, ClusterThread, Completion, MetricsHandle, ServerHost,
    StoreThread,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{ConnId, EffectOutcome};
use async_channel::{Receiver, Sender, TrySendError};
use futures_util::{FutureExt, select_biased};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: Sender<Outbound>,
    /// Immediate close (slow consumer), ahead of anything queued (capacity 1).
    pub(crate) kill: Sender<u16>,
    /// Set when `out` was found full: the writer then wakes the driver (see [`Wake`]).
    pub(crate) stalled: Arc<AtomicBool>,
}

/// The writer's end of a stall: after taking each item, the writer of a connection whose
/// queue the driver found full wakes the driver ([`Input::WriterReady`]) once.
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    conn: ConnId,
    stalled: Arc<AtomicBool>,
    tx: Sender<Input>,
}

impl Wake {
    /// The wake of `conn`'s writer and the flag its [`ConnPorts`] share.
    pub(crate) fn new(conn: ConnId, tx: Sender<Input>) -> (Self, Arc<AtomicBool>) {
        let stalled = Arc::new(AtomicBool::new(false));
        let wake = Wake {
            conn,
            stalled: stalled.clone(),
            tx,
        };
        (wake, stalled)
    }

    /// The writer took an item: wakes the driver when it found the queue full.
    pub(crate) async fn took(&self) {
        if self.stalled.load(Ordering::SeqCst) && self.stalled.swap(false, Ordering::SeqCst) {
            let _ = self.tx.send(Input::WriterReady { conn: self.conn }).await;
        }
    }
}

/// An input to the driver, from connection tasks, agent tasks and authentications.
pub(crate) type Input = arcp_host::server::Input<ConnPorts>;

/// Agent tasks reach the driver over its input queue; they sleep on `async_io` timers.
struct Link(Sender<Input>);

impl AgentLink for Link {
    fn send(&self, msg: AgentMsg) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.0.send(Input::Agent(msg)).await.is_ok() })
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            async_io::Timer::after(d).await;
        })
    }
}

// An input is taken by value: boxing it would cost an allocation per agent event.
#[allow(clippy::large_enum_variant)]
enum Step {
    Input(Option<Input>),
    Store(Option<Completion>),
    Shutdown(Sender<()>),
    Timeout,
}

/// Everything the driver task owns.
pub(crate) struct Driver {
    host: ServerHost,
    ports: HashMap<ConnId, ConnPorts>,
    clock: SystemClock,
    tx: Sender<Input>,
    spawn: Spawner,
    rx: Receiver<Input>,
    shutdown: Receiver<Sender<()>>,
    store: Option<(StoreThread, Receiver<Completion>)>,
    /// Shutting down.
    closing: bool,
}

impl Driver {
    /// The driver of `built`; with a store, its thread is started here.
    pub(crate) fn new(
        built: Built,
        clock: SystemClock,
        (tx, rx, shutdown): (Sender<Input>, Receiver<Input>, Receiver<Sender<()>>),
        spawn: Spawner,
        credentials: bool,
    ) -> std::io::Result<(Self, MetricsHandle)> {
        let link = Arc::new(Link(tx.clone()));
        let entropy = Box::new(arcp_agents::OsEntropy);
        let (mut host, db) = ServerHost::new(clock.now(), built, link, credentials, entropy);
        if let Some(watch) = host.take_cluster_watch() {
            let deliver = tx.clone();
            let alive = tx.clone();
            ClusterThread::spawn(
                watch,
                move |events| deliver.send_blocking(Input::Cluster(events)).is_ok(),
                move || !alive.is_closed(),
            )?;
        }
        let store = match db {
            Some(db) => {
                let limit = host.runtime().config().bounds.max_ring_events;
                let (done_tx, done_rx) = async_channel::bounded(1);
                let t = StoreThread::spawn(db, limit, move |c| done_tx.send_blocking(c).is_ok())?;
                Some((t, done_rx))
            }
            None => None,
        };
        let metrics = host.metrics();
        let driver = Driver {
            host,
            ports: HashMap::new(),
            clock,
            tx,
            spawn,
            rx,
            shutdown,
            store,
            closing: false,
        };
        Ok((driver, metrics))
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) async fn run(mut self) {
        self.drain();
        loop {
            let step = self.wait().await;
            let now = self.clock.now();
            match step {
                Step::Store(done) => self.host.handle_store_done(now, done.unwrap_or_default()),
                Step::Input(Some(i)) => {
                    if let Input::Closed { conn } = &i {
                        // Dropping the writer's queue ends it (and sends a close reply).
                        self.ports.remove(conn);
                    }
                    if let Some((conn, ports)) = self.host.handle_input(now, i) {
                        self.ports.insert(conn, ports);
                    }
                }
                Step::Input(None) => return,
                Step::Shutdown(done) => {
                    self.shutdown().await;
                    let _ = done.try_send(());
                    return;
                }
                Step::Timeout => {}
            }
            self.drain();
            if self.host.handle_timeout(self.clock.now()) {
                self.drain();
            }
        }
    }

    /// Sleeps until the earliest of a store completion, an input, a shutdown request, the
    /// deadline.
    async fn wait(&mut self) -> Step {
        let deadline = self.host.poll_timeout().map(|d| self.clock.deadline(d));
        let store = self
            .store
            .as_ref()
            .filter(|_| self.host.store_inflight())
            .map(|(_, rx)| rx.clone());
        let store_done = async {
            match store {
                Some(rx) => rx.recv().await.ok(),
                None => std::future::pending().await,
            }
        };
        let sleep = async {
            match deadline {
                Some(d) => {
                    async_io::Timer::at(d).await;
                }
                None => std::future::pending().await,
            }
        };
        let shutdown = async {
            match self.shutdown.recv().await {
                Ok(done) => done,
                Err(_) => std::future::pending().await,
            }
        };
        select_biased! {
            done = store_done.fuse() => Step::Store(done),
            i = self.rx.recv().fuse() => Step::Input(i.ok()),
            done = shutdown.fuse() => Step::Shutdown(done),
            () = sleep.fuse() => Step::Timeout,
        }
    }

    /// Performs every action the host hands back (never waiting on a writer).
    fn drain(&mut self) {
        while let Some(action) = self.host.poll_action() {
            match action {
                Action::Transmit { conn, bytes } => {
                    self.send(conn, Outbound::Frame(bytes));
                }
                Action::Close { conn, code } if self.closing => {
                    // Shutting down: a close is queued only where there is room.
                    if let Some(p) = self.ports.remove(&conn) {
                        let _ = p.out.try_send(Outbound::Close(code));
                    }
                }
                Action::Close { conn, code } => {
                    if self.send(conn, Outbound::Close(code)) {
                        // The writer closes after the queued frames; the reader reports it.
                        self.ports.remove(&conn);
                    }
                }
                Action::Kill { conn, code } => {
                    if let Some(p) = self.ports.remove(&conn) {
                        let _ = p.kill.try_send(code);
                    }
                }
                Action::SpawnAgent(task) => {
                    (self.spawn)(task.future);
                    let now = self.clock.now();
                    self.host
                        .handle_effect_result(now, task.effect, EffectOutcome::Done);
                }
                Action::Authenticate { id, auth, token } => {
                    let tx = self.tx.clone();
                    (self.spawn)(Box::pin(async move {
                        let outcome = blocking::unblock(move || {
                            arcp_host::server::effect_outcome(&*auth, &token)
                        })
                        .await;
                        let _ = tx.send(Input::EffectResult { id, outcome }).await;
                    }));
                }
                Action::Store(batch) => {
                    if let Some((t, _)) = &self.store {
                        t.send(batch);
                    }
                }
            }
        }
    }

    /// Queues `out` on `conn`'s writer without waiting; `true` when queued. A full queue
    /// hands `out` back to the host (the connection stalls until its writer wakes the
    /// driver); a writer that is gone is reported lost.
    fn send(&mut self, conn: ConnId, out: Outbound) -> bool {
        let Some(port) = self.ports.get(&conn) else {
            return false;
        };
        let out = match port.out.try_send(out) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => None,
            Err(TrySendError::Full(out)) => {
                // Flag first, then look again: either the retry finds room, or the queue is
                // still full and the writer sees the flag when it takes its next item.
                port.stalled.store(true, Ordering::SeqCst);
                match port.out.try_send(out) {
                    Ok(()) => return true,
                    Err(TrySendError::Closed(_)) => None,
                    Err(TrySendError::Full(out)) => Some(out),
                }
            }
        };
        let now = self.clock.now();
        match out {
            Some(out) => self.host.handle_writer_full(now, conn, out),
            None => self.host.handle_writer_lost(now, conn),
        }
        false
    }

    /// Cancels every agent, closes every connection (1000, where there is room) and waits
    /// for the store to commit what is pending.
    async fn shutdown(&mut self) {
        self.closing = true;
        self.host.handle_shutdown(self.clock.now());
        loop {
            self.drain();
            let Some((_, rx)) = self.store.as_ref().filter(|_| self.host.store_inflight()) else {
                return;
            };
            match rx.recv().await {
                Ok(done) => self.host.handle_store_done(self.clock.now(), done),
                Err(_) => return,
            }
        }
    }
}
