//! The ONE task that owns the runtime (inside an [`arcp_host::server::ServerHost`], which
//! holds the driving contract, the effect dispatch and the connection table). This file is
//! the tokio part: the wait (`tokio::select!` over the input queue, the store thread's
//! completions, the shutdown request and the core's deadline), the bounded wait on a full
//! writer queue, and spawning (agent tasks, authentications on `spawn_blocking`).

use arcp_host::server::{
    AgentLink, AgentTask, Authenticator, BoxFuture, Clock, Completion, Delivery, Drain, HostIo,
    ServerHost, StoreThread, Stored,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{EffectId, EffectOutcome};
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

/// The tokio side of the host's IO.
struct Io {
    tx: mpsc::Sender<Input>,
    store: Option<StoreThread>,
}

impl HostIo<ConnPorts> for Io {
    type Wait = (mpsc::Sender<Outbound>, Outbound);

    fn send(&mut self, port: &ConnPorts, out: Outbound) -> Delivery<Self::Wait> {
        match port.out.try_send(out) {
            Ok(()) => Delivery::Queued,
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Closed,
            Err(mpsc::error::TrySendError::Full(out)) => Delivery::Full((port.out.clone(), out)),
        }
    }

    fn kill(&mut self, port: ConnPorts, code: u16) {
        let _ = port.kill.send(code);
    }

    fn close(&mut self, port: ConnPorts, code: u16) {
        let _ = port.out.try_send(Outbound::Close(code));
    }

    fn spawn_agent(&mut self, task: AgentTask) -> Result<(), String> {
        tokio::spawn(task.future);
        Ok(())
    }

    fn authenticate(
        &mut self,
        id: EffectId,
        auth: Arc<dyn Authenticator>,
        token: String,
    ) -> Option<EffectOutcome> {
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
        None
    }

    fn store(&mut self, batch: arcp_host::server::Batch) -> Stored {
        match &self.store {
            Some(s) => s.send(batch),
            None => Stored::Busy(batch),
        }
    }
}

/// Everything the driver task owns.
pub(crate) struct Driver {
    host: ServerHost<ConnPorts>,
    io: Io,
    clock: Clock,
    rx: mpsc::Receiver<Input>,
    shutdown: mpsc::Receiver<oneshot::Sender<()>>,
    store_done: Option<mpsc::Receiver<Completion>>,
    /// How long a full writer queue may hold the driver before the connection is dropped
    /// as a slow consumer.
    send_timeout: Duration,
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
        built: arcp_host::server::Built,
        clock: Clock,
        q: Queues,
        credentials: bool,
        send_timeout: Duration,
    ) -> std::io::Result<(Self, arcp_host::server::MetricsHandle)> {
        let (host, db) = ServerHost::new(built, Arc::new(Link(q.tx.clone())), credentials);
        let (store, store_done) = match db {
            Some(db) => {
                let limit = host.runtime().config().bounds.max_ring_events;
                let (done_tx, done_rx) = mpsc::channel(1);
                let t = StoreThread::spawn(db, limit, move |c| done_tx.blocking_send(c).is_ok())?;
                (Some(t), Some(done_rx))
            }
            None => (None, None),
        };
        let metrics = host.metrics();
        let driver = Driver {
            host,
            io: Io { tx: q.tx, store },
            clock,
            rx: q.rx,
            shutdown: q.shutdown,
            store_done,
            send_timeout,
        };
        Ok((driver, metrics))
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) async fn run(mut self) {
        // Whatever `restore` queued (the "runtime restarted" terminals, revocations).
        self.drain().await;
        loop {
            if !self.host.feed_ready(self.clock.now()) {
                match self.wait().await {
                    Step::Store(done) => self.host.store_done(done),
                    Step::Input(Some(i)) => self.host.feed(self.clock.now(), i),
                    Step::Input(None) => return,
                    Step::Shutdown(done) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Step::Timeout => {}
                }
            }
            self.drain().await;
            // On wake, re-read the clock; an expired deadline is its own input.
            if self.host.fire_timeout(self.clock.now()) {
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
            store_done,
            ..
        } = self;
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                None => std::future::pending().await,
            }
        };
        let store = async {
            match store_done.as_mut() {
                Some(s) if inflight => s.recv().await,
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

    /// Drains; a full writer queue is waited on for at most `send_timeout`.
    async fn drain(&mut self) {
        while let Drain::Blocked {
            wait: (tx, out), ..
        } = self.host.drain(&mut self.io)
        {
            let sent = tokio::time::timeout(self.send_timeout, tx.send(out)).await;
            self.host
                .unblocked(&mut self.io, matches!(sent, Ok(Ok(()))));
        }
    }

    /// Cancels every agent, closes every connection (1000) and waits for the store to
    /// commit what is pending.
    async fn shutdown(&mut self) {
        self.host.shutdown(&mut self.io);
        while self.host.store_inflight() {
            let Some(rx) = &mut self.store_done else {
                break;
            };
            match rx.recv().await {
                Some(done) => {
                    self.host.store_done(done);
                    self.host.flush(&mut self.io);
                }
                None => break,
            }
        }
    }
}
