//! The ONE task that owns the runtime, inside an [`arcp_host::server::ServerHost`] (the
//! driving contract, the effect dispatch, the connection set). This file is the tokio part,
//! IO only: the wait (`tokio::select!` over the input queue, the store thread's completions,
//! the shutdown request and the core's deadline), performing the host's actions (the writer
//! queues with their bounded wait when full, spawning agent tasks, authentications on
//! `spawn_blocking`, the store thread), and the clock.

use arcp_agents::SystemClock;
use arcp_host::server::{
    Action, AgentLink, BoxFuture, Built, Completion, MetricsHandle, ServerHost, StoreThread,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{ConnId, EffectOutcome};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: mpsc::Sender<Outbound>,
    /// Immediate close (slow consumer), ahead of anything queued.
    pub(crate) kill: oneshot::Sender<u16>,
}

/// An input to the driver, from connection tasks, agent tasks and authentications.
pub(crate) type Input = arcp_host::server::Input<ConnPorts>;

/// Agent tasks reach the driver over its input queue; they sleep on tokio's timer.
struct Link(mpsc::Sender<Input>);

impl AgentLink for Link {
    fn send(&self, msg: AgentMsg) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.0.send(Input::Agent(msg)).await.is_ok() })
    }

    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Everything the driver task owns.
pub(crate) struct Driver {
    host: ServerHost,
    ports: HashMap<ConnId, ConnPorts>,
    clock: SystemClock,
    tx: mpsc::Sender<Input>,
    rx: mpsc::Receiver<Input>,
    shutdown: mpsc::Receiver<oneshot::Sender<()>>,
    store: Option<(StoreThread, mpsc::Receiver<Completion>)>,
    /// How long a full writer queue may hold the driver before the connection is dropped
    /// as a slow consumer.
    send_timeout: Duration,
    /// Shutting down.
    closing: bool,
}

enum Step {
    Input(Option<Input>),
    Store(Completion),
    Shutdown(oneshot::Sender<()>),
    Timeout,
}

/// The driver's queues, for [`Driver::new`].
pub(crate) struct Queues {
    pub(crate) tx: mpsc::Sender<Input>,
    pub(crate) rx: mpsc::Receiver<Input>,
    pub(crate) shutdown: mpsc::Receiver<oneshot::Sender<()>>,
}

impl Driver {
    /// The driver of `built`; with a store, its thread is started here.
    pub(crate) fn new(
        built: Built,
        clock: SystemClock,
        q: Queues,
        credentials: bool,
        send_timeout: Duration,
    ) -> std::io::Result<(Self, MetricsHandle)> {
        let link = Arc::new(Link(q.tx.clone()));
        let entropy = Box::new(arcp_agents::OsEntropy);
        let (host, db) = ServerHost::new(clock.now(), built, link, credentials, entropy);
        let store = match db {
            Some(db) => {
                let limit = host.runtime().config().bounds.max_ring_events;
                let (done_tx, done_rx) = mpsc::channel(1);
                let t = StoreThread::spawn(db, limit, move |c| done_tx.blocking_send(c).is_ok())?;
                Some((t, done_rx))
            }
            None => None,
        };
        let metrics = host.metrics();
        let driver = Driver {
            host,
            ports: HashMap::new(),
            clock,
            tx: q.tx,
            rx: q.rx,
            shutdown: q.shutdown,
            store,
            send_timeout,
            closing: false,
        };
        Ok((driver, metrics))
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) async fn run(mut self) {
        // Whatever `restore` queued (the "runtime restarted" terminals, revocations).
        self.drain().await;
        loop {
            match self.wait().await {
                Step::Store(done) => self.host.handle_store_done(self.clock.now(), done),
                Step::Input(Some(i)) => {
                    if let Input::Closed { conn } = &i {
                        // Dropping the writer's queue ends it (and sends a close reply).
                        self.ports.remove(conn);
                    }
                    if let Some((conn, ports)) = self.host.handle_input(self.clock.now(), i) {
                        self.ports.insert(conn, ports);
                    }
                }
                Step::Input(None) => return,
                Step::Shutdown(done) => {
                    self.shutdown().await;
                    let _ = done.send(());
                    return;
                }
                Step::Timeout => {}
            }
            self.drain().await;
            // On wake, re-read the clock; an expired deadline is its own input.
            if self.host.handle_timeout(self.clock.now()) {
                self.drain().await;
            }
        }
    }

    /// Sleeps until the earliest of a store completion, an input, a shutdown request, the
    /// deadline.
    async fn wait(&mut self) -> Step {
        let deadline = self.host.poll_timeout().map(|d| self.clock.deadline(d));
        let inflight = self.host.store_inflight();
        let Driver {
            rx,
            shutdown,
            store,
            ..
        } = self;
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        let store = async {
            match store.as_mut() {
                Some((_, s)) if inflight => s.recv().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some(done) = store => Step::Store(done),
            i = rx.recv() => Step::Input(i),
            Some(done) = shutdown.recv() => Step::Shutdown(done),
            () = sleep => Step::Timeout,
        }
    }

    /// Performs every action the host hands back.
    async fn drain(&mut self) {
        while let Some(action) = self.host.poll_action() {
            match action {
                Action::Transmit { conn, bytes } => {
                    self.send(conn, Outbound::Frame(bytes)).await;
                }
                Action::Close { conn, code } if self.closing => {
                    // Shutting down: a close is queued only where there is room.
                    if let Some(p) = self.ports.remove(&conn) {
                        let _ = p.out.try_send(Outbound::Close(code));
                    }
                }
                Action::Close { conn, code } => {
                    if self.send(conn, Outbound::Close(code)).await {
                        // The writer closes after the queued frames; the reader reports it.
                        self.ports.remove(&conn);
                    }
                }
                Action::Kill { conn, code } => {
                    if let Some(p) = self.ports.remove(&conn) {
                        let _ = p.kill.send(code);
                    }
                }
                Action::SpawnAgent(task) => {
                    tokio::spawn(task.future);
                    let now = self.clock.now();
                    self.host
                        .handle_effect_result(now, task.effect, EffectOutcome::Done);
                }
                Action::Authenticate { id, auth, token } => {
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let outcome = tokio::task::spawn_blocking(move || {
                            arcp_host::server::effect_outcome(&*auth, &token)
                        })
                        .await
                        .unwrap_or_else(|_| EffectOutcome::Failed {
                            message: "authentication failed".into(),
                        });
                        let _ = tx.send(Input::EffectResult { id, outcome }).await;
                    });
                }
                Action::Store(batch) => {
                    if let Some((t, _)) = &self.store {
                        t.send(batch);
                    }
                }
            }
        }
    }

    /// Queues `out` on `conn`'s writer; a full queue is waited on for at most
    /// `send_timeout`. `true` when queued.
    async fn send(&mut self, conn: ConnId, out: Outbound) -> bool {
        let Some(port) = self.ports.get(&conn) else {
            return false;
        };
        match port.out.try_send(out) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(out)) => {
                self.host.handle_writer_full(conn);
                let tx = port.out.clone();
                if let Ok(Ok(())) = tokio::time::timeout(self.send_timeout, tx.send(out)).await {
                    self.host.handle_writer_ready(conn);
                    return true;
                }
            }
        }
        self.host.handle_writer_lost(self.clock.now(), conn);
        false
    }

    /// Cancels every agent, closes every connection (1000, where there is room) and waits
    /// for the store to commit what is pending.
    async fn shutdown(&mut self) {
        self.closing = true;
        self.host.handle_shutdown(self.clock.now());
        loop {
            self.drain().await;
            let Some((_, rx)) = self.store.as_mut().filter(|_| self.host.store_inflight()) else {
                return;
            };
            match rx.recv().await {
                Some(done) => self.host.handle_store_done(self.clock.now(), done),
                None => return,
            }
        }
    }
}
