//! The ONE thread that owns the runtime (inside an [`arcp_host::server::ServerHost`], which
//! holds the driving contract, the effect dispatch and the connection table). This file is
//! the threads part: the wait (`recv_timeout` on the input queue, derived from
//! `poll_timeout`), the bounded wait on a full writer queue, the SQLite batch of each drain
//! pass committed on this thread, agents and authentications on their own threads.

use arcp_host::server::{
    AgentLink, AgentTask, Authenticator, Batch, BoxFuture, Built, Clock, Delivery, HostIo,
    MetricsHandle, ServerHost, Stored, run_batch,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{EffectId, EffectOutcome};
use arcp_sqlite::SqliteStore;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: SyncSender<Outbound>,
    /// The socket, shut down at once for a slow consumer (`None` for stdio).
    pub(crate) tcp: Option<TcpStream>,
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

struct Io {
    tx: SyncSender<Input>,
    store: Option<(SqliteStore, usize)>,
    /// How long a full writer queue may hold the driver before the connection is dropped.
    send_timeout: Duration,
}

impl HostIo<ConnPorts> for Io {
    /// The bounded wait happens inside `send`.
    type Wait = std::convert::Infallible;

    fn send(&mut self, port: &ConnPorts, out: Outbound) -> Delivery<Self::Wait> {
        let deadline = std::time::Instant::now() + self.send_timeout;
        let mut out = out;
        loop {
            match port.out.try_send(out) {
                Ok(()) => return Delivery::Queued,
                Err(TrySendError::Disconnected(_)) => return Delivery::Closed,
                Err(TrySendError::Full(o)) => {
                    if std::time::Instant::now() >= deadline {
                        // A slow consumer: the host kills it and reports it lost.
                        return Delivery::Closed;
                    }
                    out = o;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    fn kill(&mut self, port: ConnPorts, _code: u16) {
        if let Some(tcp) = &port.tcp {
            let _ = tcp.shutdown(Shutdown::Both);
        }
    }

    fn close(&mut self, port: ConnPorts, code: u16) {
        let _ = port.out.try_send(Outbound::Close(code));
    }

    fn spawn_agent(&mut self, task: AgentTask) -> Result<(), String> {
        std::thread::Builder::new()
            .name(format!("arcp-agent-{}", task.job_id))
            .spawn(move || crate::exec::block_on(task.future))
            .map(drop)
            .map_err(|e| format!("cannot start the agent thread: {e}"))
    }

    fn authenticate(
        &mut self,
        id: EffectId,
        auth: Arc<dyn Authenticator>,
        token: String,
    ) -> Option<EffectOutcome> {
        let tx = self.tx.clone();
        let a = auth.clone();
        let t = token.clone();
        let spawned = std::thread::Builder::new()
            .name("arcp-auth".into())
            .spawn(move || {
                let outcome = arcp_host::server::effect_outcome(&*a, &t);
                let _ = tx.send(Input::EffectResult { id, outcome });
            });
        // No thread to be had: answer on the driver.
        match spawned {
            Ok(_) => None,
            Err(_) => Some(arcp_host::server::effect_outcome(&*auth, &token)),
        }
    }

    fn store(&mut self, batch: Batch) -> Stored {
        match &mut self.store {
            Some((db, limit)) => Stored::Done(run_batch(db, batch, *limit)),
            None => Stored::Busy(batch),
        }
    }
}

/// Everything the driver thread owns.
pub(crate) struct Driver {
    host: ServerHost<ConnPorts>,
    io: Io,
    clock: Clock,
    rx: Receiver<Input>,
    shutdown: Receiver<SyncSender<()>>,
}

impl Driver {
    /// The driver of `built`; `shutdown` is checked whenever the driver wakes (the handle
    /// sends [`Input::Wake`] after its request).
    pub(crate) fn new(
        built: Built,
        clock: Clock,
        (tx, rx, shutdown): (SyncSender<Input>, Receiver<Input>, Receiver<SyncSender<()>>),
        credentials: bool,
        send_timeout: Duration,
    ) -> (Self, MetricsHandle) {
        let (host, db) = ServerHost::new(built, Arc::new(Link(tx.clone())), credentials);
        let limit = host.runtime().config().bounds.max_ring_events;
        let metrics = host.metrics();
        let io = Io {
            tx,
            store: db.map(|db| (db, limit)),
            send_timeout,
        };
        let driver = Driver {
            host,
            io,
            clock,
            rx,
            shutdown,
        };
        (driver, metrics)
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) fn run(mut self) {
        self.host.drain(&mut self.io);
        loop {
            if !self.host.feed_ready(self.clock.now()) {
                // The read timeout is derived from `poll_timeout`.
                let got = match self.host.poll_timeout() {
                    Some(d) => self.rx.recv_timeout(self.clock.until(d)),
                    None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match got {
                    Ok(i) => self.host.feed(self.clock.now(), i),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                if let Ok(done) = self.shutdown.try_recv() {
                    // Cancels every agent, closes every connection (1000), commits the batch.
                    self.host.shutdown(&mut self.io);
                    let _ = done.send(());
                    return;
                }
            }
            self.host.drain(&mut self.io);
            if self.host.fire_timeout(self.clock.now()) {
                self.host.drain(&mut self.io);
            }
        }
    }
}
