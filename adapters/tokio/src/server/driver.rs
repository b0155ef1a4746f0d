//! The ONE task that owns the runtime, inside an [`arcp_host::server::ServerHost`] (the
//! driving contract, the effect dispatch, the connection set). This file is the tokio part,
//! IO only: the wait (`tokio::select!` over the input queue, the store thread's completions,
//! the shutdown request and the core's deadline), performing the host's actions (the writer
//! queues with their bounded wait when full, spawning agent tasks, authentications on
//! `spawn_blocking`, the store thread), and the clock.

use super::spin;
use arcp_agents::SystemClock;
use arcp_host::server::{
    Action, AgentLink, AgentTask, BoxFuture, Built, ClusterThread, Completion, MetricsHandle,
    ServerHost, StoreThread,
};
pub(crate) use arcp_host::server::{AgentMsg, Outbound};
use arcp_proto::runtime::{ConnId, EffectOutcome};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a shutdown waits for the writers to send their close frames.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// The most queued inputs fed after a wake-up before the driver looks at its store
/// completions, shutdown requests and deadlines again.
const INPUT_BATCH: usize = 64;

/// The most transmits and closes [`Driver::drain`] holds back before handing them to the
/// writers (so that the agents a pass starts are spawned before any writer wakes).
const DRAIN_AHEAD: usize = 16;

/// A request to stop the driver, from the server handle.
#[derive(Debug)]
pub(crate) struct Stop {
    /// `None`: shut down now (closes 1000). `Some(until)`: drain — keep serving until no job
    /// runs (or `until`), then close every connection 1001.
    pub(crate) drain: Option<tokio::time::Instant>,
    /// Answered once the driver has stopped (closes queued, the store committed).
    pub(crate) done: oneshot::Sender<()>,
}

/// The driver's view of a live connection.
#[derive(Debug)]
pub(crate) struct ConnPorts {
    /// In-order frames and the final close (bounded).
    pub(crate) out: mpsc::Sender<Outbound>,
    /// Immediate close (slow consumer), ahead of anything queued.
    pub(crate) kill: oneshot::Sender<u16>,
    /// Set when `out` was found full: the writer then wakes the driver (see [`Wake`]).
    pub(crate) stalled: Arc<Stalled>,
}

/// How long after its queue was found full a writer that takes an item wakes the driver
/// even though the queue is still more than half full: a slow consumer's progress reaches
/// the host well before its cut (`slow_consumer_timeout`, seconds).
const STALL_WAKE: Duration = Duration::from_millis(20);

/// A connection's stall, shared by the driver (which found its writer queue full) and the
/// writer (which wakes the driver).
#[derive(Debug)]
pub(crate) struct Stalled {
    flag: AtomicBool,
    /// When the driver found the queue full: microseconds since `origin`.
    since_us: AtomicU64,
    origin: std::time::Instant,
}

impl Stalled {
    /// The driver found the queue full.
    pub(crate) fn set(&self) {
        let us = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.since_us.store(us, Ordering::SeqCst);
        self.flag.store(true, Ordering::SeqCst);
    }
}

/// The writer's end of a stall: after taking an item, the writer of a connection whose
/// queue the driver found full wakes the driver ([`Input::WriterReady`]) once, when the
/// queue is at most half full again or [`STALL_WAKE`] after the stall. (Woken at its first
/// item, the driver would refill that one slot, find the queue full again, and set aside
/// and take back the connection's pending frames once per item.)
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    conn: ConnId,
    stalled: Arc<Stalled>,
    tx: mpsc::Sender<Input>,
}

impl Wake {
    /// The wake of `conn`'s writer and the stall its [`ConnPorts`] share.
    pub(crate) fn new(conn: ConnId, tx: mpsc::Sender<Input>) -> (Self, Arc<Stalled>) {
        let stalled = Arc::new(Stalled {
            flag: AtomicBool::new(false),
            since_us: AtomicU64::new(0),
            origin: std::time::Instant::now(),
        });
        let wake = Wake {
            conn,
            stalled: stalled.clone(),
            tx,
        };
        (wake, stalled)
    }

    /// The writer took an item and `queued` of `capacity` are left: wakes the driver when
    /// it found the queue full (see [`Wake`]).
    pub(crate) async fn took(&self, queued: usize, capacity: usize) {
        let s = &*self.stalled;
        if !s.flag.load(Ordering::SeqCst) {
            return;
        }
        if queued > capacity / 2 {
            let since = Duration::from_micros(s.since_us.load(Ordering::SeqCst));
            if s.origin.elapsed().saturating_sub(since) < STALL_WAKE {
                return;
            }
        }
        if s.flag.swap(false, Ordering::SeqCst) {
            // Boxed: the rare path's send (an `Input` and the queue's permit) would otherwise
            // size every connection's writer task.
            let _ = Box::pin(self.tx.send(Input::WriterReady { conn: self.conn })).await;
        }
    }
}

/// An input to the driver, from connection tasks, agent tasks and authentications.
pub(crate) type Input = arcp_host::server::Input<ConnPorts>;

/// Agent tasks reach the driver over its input queue; they sleep on tokio's timer.
struct Link(mpsc::Sender<Input>);

impl AgentLink for Link {
    fn send(&self, msg: AgentMsg) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.0.send(Input::Agent(msg)).await.is_ok() })
    }

    // The message comes back by value (see the trait).
    #[allow(clippy::result_large_err)]
    fn try_send(&self, msg: AgentMsg) -> Result<(), AgentMsg> {
        match self.0.try_reserve() {
            Ok(permit) => {
                permit.send(Input::Agent(msg));
                Ok(())
            }
            Err(_) => Err(msg),
        }
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
    shutdown: mpsc::Receiver<Stop>,
    /// Draining: until when, and who waits for the end.
    draining: Option<(tokio::time::Instant, oneshot::Sender<()>)>,
    store: Option<(StoreThread, mpsc::Receiver<Completion>)>,
    /// Shutting down.
    closing: bool,
    /// Shutting down: the writer queues a close was queued on (they end once it is sent).
    closed: Vec<mpsc::Sender<Outbound>>,
    /// The store batch latency (seconds): observed here, the adapter owning the store IO.
    store_latency: prometheus_client::metrics::histogram::Histogram,
    /// When the batch in flight was handed to the store thread.
    store_sent: Option<std::time::Instant>,
    /// The deadline's timer, kept across waits: re-armed only when the deadline moves (a
    /// new `Sleep` per wait registered and dropped a timer entry for every input).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// Transmits and closes [`Self::drain`] holds back (kept to reuse its allocation).
    ahead: Vec<Action>,
    /// The connections whose writer queue was found full in this [`Self::drain`]: their
    /// held-back items go to the host after the refused one, never past it.
    stalled_now: Vec<ConnId>,
    /// How long [`Self::wait`] spins for an input before it sleeps (zero: never).
    idle_spin: Duration,
}

// An input is taken by value: boxing it would cost an allocation per agent event.
#[allow(clippy::large_enum_variant)]
enum Step {
    Input(Option<Input>),
    Store(Completion),
    Shutdown(Stop),
    Timeout,
}

/// The driver's queues, for [`Driver::new`].
pub(crate) struct Queues {
    pub(crate) tx: mpsc::Sender<Input>,
    pub(crate) rx: mpsc::Receiver<Input>,
    pub(crate) shutdown: mpsc::Receiver<Stop>,
}

impl Driver {
    /// The driver of `built`; with a store, its thread is started here.
    pub(crate) fn new(
        built: Built,
        clock: SystemClock,
        q: Queues,
        credentials: bool,
        store_latency: prometheus_client::metrics::histogram::Histogram,
        idle_spin: Duration,
    ) -> std::io::Result<(Self, MetricsHandle, usize)> {
        let link = Arc::new(Link(q.tx.clone()));
        let entropy = Box::new(arcp_agents::OsEntropy);
        let (mut host, db) = ServerHost::new(clock.now(), built, link, credentials, entropy);
        if let Some(watch) = host.take_cluster_watch() {
            let tx = q.tx.clone();
            let alive = q.tx.clone();
            ClusterThread::spawn(
                watch,
                move |events| tx.blocking_send(Input::Cluster(events)).is_ok(),
                move || !alive.is_closed(),
            )?;
        }
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
        let agents = host.runtime().config().agents.len();
        let driver = Driver {
            host,
            ports: HashMap::new(),
            clock,
            tx: q.tx,
            rx: q.rx,
            shutdown: q.shutdown,
            draining: None,
            store,
            closing: false,
            closed: Vec::new(),
            store_latency,
            store_sent: None,
            timer: None,
            ahead: Vec::new(),
            stalled_now: Vec::new(),
            idle_spin,
        };
        Ok((driver, metrics, agents))
    }

    /// Runs until a shutdown request (or every sender is gone).
    pub(crate) async fn run(mut self) {
        // Whatever `restore` queued (the "runtime restarted" terminals, revocations).
        self.drain();
        loop {
            match self.wait().await {
                Step::Store(done) => {
                    self.observe_store_latency();
                    self.host.handle_store_done(self.clock.now(), done)
                }
                Step::Input(Some(i)) => {
                    self.input(i);
                    // The inputs queued meanwhile (an agent's posted events, other
                    // connections' frames): each fed and drained in turn, without a trip
                    // through `wait` between them.
                    let mut more = true;
                    for _ in 0..INPUT_BATCH {
                        self.drain();
                        if self.store_done_waiting() {
                            // The store's completion first (it releases frames and jobs).
                            break;
                        }
                        match self.rx.try_recv() {
                            Ok(i) => self.input(i),
                            Err(_) => {
                                more = false;
                                break;
                            }
                        }
                    }
                    if more {
                        // Still busy after a full batch: the writers woken meanwhile run
                        // first (one woken from here waits in this worker's slot, where no
                        // other worker takes it, until the driver yields); else a stream's
                        // queue fills up and stalls while the driver feeds on.
                        tokio::task::yield_now().await;
                    }
                }
                Step::Input(None) => return,
                Step::Shutdown(Stop { drain: None, done }) => {
                    self.shutdown(1000).await;
                    let _ = done.send(());
                    return;
                }
                Step::Shutdown(Stop {
                    drain: Some(until),
                    done,
                }) => self.draining = Some((until, done)),
                Step::Timeout => {}
            }
            self.drain();
            // On wake, re-read the clock; an expired deadline is its own input.
            if self.host.handle_timeout(self.clock.now()) {
                self.drain();
            }
            if self.drained() {
                self.end_running_jobs().await;
                self.shutdown(1001).await;
                if let Some((_, done)) = self.draining.take() {
                    let _ = done.send(());
                }
                return;
            }
        }
    }

    /// A store batch is out and its completion is waiting to be taken.
    fn store_done_waiting(&self) -> bool {
        self.host.store_inflight() && self.store.as_ref().is_some_and(|(_, rx)| !rx.is_empty())
    }

    /// Feeds one input.
    fn input(&mut self, i: Input) {
        if let Input::Closed { conn } = &i {
            // Dropping the writer's queue ends it (and sends a close reply).
            self.ports.remove(conn);
        }
        if let Some((conn, ports)) = self.host.handle_input(self.clock.now(), i) {
            self.ports.insert(conn, ports);
        }
    }

    /// Draining and done with it: nothing runs any more (no agent, no held job, no stalled
    /// writer, no store batch out), or the grace is over.
    fn drained(&self) -> bool {
        let Some((until, _)) = &self.draining else {
            return false;
        };
        let h = &self.host;
        let idle = h.agents_running() == 0
            && h.jobs_waiting() == 0
            && h.writers_full() == 0
            && !h.store_inflight();
        idle || tokio::time::Instant::now() >= *until
    }

    /// Sleeps until the earliest of a store completion, an input, a shutdown request, the
    /// deadline.
    async fn wait(&mut self) -> Step {
        let inflight = self.host.store_inflight();
        // Spin first (see `spin`), unless a store batch is out: then the store thread is what
        // the driver waits for, and it needs the CPU the spin would take.
        if !self.idle_spin.is_zero()
            && !inflight
            && let Some(i) = spin::spin_recv(&mut self.rx, self.idle_spin).await
        {
            return Step::Input(Some(i));
        }
        let deadline = self.host.poll_timeout().map(|d| self.clock.deadline(d));
        let drain_until = self.draining.as_ref().map(|(u, _)| u.into_std());
        let deadline = match (deadline, drain_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let deadline = deadline.map(tokio::time::Instant::from_std);
        if let Some(d) = deadline {
            match &mut self.timer {
                Some(t) if t.deadline() == d => {}
                Some(t) => t.as_mut().reset(d),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(d))),
            }
        }
        let Driver {
            rx,
            shutdown,
            store,
            timer,
            ..
        } = self;
        let sleep = async {
            match (deadline, timer.as_mut()) {
                (Some(_), Some(t)) => t.await,
                _ => std::future::pending().await,
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

    /// Performs every action the host hands back (never waiting on a writer).
    ///
    /// Transmits and closes are held back (up to [`DRAIN_AHEAD`], in order) until an action
    /// of another kind or the end of the pass, while agent spawns go at once: the host hands
    /// out a submit's `accepted` before its agent's start. A task spawned or woken from a
    /// worker takes that worker's LIFO slot, and the task it displaces goes to the run queue,
    /// where an idle worker is woken to steal it. Spawned after the writer's wake, the agent
    /// displaced the writer holding `accepted`, which waited for a second worker to wake up
    /// and write it; spawned first, the agent is the one another worker takes, in parallel.
    fn drain(&mut self) {
        self.stalled_now.clear();
        let mut ahead = std::mem::take(&mut self.ahead);
        loop {
            match self.host.poll_action() {
                Some(Action::SpawnAgent(task)) => self.spawn_agent(task),
                Some(a @ (Action::Transmit { .. } | Action::Close { .. })) => {
                    ahead.push(a);
                    if ahead.len() >= DRAIN_AHEAD {
                        self.perform_all(&mut ahead);
                    }
                }
                Some(other) => {
                    self.perform_all(&mut ahead);
                    self.perform(other);
                }
                None if ahead.is_empty() => break,
                None => self.perform_all(&mut ahead),
            }
        }
        self.ahead = ahead;
    }

    /// Performs the held-back actions, in order.
    fn perform_all(&mut self, ahead: &mut Vec<Action>) {
        for a in ahead.drain(..) {
            self.perform(a);
        }
    }

    /// Starts an agent's task and tells the host it runs.
    fn spawn_agent(&mut self, task: AgentTask) {
        tokio::spawn(task.future);
        let now = self.clock.now();
        self.host
            .handle_effect_result(now, task.effect, EffectOutcome::Done);
    }

    /// Performs one action.
    fn perform(&mut self, action: Action) {
        match action {
            Action::Transmit { conn, bytes } => {
                self.send(conn, Outbound::Frame(bytes));
            }
            Action::Close { conn, code } if self.closing => {
                // Shutting down: a close is queued only where there is room.
                if let Some(p) = self.ports.remove(&conn)
                    && p.out.try_send(Outbound::Close(code)).is_ok()
                {
                    self.closed.push(p.out);
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
                    let _ = p.kill.send(code);
                }
            }
            Action::SpawnAgent(task) => self.spawn_agent(task),
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
                if let Some((t, _)) = &self.store
                    && t.send(batch)
                {
                    self.store_sent = Some(std::time::Instant::now());
                }
            }
        }
    }

    /// A store completion arrived: its batch's latency goes into the histogram.
    fn observe_store_latency(&mut self) {
        if let Some(sent) = self.store_sent.take() {
            self.store_latency.observe(sent.elapsed().as_secs_f64());
        }
    }

    /// Queues `out` on `conn`'s writer without waiting; `true` when queued. A full queue
    /// hands `out` back to the host (the connection stalls until its writer wakes the
    /// driver); a writer that is gone is reported lost.
    /// A connection found full earlier in this drain gets `out` held after the refused item.
    fn send(&mut self, conn: ConnId, out: Outbound) -> bool {
        if self.stalled_now.contains(&conn) {
            let now = self.clock.now();
            self.host.handle_writer_full(now, conn, out);
            return false;
        }
        let Some(port) = self.ports.get(&conn) else {
            return false;
        };
        let out = match port.out.try_send(out) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => None,
            Err(mpsc::error::TrySendError::Full(out)) => {
                // Flag first, then look again: either the retry finds room, or the queue is
                // still full and the writer sees the flag when it takes its next item.
                port.stalled.set();
                match port.out.try_send(out) {
                    Ok(()) => return true,
                    Err(mpsc::error::TrySendError::Closed(_)) => None,
                    Err(mpsc::error::TrySendError::Full(out)) => Some(out),
                }
            }
        };
        let now = self.clock.now();
        match out {
            Some(out) => {
                self.stalled_now.push(conn);
                self.host.handle_writer_full(now, conn, out);
            }
            None => self.host.handle_writer_lost(now, conn),
        }
        false
    }

    /// Cancels every agent, closes every connection (`code`: 1000, or 1001 after a drain;
    /// where there is room), waits for the store to commit what is pending and for the
    /// writers to send their close (at most [`CLOSE_FLUSH`]).
    async fn shutdown(&mut self, code: u16) {
        self.stop(code).await;
        // The closes reach the peers before the process may exit: wait (bounded) for the
        // writers that got one to send it.
        let closed = std::mem::take(&mut self.closed);
        let sent = futures_util::future::join_all(closed.iter().map(|out| out.closed()));
        let _ = tokio::time::timeout(CLOSE_FLUSH, sent).await;
    }

    /// The drain's grace is over: the jobs still running end "runtime stopped", and their
    /// terminals are committed (and handed to the writers) before the connections close.
    async fn end_running_jobs(&mut self) {
        if self.host.agents_running() == 0 && self.host.jobs_waiting() == 0 {
            return;
        }
        self.host.handle_stopping(self.clock.now());
        self.drain_until_committed().await;
    }

    /// [`Self::shutdown`] up to the store's last commit.
    async fn stop(&mut self, code: u16) {
        self.closing = true;
        if code == 1001 {
            self.host.handle_going_away(self.clock.now());
        } else {
            self.host.handle_shutdown(self.clock.now());
        }
        self.drain_until_committed().await;
    }

    /// Drains, and while a store batch is out waits for its completion and drains again:
    /// returns once nothing is left to commit (or the store thread is gone).
    async fn drain_until_committed(&mut self) {
        loop {
            self.drain();
            let Some((_, rx)) = self.store.as_mut().filter(|_| self.host.store_inflight()) else {
                return;
            };
            match rx.recv().await {
                Some(done) => {
                    self.observe_store_latency();
                    self.host.handle_store_done(self.clock.now(), done);
                }
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stalled_writer_wakes_the_driver_once_its_queue_is_half_empty() {
        let (tx, mut rx) = mpsc::channel(4);
        let (wake, stalled) = Wake::new(ConnId(7), tx);
        // Not stalled: no wake.
        wake.took(0, 8).await;
        assert!(rx.try_recv().is_err());
        // Stalled, the queue half empty: one wake, and the flag is cleared.
        stalled.set();
        wake.took(4, 8).await;
        assert!(matches!(
            rx.try_recv(),
            Ok(Input::WriterReady { conn: ConnId(7) })
        ));
        assert!(!stalled.flag.load(Ordering::SeqCst));
        wake.took(0, 8).await;
        assert!(rx.try_recv().is_err());
    }
}
