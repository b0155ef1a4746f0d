//! [`DriverTask`]: the async driver task, written once for every async adapter. It runs a
//! [`ClientDriver`] by the driving contract — feed one input (a command, a frame, room in a
//! full queue, a due deadline, a transport change), drain `poll_output`, ask `poll_timeout`
//! last — and sleeps until the earliest of command, room, transport input and deadline.
//! Every IO it does (the transport, the clock, the timer, the channels) goes through the
//! adapter's [`AsyncIo`]; nothing here reads a clock or a socket itself.

use crate::facade::Request;
use crate::{
    Answer, Blocked, BoundedSender, ClientDriver, ClientError, Command, JobSink, Output, Shared,
    StreamItem, Ticket,
};
use futures_core::Stream;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

/// What one read of the transport brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// One complete envelope.
    Frame(Vec<u8>),
    /// A control message (ping, pong): nothing for the session.
    Nothing,
    /// An inbound frame over the cap ([D35]): the transport is closed, the session stays
    /// resumable.
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    TooLarge,
    /// The transport ended (why).
    Closed(String),
}

/// A future the driver task waits on (boxed: it outlives the borrow that built it).
pub type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An async adapter's IO, as the driver task uses it.
pub trait AsyncIo: Send + 'static {
    /// One open transport.
    type Transport: Send + 'static;
    /// A job's queues (the driver's [`JobSink`]).
    type Sink: JobSink + Send + 'static;
    /// The unrouted stream's sender.
    type Unrouted: BoundedSender<StreamItem> + Send + 'static;
    /// The reply of one request.
    type Reply: Send + 'static;
    /// The requests of the application.
    type Commands: Stream<Item = (Request<Self::Sink>, Self::Reply)> + Send + Unpin + 'static;

    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// Opens a transport to the target.
    fn open(&self) -> impl Future<Output = Result<Self::Transport, ClientError>> + Send;
    /// Writes one envelope.
    fn send(
        t: &mut Self::Transport,
        frame: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// The next inbound envelope; must be cancel-safe (the task drops it when another input
    /// wins).
    fn recv(t: &mut Self::Transport) -> impl Future<Output = Inbound> + Send;
    /// Closes the transport, bounded.
    fn close(t: Self::Transport) -> impl Future<Output = ()> + Send;
    /// Completes at `at`.
    fn sleep_until(&self, at: Instant) -> Wait;
    /// Sends the blocked item into its full queue (cancel-safe: nothing is sent when the
    /// future is dropped early); completes once sent or once its receiver is gone.
    fn deliver(blocked: Blocked<'_, Self::Sink, Self::Unrouted>) -> Wait;
    /// Hands `answer` to the caller waiting on `reply`.
    fn reply(reply: Self::Reply, answer: Answer);
    /// The session is over: refuses new requests and returns the replies of those still
    /// queued (each is answered with the session's end).
    fn close_commands(commands: &mut Self::Commands) -> Vec<Self::Reply>;
}

enum Wake<C> {
    Command(Option<C>),
    Room,
    Inbound(Inbound),
    Timer,
}

/// The driver task of one client.
pub struct DriverTask<Io: AsyncIo> {
    io: Io,
    driver: ClientDriver<Io::Sink, Io::Unrouted>,
    transport: Option<Io::Transport>,
    commands: Io::Commands,
    commands_open: bool,
    replies: HashMap<Ticket, Io::Reply>,
    shared: Arc<Shared>,
    closed: bool,
}

impl<Io: AsyncIo> DriverTask<Io> {
    /// A task over the first `transport` (already open); `welcome` is answered with the
    /// handshake's outcome.
    pub fn new(
        io: Io,
        mut driver: ClientDriver<Io::Sink, Io::Unrouted>,
        transport: Io::Transport,
        commands: Io::Commands,
        shared: Arc<Shared>,
        welcome: Io::Reply,
    ) -> Self {
        let mut replies = HashMap::new();
        replies.insert(driver.wait_welcome(), welcome);
        driver.handle_connected(io.now());
        DriverTask {
            io,
            driver,
            transport: Some(transport),
            commands,
            commands_open: true,
            replies,
            shared,
            closed: false,
        }
    }

    /// Runs until the session is closed (by `close`, a refused handshake, the runtime,
    /// giving up on reconnecting, or every client and handle dropped).
    pub async fn run(mut self) {
        self.pump().await;
        while !self.closed {
            // Contract step 3: the deadline is asked last, after draining.
            let deadline = self.driver.poll_timeout();
            let wake = self.wait(deadline).await;
            let now = self.io.now();
            match wake {
                Wake::Command(Some((req, reply))) => self.request(now, req, reply).await,
                Wake::Command(None) => {
                    // Every client and handle is gone: end the session politely.
                    self.commands_open = false;
                    let _ = self.driver.handle_command(now, Command::Close);
                }
                Wake::Room => self.driver.handle_room(now),
                Wake::Inbound(Inbound::Frame(bytes)) => self.driver.handle_frame(now, &bytes),
                Wake::Inbound(Inbound::Nothing) => {}
                // D35: an oversized frame drops the transport; the session stays resumable.
                Wake::Inbound(Inbound::TooLarge) => {
                    self.lost(now, "inbound frame over the size cap").await;
                }
                Wake::Inbound(Inbound::Closed(why)) => self.lost(now, &why).await,
                Wake::Timer => self.driver.handle_timeout(now),
            }
            self.pump().await;
        }
        // Requests queued after the close would keep their callers waiting (the queue lives
        // on in the clients' senders): answer them.
        for reply in Io::close_commands(&mut self.commands) {
            Io::reply(reply, Answer::Failed(ClientError::Closed));
        }
    }

    async fn wait(&mut self, deadline: Option<Instant>) -> Wake<(Request<Io::Sink>, Io::Reply)> {
        let mut room = self.driver.blocked().map(Io::deliver);
        let mut timer = deadline.map(|d| self.io.sleep_until(d));
        // While `max_buffered_events` items wait for room, the transport is not read.
        let read = self.driver.can_read();
        let transport = &mut self.transport;
        let mut frame = pin!(async move {
            match transport.as_mut() {
                Some(t) if read => Io::recv(t).await,
                _ => std::future::pending().await,
            }
        });
        let commands = &mut self.commands;
        let commands_open = self.commands_open;
        poll_fn(|cx| {
            if commands_open && let Poll::Ready(c) = Pin::new(&mut *commands).poll_next(cx) {
                return Poll::Ready(Wake::Command(c));
            }
            if let Some(r) = room.as_mut()
                && r.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Wake::Room);
            }
            if let Poll::Ready(i) = frame.as_mut().poll(cx) {
                return Poll::Ready(Wake::Inbound(i));
            }
            if let Some(t) = timer.as_mut()
                && t.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Wake::Timer);
            }
            Poll::Pending
        })
        .await
    }

    async fn request(&mut self, now: Instant, req: Request<Io::Sink>, reply: Io::Reply) {
        match req {
            Request::Command(cmd) => {
                let t = self.driver.handle_command(now, *cmd);
                self.replies.insert(t, reply);
            }
            Request::SendRaw(frame) => {
                let answer = match self.transport.as_mut() {
                    Some(t) => {
                        self.driver.tap_sent(&frame);
                        match Io::send(t, frame).await {
                            Ok(()) => Answer::Done,
                            Err(e) => Answer::Failed(ClientError::transport(e)),
                        }
                    }
                    None => Answer::Failed(ClientError::transport("no transport")),
                };
                Io::reply(reply, answer);
            }
        }
    }

    /// The transport broke (read error, peer close, oversized frame, failed write).
    async fn lost(&mut self, now: Instant, why: &str) {
        if let Some(t) = self.transport.take() {
            Io::close(t).await;
        }
        self.driver.handle_disconnected(now, why);
    }

    /// Contract step 2: drain the driver's outputs until it is empty.
    async fn pump(&mut self) {
        while let Some(out) = self.driver.poll_output() {
            match out {
                Output::Transmit(bytes) => {
                    let Some(t) = self.transport.as_mut() else {
                        continue;
                    };
                    if let Err(e) = Io::send(t, bytes).await {
                        let now = self.io.now();
                        self.lost(now, &format!("send failed: {e}")).await;
                    }
                }
                Output::CloseTransport => {
                    if let Some(t) = self.transport.take() {
                        Io::close(t).await;
                    }
                }
                Output::Connect => {
                    let opened = self.io.open().await;
                    let now = self.io.now();
                    match opened {
                        Ok(t) => {
                            self.transport = Some(t);
                            self.driver.handle_connected(now);
                        }
                        Err(e) => self.driver.handle_connect_failed(now, &e.to_string()),
                    }
                }
                Output::Answer(t, answer) => {
                    // The getters (features, resume token) are current once a call returns.
                    self.shared.publish(&self.driver);
                    if let Some(reply) = self.replies.remove(&t) {
                        Io::reply(reply, answer);
                    }
                }
                Output::Closed => self.closed = true,
            }
        }
        self.shared.publish(&self.driver);
    }
}
