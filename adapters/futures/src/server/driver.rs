//! The ONE task that owns the runtime (inside an [`arcp_host::server::ServerHost`], which
//! holds the driving contract, the effect dispatch and the connection table). This file is
//! the futures part: the wait (`select_biased!` over the input queue, the store thread's
//! completions, the shutdown request and an `async_io::Timer` at the core's deadline), the
//! bounded wait on a full writer queue, and spawning (agent tasks on the application's
//! [`Spawner`], authentications on the `blocking` crate's thread pool).

use super::Spawner;
use arcp_host::server::{
    AgentLink, AgentTask, Authenticator, Batch, BoxFuture, Built, Clock, Completion, Delivery,
    Drain, HostIo, MetricsHandle, ServerHost, StoreThread, Stored,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{EffectId, EffectOutcome};
use async_channel::{Receiver, Sender, TrySendError};
use futures_util::{FutureExt, select_biased};
use std::sync::Arc;
use std::time::Duration;

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: Sender<Outbound>,
    /// Immediate close (slow consumer), ahead of anything queued (capacity 1).
    pub(crate) kill: Sender<u16>,
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

struct Io {
    tx: Sender<Input>,
    spawn: Spawner,
    store: Option<StoreThread>,
}

impl HostIo<ConnPorts> for Io {
    type Wait = (Sender<Outbound>, Outbound);

    fn send(&mut self, port: &ConnPorts, out: Outbound) -> Delivery<Self::Wait> {
        match port.out.try_send(out) {
            Ok(()) => Delivery::Queued,
            Err(TrySendError::Closed(_)) => Delivery::Closed,
            Err(TrySendError::Full(out)) => Delivery::Full((port.out.clone(), out)),
        }
    }

    fn kill(&mut self, port: ConnPorts, code: u16) {
        let _ = port.kill.try_send(code);
    }

    fn close(&mut self, port: ConnPorts, code: u16) {
        let _ = port.out.try_send(Outbound::Close(code));
    }

    fn spawn_agent(&mut self, task: AgentTask) -> Result<(), String> {
        (self.spawn)(task.future);
        Ok(())
    }

    fn authenticate(
        &mut self,
        id: EffectId,
        auth: Arc<dyn Authenticator>,
        token: String,
    ) -> Option<EffectOutcome> {
        let tx = self.tx.clone();
        (self.spawn)(Box::pin(async move {
            let outcome =
                blocking::unblock(move || arcp_host::server::effect_outcome(&*auth, &token)).await;
            let _ = tx.send(Input::EffectResult { id, outcome }).await;
        }));
        None
    }

    fn store(&mut self, batch: Batch) -> Stored {
        match &self.store {
            Some(s) => s.send(batch),
            None => Stored::Busy(batch),
        }
    }
}

enum Step {
    Input(Option<Input>),
    Store(Option<Completion>),
    Shutdown(Sender<()>),
    Timeout,
}

/// Everything the driver task owns.
pub(crate) struct Driver {
    host: ServerHost<ConnPorts>,
    io: Io,
    clock: Clock,
    rx: Receiver<Input>,
    shutdown: Receiver<Sender<()>>,
    store_done: Option<Receiver<Completion>>,
    send_timeout: Duration,
}

impl Driver {
    /// The driver of `built`; with a store, its thread is started here.
    pub(crate) fn new(
        built: Built,
        clock: Clock,
        (tx, rx, shutdown): (Sender<Input>, Receiver<Input>, Receiver<Sender<()>>),
        spawn: Spawner,
        credentials: bool,
        send_timeout: Duration,
    ) -> std::io::Result<(Self, MetricsHandle)> {
        let (host, db) = ServerHost::new(built, Arc::new(Link(tx.clone())), credentials);
        let (store, store_done) = match db {
            Some(db) => {
                let limit = host.runtime().config().bounds.max_ring_events;
                let (done_tx, done_rx) = async_channel::bounded(1);
                let t = StoreThread::spawn(db, limit, move |c| done_tx.send_blocking(c).is_ok())?;
                (Some(t), Some(done_rx))
            }
            None => (None, None),
        };
        let metrics = host.metrics();
        let io = Io { tx, spawn, store };
        let driver = Driver {
            host,
            io,
            clock,
            rx,
            shutdown,
            store_done,
            send_timeout,
        };
        Ok((driver, metrics))
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) async fn run(mut self) {
        self.drain().await;
        loop {
            if !self.host.feed_ready(self.clock.now()) {
                match self.wait().await {
                    Step::Store(done) => self.host.store_done(done.unwrap_or_default()),
                    Step::Input(Some(i)) => self.host.feed(self.clock.now(), i),
                    Step::Input(None) => return,
                    Step::Shutdown(done) => {
                        self.shutdown().await;
                        let _ = done.try_send(());
                        return;
                    }
                    Step::Timeout => {}
                }
            }
            self.drain().await;
            if self.host.fire_timeout(self.clock.now()) {
                self.drain().await;
            }
        }
    }

    /// Sleeps until the earliest of a store completion, an input, a shutdown request, the
    /// deadline.
    async fn wait(&mut self) -> Step {
        let deadline = self.host.poll_timeout().map(|d| self.clock.deadline(d));
        let store = self
            .store_done
            .as_ref()
            .filter(|_| self.host.store_inflight())
            .cloned();
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

    /// Drains; a full writer queue is waited on for at most `send_timeout`.
    async fn drain(&mut self) {
        while let Drain::Blocked {
            wait: (tx, out), ..
        } = self.host.drain(&mut self.io)
        {
            let timer = async_io::Timer::after(self.send_timeout);
            let sent = select_biased! {
                r = tx.send(out).fuse() => r.is_ok(),
                _ = FutureExt::fuse(timer) => false,
            };
            self.host.unblocked(&mut self.io, sent);
        }
    }

    /// Cancels every agent, closes every connection (1000) and waits for the store to
    /// commit what is pending.
    async fn shutdown(&mut self) {
        self.host.shutdown(&mut self.io);
        while self.host.store_inflight() {
            let Some(rx) = &self.store_done else {
                break;
            };
            match rx.recv().await {
                Ok(done) => {
                    self.host.store_done(done);
                    self.host.flush(&mut self.io);
                }
                Err(_) => break,
            }
        }
    }
}
