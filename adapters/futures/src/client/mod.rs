//! The client side, on any executor: WebSocket and stdio clients over `futures-io` sockets
//! (`async_io::Async`), async-tungstenite, `async-io` timers and `async-channel` queues.
//!
//! The API is the same as arcp-tokio's and arcp-blocking's (written once in arcp-client;
//! only the transports, the timer and the channels live here):
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_futures::client::ClientError> {
//! use arcp_futures::client::{Client, SubmitRequest};
//! use futures_util::StreamExt;
//!
//! let client = Client::builder("ws://127.0.0.1:7777/arcp")
//!     .token("alice-token")
//!     .spawner(|f| smol::spawn(f).detach())
//!     .connect()
//!     .await?;
//! let handle = client
//!     .submit(SubmitRequest::new("echo", serde_json::json!({"hello": "world"})))
//!     .await?;
//! let mut events = handle.events();
//! while let Some(event) = events.next().await {
//!     println!("{}: {}", event.event_seq, event.kind());
//! }
//! println!("final: {:?}", handle.done().await?.status());
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! The driver task ([`arcp_client::DriverTask`]) runs on the spawner given to
//! [`ClientBuilder::spawner`] (async-std, smol, …), or on a thread of its own driven by
//! `async_io::block_on` when none is given. Every queue is bounded: commands
//! ([`ClientBuilder::command_capacity`]), each job's events
//! ([`ClientBuilder::event_capacity`]), the events waiting for room
//! ([`ClientBuilder::max_buffered_events`]; while that many wait the transport is not read).
//! After a transport loss the client reconnects and resumes by itself
//! ([`ClientBuilder::auto_resume`], WebSocket only).

mod io;
mod link;

pub use arcp_client::{
    ApiError, AutoAck, ClientError, ClientState, CloseReason, DEFAULT_CANCEL_REASON, ErrorCode,
    Feature, FeatureSet, FrameTap, JobError, JobEventItem, JobFilter, JobId, JobInfo, JobOutcome,
    JobStatus, Jobs, LeaseConstraints, ListJobsRequest, RequestId, ResultValue, ResumeRetry,
    ResumeState, SeqSpace, SessionId, StreamItem, SubmitRequest, TapEvent, Target, Timestamp,
    WelcomeInfo,
};
pub use io::{Futures, FuturesLink};
pub use link::{Ws, open_ws};

use crate::Spawner;
use arcp_agents::{BoxFuture, OsEntropy};
use arcp_client::channel::{self, ChannelIo};
use arcp_client::{Answer, ClientDriver, ClientOptions, DriverTask, Shared};
use futures_util::{FutureExt, select_biased};
use io::FuturesIo;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// An ARCP client session over WebSocket or stdio.
pub type Client = arcp_client::Client<FuturesLink>;
/// A submitted (or subscribed) job.
pub type JobHandle = arcp_client::JobHandle<FuturesLink>;
/// A job's ordered event stream (owned: the loop reading it may cancel the job).
pub type JobEvents = arcp_client::JobEvents<FuturesLink>;
/// A read-only attachment to a job submitted elsewhere.
pub type Subscription = arcp_client::Subscription<FuturesLink>;
/// Frames of jobs without a handle.
pub type UnroutedEvents = arcp_client::UnroutedEvents<FuturesLink>;

/// Configures and opens a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    options: ClientOptions,
    spawner: Option<Spawner>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("options", &self.options)
            .field("spawner", &self.spawner.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// A builder with these options.
    pub fn with_options(options: ClientOptions) -> Self {
        ClientBuilder {
            options,
            spawner: None,
        }
    }

    arcp_client::client_builder_setters!();

    /// Runs the client's driver task with `spawn` (e.g. `|f| smol::spawn(f).detach()`);
    /// without one it runs on a thread of its own.
    pub fn spawner(
        mut self,
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> Self {
        self.spawner = Some(Arc::new(spawn));
        self
    }

    /// Opens the transport, starts the driver task and completes the handshake (or the
    /// resume), within [`connect_timeout`](Self::connect_timeout).
    pub async fn connect(self) -> Result<Client, ClientError> {
        let limit = self.options.connect_timeout;
        select_biased! {
            r = self.open().fuse() => r,
            _ = FutureExt::fuse(async_io::Timer::after(limit)) => Err(ClientError::Timeout),
        }
    }

    async fn open(self) -> Result<Client, ClientError> {
        let o = self.options;
        let transport = link::Link::open(&o.target, o.max_frame_bytes).await?;
        let (unrouted_tx, unrouted) = match o.unrouted_capacity {
            Some(cap) => {
                let (tx, rx) = channel::unrouted(cap);
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let driver = ClientDriver::new(
            &o,
            Instant::now(),
            unix_micros(),
            Box::new(OsEntropy),
            unrouted_tx,
        );
        let shared = Arc::new(Shared::new(
            o.resume.as_ref().map_or(0, |r| r.last_event_seq),
        ));
        let (commands, rx) = channel::commands(o.command_capacity);
        let (welcome_tx, welcome_rx) = async_channel::bounded(1);
        let io = ChannelIo(FuturesIo {
            target: o.target.clone(),
            max_frame_bytes: o.max_frame_bytes,
        });
        let task = DriverTask::new(io, driver, transport, rx, Arc::clone(&shared), welcome_tx);
        match self.spawner {
            Some(spawn) => spawn(Box::pin(task.run())),
            None => {
                std::thread::Builder::new()
                    .name("arcp-client".into())
                    .spawn(move || async_io::block_on(task.run()))
                    .map_err(|e| {
                        ClientError::transport_from("cannot start the client thread", e)
                    })?;
            }
        }
        let welcome = welcome_rx
            .recv()
            .await
            .unwrap_or(Answer::Failed(ClientError::Closed))
            .into_welcome()?;
        let link = FuturesLink::new(commands, o.event_capacity);
        Ok(Client::from_parts(link, shared, welcome, unrouted))
    }
}

/// The wall time now, in microseconds since the Unix epoch (the driver's wall anchor).
fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
