//! The async client over `async-channel` queues, for the adapters that bring no channels of
//! their own (arcp-futures, arcp-blocking): the [`AsyncLink`] ([`ChannelLink`]) and the
//! [`AsyncIo`] ([`ChannelIo`]) written once; an adapter gives its transport, clock and timer
//! ([`ChannelTransport`]) and its builder ([`ChannelAdapter`]).

use crate::{
    Answer, AsyncIo, AsyncLink, Blocked, BoundedSender, Client, ClientError, ClientOptions,
    Inbound, JobEventItem, JobOutcome, JobSink, Request, StreamItem, Target, TrySend, Wait,
};
use async_channel::{Receiver, Sender, TrySendError};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Instant;

/// One request and where its answer goes.
pub type Envelope = (Request<Sink>, Sender<Answer>);
/// The driver task's end of the request queue.
pub type Commands = Pin<Box<Receiver<Envelope>>>;

fn try_send<T>(tx: &Sender<T>, item: T) -> Result<(), TrySend<T>> {
    tx.try_send(item).map_err(|e| match e {
        TrySendError::Full(i) => TrySend::Full(i),
        TrySendError::Closed(i) => TrySend::Closed(i),
    })
}

/// A job's queues, as the driver fills them.
#[derive(Debug)]
pub struct Sink {
    events: Sender<JobEventItem>,
    end: Sender<Result<JobOutcome, ClientError>>,
}

impl BoundedSender<JobEventItem> for Sink {
    fn try_send(&self, item: JobEventItem) -> Result<(), TrySend<JobEventItem>> {
        try_send(&self.events, item)
    }
}

impl JobSink for Sink {
    fn finish(self, end: Result<JobOutcome, ClientError>) {
        let _ = self.end.try_send(end);
    }
}

/// The unrouted stream's sender.
#[derive(Debug, Clone)]
pub struct UnroutedSink(Sender<StreamItem>);

impl BoundedSender<StreamItem> for UnroutedSink {
    fn try_send(&self, item: StreamItem) -> Result<(), TrySend<StreamItem>> {
        try_send(&self.0, item)
    }
}

/// The unrouted stream of `capacity` items.
pub fn unrouted(capacity: usize) -> (UnroutedSink, Pin<Box<Receiver<StreamItem>>>) {
    let (tx, rx) = async_channel::bounded(capacity);
    (UnroutedSink(tx), Box::pin(rx))
}

/// The request queue of `capacity` requests.
pub fn commands(capacity: usize) -> (Sender<Envelope>, Commands) {
    let (tx, rx) = async_channel::bounded(capacity);
    (tx, Box::pin(rx))
}

/// An adapter of the channel client: its builder and defaults.
pub trait ChannelAdapter: Send + Sync + 'static {
    /// The adapter's `ClientBuilder`.
    type Builder;
    /// A builder with `options`.
    fn builder(options: ClientOptions) -> Self::Builder;
    /// The defaults for `target`.
    fn options(target: Target) -> ClientOptions;
    /// Opens a client with `options`.
    fn connect(
        options: ClientOptions,
    ) -> impl Future<Output = Result<Client<ChannelLink<Self>>, ClientError>> + Send
    where
        Self: Sized;
}

/// How a client reaches its driver task through `async-channel` queues.
pub struct ChannelLink<A> {
    commands: Sender<Envelope>,
    event_capacity: usize,
    adapter: PhantomData<fn() -> A>,
}

impl<A> ChannelLink<A> {
    /// A link over `commands`, with job queues of `event_capacity` events.
    pub fn new(commands: Sender<Envelope>, event_capacity: usize) -> Self {
        ChannelLink {
            commands,
            event_capacity,
            adapter: PhantomData,
        }
    }
}

impl<A> Clone for ChannelLink<A> {
    fn clone(&self) -> Self {
        ChannelLink::new(self.commands.clone(), self.event_capacity)
    }
}

impl<A> std::fmt::Debug for ChannelLink<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelLink").finish_non_exhaustive()
    }
}

impl<A: ChannelAdapter> AsyncLink for ChannelLink<A> {
    type Sink = Sink;
    type Events = Pin<Box<Receiver<JobEventItem>>>;
    type End = Receiver<Result<JobOutcome, ClientError>>;
    type Unrouted = Pin<Box<Receiver<StreamItem>>>;
    type Builder = A::Builder;

    fn builder(target: Target) -> A::Builder {
        A::builder(A::options(target))
    }

    fn options(target: Target) -> ClientOptions {
        A::options(target)
    }

    fn connect(
        options: ClientOptions,
    ) -> impl Future<Output = Result<Client<Self>, ClientError>> + Send {
        A::connect(options)
    }

    fn job_channel(&self) -> (Sink, Self::Events, Self::End) {
        let (events, rx) = async_channel::bounded(self.event_capacity);
        let (end, end_rx) = async_channel::bounded(1);
        (Sink { events, end }, Box::pin(rx), end_rx)
    }

    fn request(&self, req: Request<Sink>) -> impl Future<Output = Answer> + Send {
        let commands = self.commands.clone();
        async move {
            let (tx, rx) = async_channel::bounded(1);
            if commands.send((req, tx)).await.is_err() {
                return Answer::Failed(ClientError::Closed);
            }
            rx.recv()
                .await
                .unwrap_or(Answer::Failed(ClientError::Closed))
        }
    }

    async fn end(end: Self::End) -> Result<JobOutcome, ClientError> {
        end.recv().await.unwrap_or(Err(ClientError::Closed))
    }
}

/// An adapter's transport, clock and timer.
pub trait ChannelTransport: Send + 'static {
    /// One open transport.
    type Transport: Send + 'static;
    /// The monotonic clock.
    fn now(&self) -> Instant;
    /// Opens a transport.
    fn open(&self) -> impl Future<Output = Result<Self::Transport, ClientError>> + Send;
    /// Writes one envelope.
    fn send(
        t: &mut Self::Transport,
        frame: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send;
    /// The next inbound envelope (cancel-safe).
    fn recv(t: &mut Self::Transport) -> impl Future<Output = Inbound> + Send;
    /// Closes the transport, bounded.
    fn close(t: Self::Transport) -> impl Future<Output = ()> + Send;
    /// Completes at `at`.
    fn sleep_until(&self, at: Instant) -> Wait;
}

/// The driver task's IO: the adapter's transport and timer, these queues.
pub struct ChannelIo<T>(pub T);

async fn send_owned<T>(tx: Sender<T>, item: T) -> bool {
    tx.send(item).await.is_ok()
}

impl<T: ChannelTransport> AsyncIo for ChannelIo<T> {
    type Transport = T::Transport;
    type Sink = Sink;
    type Unrouted = UnroutedSink;
    type Reply = Sender<Answer>;
    type Commands = Commands;

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn open(&self) -> impl Future<Output = Result<T::Transport, ClientError>> + Send {
        self.0.open()
    }

    fn send(
        t: &mut T::Transport,
        frame: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send {
        T::send(t, frame)
    }

    fn recv(t: &mut T::Transport) -> impl Future<Output = Inbound> + Send {
        T::recv(t)
    }

    fn close(t: T::Transport) -> impl Future<Output = ()> + Send {
        T::close(t)
    }

    fn sleep_until(&self, at: Instant) -> Wait {
        self.0.sleep_until(at)
    }

    fn deliver(blocked: Blocked<'_, Sink, UnroutedSink>) -> Wait {
        let sent: Pin<Box<dyn Future<Output = bool> + Send>> = match blocked {
            Blocked::Job(s, i) => Box::pin(send_owned(s.events.clone(), i.clone())),
            Blocked::Unrouted(s, i) => Box::pin(send_owned(s.0.clone(), i.clone())),
        };
        Box::pin(async move {
            sent.await;
        })
    }

    fn reply(reply: Sender<Answer>, answer: Answer) {
        let _ = reply.try_send(answer);
    }

    fn close_commands(commands: &mut Commands) -> Vec<Sender<Answer>> {
        commands.close();
        std::iter::from_fn(|| commands.try_recv().ok())
            .map(|(_, reply)| reply)
            .collect()
    }
}
