//! The tokio side of the shared async client ([`arcp_client::Client`] and
//! [`arcp_client::DriverTask`]): bounded `mpsc` queues, `oneshot` replies, the tokio clock
//! and timer, and the transports of `transport.rs`.

use super::ClientBuilder;
use super::transport::Transport;
use arcp_client::{
    Answer, AsyncIo, AsyncLink, Blocked, BoundedSender, ClientError, ClientOptions, Inbound,
    JobEventItem, JobOutcome, JobSink, Request, StreamItem, Target, TrySend, Wait,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};
pub(crate) use tokio_stream_shim::ReceiverStream;

/// One request and where its answer goes.
pub(crate) type Envelope = (Request<Sink>, oneshot::Sender<Answer>);

/// A job's queues, as the driver fills them.
#[derive(Debug)]
pub struct Sink {
    events: mpsc::Sender<JobEventItem>,
    end: oneshot::Sender<Result<JobOutcome, ClientError>>,
}

impl BoundedSender<JobEventItem> for Sink {
    fn try_send(&self, item: JobEventItem) -> Result<(), TrySend<JobEventItem>> {
        self.events.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(i) => TrySend::Full(i),
            mpsc::error::TrySendError::Closed(i) => TrySend::Closed(i),
        })
    }
}

impl JobSink for Sink {
    fn finish(self, end: Result<JobOutcome, ClientError>) {
        let _ = self.end.send(end);
    }
}

/// The unrouted stream's sender.
#[derive(Debug, Clone)]
pub struct UnroutedSink(pub(crate) mpsc::Sender<StreamItem>);

impl BoundedSender<StreamItem> for UnroutedSink {
    fn try_send(&self, item: StreamItem) -> Result<(), TrySend<StreamItem>> {
        self.0.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(i) => TrySend::Full(i),
            mpsc::error::TrySendError::Closed(i) => TrySend::Closed(i),
        })
    }
}

/// How a tokio [`Client`](super::Client) reaches its driver task.
#[derive(Debug, Clone)]
pub struct TokioLink {
    pub(crate) commands: mpsc::Sender<Envelope>,
    pub(crate) event_capacity: usize,
}

impl AsyncLink for TokioLink {
    type Sink = Sink;
    type Events = BoxStream<'static, JobEventItem>;
    type End = oneshot::Receiver<Result<JobOutcome, ClientError>>;
    type Unrouted = BoxStream<'static, StreamItem>;
    type Builder = ClientBuilder;

    fn builder(target: Target) -> ClientBuilder {
        ClientBuilder::new(target)
    }

    fn options(target: Target) -> ClientOptions {
        ClientOptions::new(target, "arcp-tokio", env!("CARGO_PKG_VERSION"))
    }

    fn connect(
        options: ClientOptions,
    ) -> impl Future<Output = Result<arcp_client::Client<Self>, ClientError>> + Send {
        ClientBuilder::with_options(options).connect()
    }

    fn job_channel(&self) -> (Sink, Self::Events, Self::End) {
        let (events, rx) = mpsc::channel(self.event_capacity);
        let (end, end_rx) = oneshot::channel();
        (
            Sink { events, end },
            ReceiverStream::new(rx).boxed(),
            end_rx,
        )
    }

    fn request(&self, req: Request<Sink>) -> impl Future<Output = Answer> + Send {
        let commands = self.commands.clone();
        async move {
            let (tx, rx) = oneshot::channel();
            if commands.send((req, tx)).await.is_err() {
                return Answer::Failed(ClientError::Closed);
            }
            rx.await.unwrap_or(Answer::Failed(ClientError::Closed))
        }
    }

    async fn end(end: Self::End) -> Result<JobOutcome, ClientError> {
        end.await.unwrap_or(Err(ClientError::Closed))
    }
}

/// The driver task's IO on tokio.
pub(crate) struct TokioIo {
    pub(crate) target: Target,
    pub(crate) max_frame_bytes: usize,
    /// The rustls config for `wss://` (built once, reused by reconnects).
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    /// An in-memory pipe to use instead of `target` (taken by the first open: a pipe
    /// cannot be reopened, so a reconnect fails).
    pub(crate) memory: Option<MemorySlot>,
}

/// The client end of an in-memory pipe, until the transport takes it.
pub(crate) type MemorySlot = Arc<std::sync::Mutex<Option<tokio::io::DuplexStream>>>;

impl AsyncIo for TokioIo {
    type Transport = Transport;
    type Sink = Sink;
    type Unrouted = UnroutedSink;
    type Reply = oneshot::Sender<Answer>;
    type Commands = ReceiverStream<Envelope>;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn open(&self) -> impl Future<Output = Result<Transport, ClientError>> + Send {
        let memory = self.memory.as_ref().map(|slot| {
            slot.lock()
                .ok()
                .and_then(|mut s| s.take())
                .map(|stream| Transport::memory(stream, self.max_frame_bytes))
                .ok_or_else(|| ClientError::transport("the in-memory pipe cannot be reopened"))
        });
        let open = Transport::open(&self.target, self.max_frame_bytes, self.tls.as_ref());
        async move {
            match memory {
                Some(m) => m,
                None => open.await,
            }
        }
    }

    fn send(t: &mut Transport, frame: Vec<u8>) -> impl Future<Output = Result<(), String>> + Send {
        t.send(frame)
    }

    fn recv(t: &mut Transport) -> impl Future<Output = Inbound> + Send {
        t.recv()
    }

    fn close(t: Transport) -> impl Future<Output = ()> + Send {
        t.close()
    }

    fn sleep_until(&self, at: Instant) -> Wait {
        Box::pin(tokio::time::sleep_until(at.into()))
    }

    fn deliver(blocked: Blocked<'_, Sink, UnroutedSink>) -> Wait {
        match blocked {
            Blocked::Job(sink, item) => {
                let (tx, item) = (sink.events.clone(), item.clone());
                Box::pin(async move {
                    let _ = tx.send(item).await;
                })
            }
            Blocked::Unrouted(sink, item) => {
                let (tx, item) = (sink.0.clone(), item.clone());
                Box::pin(async move {
                    let _ = tx.send(item).await;
                })
            }
        }
    }

    fn reply(reply: oneshot::Sender<Answer>, answer: Answer) {
        let _ = reply.send(answer);
    }

    fn close_commands(commands: &mut Self::Commands) -> Vec<oneshot::Sender<Answer>> {
        commands.0.close();
        std::iter::from_fn(|| commands.0.try_recv().ok())
            .map(|(_, reply)| reply)
            .collect()
    }
}

/// `mpsc::Receiver` as a `Stream` (what tokio-stream's wrapper does, without the crate).
mod tokio_stream_shim {
    use futures_util::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::sync::mpsc;

    /// A bounded receiver as a stream.
    #[derive(Debug)]
    pub struct ReceiverStream<T>(pub(crate) mpsc::Receiver<T>);

    impl<T> ReceiverStream<T> {
        pub fn new(rx: mpsc::Receiver<T>) -> Self {
            ReceiverStream(rx)
        }
    }

    impl<T> Stream for ReceiverStream<T> {
        type Item = T;

        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}
