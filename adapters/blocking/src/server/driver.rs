//! The ONE thread that owns the runtime, inside an [`arcp_host::server::ServerHost`] (the
//! driving contract, the effect dispatch, the connection set). This file is the threads
//! part, IO only: the wait (`recv_timeout` on the input queue, derived from `poll_timeout`),
//! performing the host's actions (the writer queues, never waited on: a full one is handed
//! back to the host and its writer wakes the driver once it has room; the SQLite batch committed on this thread, agents and authentications on their own threads),
//! and the clock.

use arcp_agents::SystemClock;
use arcp_host::server::{
    Action, AgentLink, BoxFuture, Built, ClusterThread, MetricsHandle, ServerHost, Store,
    effect_outcome, run_batch,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{ConnId, EffectOutcome};
use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: SyncSender<Outbound>,
    /// The socket, shut down at once for a slow consumer (`None` for stdio).
    pub(crate) tcp: Option<TcpStream>,
    /// Set when `out` was found full: the writer then wakes the driver (see [`Wake`]).
    pub(crate) stalled: Arc<AtomicBool>,
}

/// The writer's end of a stall: after taking each item, the writer of a connection whose
/// queue the driver found full wakes the driver ([`Input::WriterReady`]) once.
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    conn: ConnId,
    stalled: Arc<AtomicBool>,
    tx: SyncSender<Input>,
}

impl Wake {
    /// The wake of `conn`'s writer and the flag its [`ConnPorts`] share.
    pub(crate) fn new(conn: ConnId, tx: SyncSender<Input>) -> (Self, Arc<AtomicBool>) {
        let stalled = Arc::new(AtomicBool::new(false));
        let wake = Wake {
            conn,
            stalled: stalled.clone(),
            tx,
        };
        (wake, stalled)
    }

    /// The writer took an item: wakes the driver when it found the queue full.
    pub(crate) fn took(&self) {
        if self.stalled.load(Ordering::SeqCst) && self.stalled.swap(false, Ordering::SeqCst) {
            let _ = self.tx.send(Input::WriterReady { conn: self.conn });
        }
    }
}

/// An input to the driver, from connection threads, agent threads and authentications.
pub(crate) type Input = arcp_host::server::Input<ConnPorts>;

/// Agent threads reach the driver over its input queue (blocking while it is full).
struct Link(SyncSender<Input>);

impl AgentLink for Link {
    fn send(&self, msg: AgentMsg) -> BoxFuture<'_, bool> {
        // The round trip happens when the future is first polled, as with an async host.
        Box::pin(async move { self.0.send(Input::Agent(msg)).is_ok() })
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(crate::exec::sleep(d))
    }
}

/// Everything the driver thread owns.
pub(crate) struct Driver {
    host: ServerHost,
    ports: HashMap<ConnId, ConnPorts>,
    clock: SystemClock,
    tx: SyncSender<Input>,
    rx: Receiver<Input>,
    shutdown: Receiver<SyncSender<()>>,
    store: Option<(Box<dyn Store>, usize)>,
    /// Shutting down.
    closing: bool,
}

impl Driver {
    /// The driver of `built`; `shutdown` is checked whenever the driver wakes (the handle
    /// sends [`Input::Wake`] after its request).
    pub(crate) fn new(
        built: Built,
        clock: SystemClock,
        (tx, rx, shutdown): (SyncSender<Input>, Receiver<Input>, Receiver<SyncSender<()>>),
        credentials: bool,
    ) -> std::io::Result<(Self, MetricsHandle)> {
        let link = Arc::new(Link(tx.clone()));
        let entropy = Box::new(arcp_agents::OsEntropy);
        let (mut host, db) = ServerHost::new(clock.now(), built, link, credentials, entropy);
        if let Some(watch) = host.take_cluster_watch() {
            let deliver = tx.clone();
            // A probe: the driver's queue is gone once sending `Wake` fails (a full queue
            // means it is alive).
            let probe = tx.clone();
            ClusterThread::spawn(
                watch,
                move |events| deliver.send(Input::Cluster(events)).is_ok(),
                move || {
                    !matches!(
                        probe.try_send(Input::Wake),
                        Err(TrySendError::Disconnected(_))
                    )
                },
            )?;
        }
        let limit = host.runtime().config().bounds.max_ring_events;
        let metrics = host.metrics();
        let driver = Driver {
            host,
            ports: HashMap::new(),
            clock,
            tx,
            rx,
            shutdown,
            store: db.map(|db| (db, limit)),
            closing: false,
        };
        Ok((driver, metrics))
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) fn run(mut self) {
        self.drain();
        loop {
            // The read timeout is derived from `poll_timeout`.
            let got = match self.host.poll_timeout() {
                Some(d) => self.rx.recv_timeout(self.clock.until(d)),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(i) => {
                    if let Input::Closed { conn } = &i {
                        // Dropping the writer's queue ends its thread.
                        self.ports.remove(conn);
                    }
                    if let Some((conn, ports)) = self.host.handle_input(self.clock.now(), i) {
                        self.ports.insert(conn, ports);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if let Ok(done) = self.shutdown.try_recv() {
                self.shutdown();
                let _ = done.send(());
                return;
            }
            self.drain();
            if self.host.handle_timeout(self.clock.now()) {
                self.drain();
            }
        }
    }

    /// Performs every action the host hands back.
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
                Action::Kill { conn, .. } => {
                    if let Some(tcp) = self.ports.remove(&conn).and_then(|p| p.tcp) {
                        let _ = tcp.shutdown(Shutdown::Both);
                    }
                }
                Action::SpawnAgent(task) => {
                    let effect = task.effect;
                    let spawned = std::thread::Builder::new()
                        .name(format!("arcp-agent-{}", task.job_id))
                        .spawn(move || crate::exec::block_on(task.future));
                    let outcome = match spawned {
                        Ok(_) => EffectOutcome::Done,
                        Err(e) => EffectOutcome::Failed {
                            message: format!("cannot start the agent thread: {e}"),
                        },
                    };
                    self.host
                        .handle_effect_result(self.clock.now(), effect, outcome);
                }
                Action::Authenticate { id, auth, token } => self.authenticate(id, auth, token),
                Action::Store(batch) => {
                    if let Some((db, limit)) = &mut self.store {
                        let done = run_batch(&mut **db, batch, *limit);
                        self.host.handle_store_done(self.clock.now(), done);
                    }
                }
            }
        }
    }

    /// Runs the authenticator on its own thread (its answer comes back as an input), or on
    /// the driver when no thread is to be had.
    fn authenticate(
        &mut self,
        id: arcp_proto::runtime::EffectId,
        auth: Arc<dyn arcp_host::server::Authenticator>,
        token: String,
    ) {
        let tx = self.tx.clone();
        let (a, t) = (auth.clone(), token.clone());
        let spawned = std::thread::Builder::new()
            .name("arcp-auth".into())
            .spawn(move || {
                let outcome = effect_outcome(&*a, &t);
                let _ = tx.send(Input::EffectResult { id, outcome });
            });
        if spawned.is_err() {
            let outcome = effect_outcome(&*auth, &token);
            self.host
                .handle_effect_result(self.clock.now(), id, outcome);
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
            Err(TrySendError::Disconnected(_)) => None,
            Err(TrySendError::Full(out)) => {
                // Flag first, then look again: either the retry finds room, or the queue is
                // still full and the writer sees the flag when it takes its next item.
                port.stalled.store(true, Ordering::SeqCst);
                match port.out.try_send(out) {
                    Ok(()) => return true,
                    Err(TrySendError::Disconnected(_)) => None,
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

    /// Cancels every agent, closes every connection (1000, where there is room) and commits
    /// the pending batch.
    fn shutdown(&mut self) {
        self.closing = true;
        self.host.handle_shutdown(self.clock.now());
        self.drain();
    }
}
