//! The client side, on tokio: WebSocket (`ws://`, `wss://`) and stdio clients.
//!
//! The API is the same as arcp-futures' and arcp-blocking's (written once in arcp-client;
//! only the transports, the timer and the task live here). It reads like the reference
//! Python SDK's `ARCPClient`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), arcp_tokio::client::ClientError> {
//! use arcp_tokio::client::{Client, SubmitRequest};
//! use futures_util::StreamExt;
//!
//! let client = Client::builder("ws://127.0.0.1:7777/arcp")
//!     .token("alice-token")
//!     .connect()
//!     .await?;
//! let handle = client
//!     .submit(SubmitRequest::new("echo", serde_json::json!({"hello": "world"})))
//!     .await?;
//! let mut events = handle.events();
//! while let Some(event) = events.next().await {
//!     println!("[{}] {}", event.kind(), event.body());
//! }
//! let outcome = handle.done().await?;
//! println!("final: {:?}", outcome.status());
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! | Python SDK | here |
//! |---|---|
//! | `ARCPClient(client=…, token=…, features=…, auto_ack=…)` + `connect(transport)` | [`Client::builder`]`(url).client_info(..).token(..).features(..).auto_ack(..).connect()` |
//! | `StdioTransport(...)` | [`Client::stdio_builder`]`(argv)` |
//! | `client.submit(agent=…, input=…, lease_request=…, …)` | [`Client::submit`]`(`[`SubmitRequest`]`)` → [`JobHandle`] |
//! | `handle.job_id`, `.lease`, `.budget`, `.agent_ref` | [`JobHandle::job_id`], [`lease`](JobHandle::lease), [`budget`](JobHandle::budget), [`agent_ref`](JobHandle::agent_ref), [`credentials`](JobHandle::credentials) |
//! | `async for event in handle.events()`, `event["kind"]`, `event["body"]` | `while let Some(event) = handle.events().next().await`, [`JobEventItem::kind`], [`JobEventItem::body`] |
//! | `await handle.done` | [`JobHandle::done`] (`Ok` outcome, or [`ClientError::JobFailed`]) |
//! | `client.latest_event_seq` | [`Client::latest_event_seq`] |
//! | `client.resume(transport, resume=SessionResume(...))` | [`ClientBuilder::resume`]`(`[`ResumeState`]`)`; in-process: automatic, or [`Client::resume`] |
//! | `list_jobs(filter=ListJobsFilter(...))`, `subscribe`, `unsubscribe`, `cancel`, `ack` | [`Client::list_jobs`], [`Client::subscribe`] → [`Subscription`], [`Client::unsubscribe`], [`Client::cancel`], [`Client::ack`] |
//! | `ARCPError.code`, `.retryable` | [`ClientError::code`], [`ClientError::retryable`] |
//!
//! One task owns the session ([`arcp_client::DriverTask`] over arcp-client's
//! `ClientDriver`). Every channel is bounded: commands
//! ([`ClientBuilder::command_capacity`]), each job's events
//! ([`ClientBuilder::event_capacity`]), and the events waiting for room
//! ([`ClientBuilder::max_buffered_events`]; while full, the transport is not read).
//!
//! After a transport drop the client reconnects and resumes by itself (WebSocket only;
//! [`ClientBuilder::auto_resume`]); the session id and the job handles survive. Note: the
//! Python reference runtime loses a running job's events emitted while the client was away
//! (COMPAT D3), so with it such a handle only sees what the runtime replays.

mod link;
mod transport;

pub use arcp_client::{
    ApiError, AutoAck, ClientError, ClientState, CloseReason, DEFAULT_CANCEL_REASON, ErrorCode,
    Feature, FeatureSet, FrameTap, JobError, JobEventItem, JobFilter, JobId, JobInfo, JobOutcome,
    JobStatus, Jobs, LeaseConstraints, ListJobsRequest, RequestId, ResultValue, ResumeRetry,
    ResumeState, SeqSpace, SessionId, StreamItem, SubmitRequest, TapEvent, Target, Timestamp,
    WelcomeInfo,
};
pub use link::TokioLink;

use arcp_agents::OsEntropy;
use arcp_client::{ClientDriver, ClientOptions, DriverTask, Shared};
use futures_util::StreamExt;
use link::{TokioIo, UnroutedSink};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// An ARCP client session over WebSocket or stdio (the Python SDK's `ARCPClient`).
pub type Client = arcp_client::Client<TokioLink>;
/// A submitted (or subscribed) job.
pub type JobHandle = arcp_client::JobHandle<TokioLink>;
/// A job's ordered event stream (owned: the loop reading it may cancel the job).
pub type JobEvents = arcp_client::JobEvents<TokioLink>;
/// A read-only attachment to a job submitted elsewhere.
pub type Subscription = arcp_client::Subscription<TokioLink>;
/// Frames of jobs without a handle.
pub type UnroutedEvents = arcp_client::UnroutedEvents<TokioLink>;

/// Configures and opens a [`Client`] (the Python SDK's `ARCPClient(...)` arguments).
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    options: ClientOptions,
    tls: crate::tls::ClientTrust,
    memory: Option<link::MemorySlot>,
}

impl ClientBuilder {
    /// A builder for `target` with the defaults ([`ClientOptions::new`]).
    pub fn new(target: Target) -> Self {
        ClientBuilder {
            options: <TokioLink as arcp_client::AsyncLink>::options(target),
            tls: crate::tls::ClientTrust::default(),
            memory: None,
        }
    }

    /// A builder with these options (and the default TLS trust).
    pub fn with_options(options: ClientOptions) -> Self {
        ClientBuilder {
            options,
            tls: crate::tls::ClientTrust::default(),
            memory: None,
        }
    }

    arcp_client::client_builder_setters!();

    /// `wss://`: also trust the CA certificate(s) in the PEM file at `path` (besides the
    /// webpki roots). The file is read when connecting; an unreadable one fails `connect`.
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.tls.ca_files.push(path.into());
        self
    }

    /// `wss://`: also trust this root certificate (DER bytes).
    pub fn root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.tls.roots.push(der.into());
        self
    }

    /// `wss://`: use this rustls config as is (its roots replace the webpki roots,
    /// [`Self::ca_file`] and [`Self::root_certificate_der`]).
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls.config = Some(config);
        self
    }

    /// A builder for a runtime on the other end of an in-memory pipe (one envelope per line,
    /// as over stdio), e.g. a server's `serve_io` on the pipe's other end: the building block
    /// of arcp-sdk's `memory::pair`. The pipe is used once; the session cannot reconnect.
    pub fn memory(stream: tokio::io::DuplexStream) -> Self {
        let target = Target::Stdio(vec!["<in-memory>".into()]);
        let mut b = ClientBuilder::new(target);
        b.memory = Some(Arc::new(std::sync::Mutex::new(Some(stream))));
        b
    }

    /// Opens the transport and completes the handshake (or the resume), within
    /// [`connect_timeout`](Self::connect_timeout).
    pub async fn connect(self) -> Result<Client, ClientError> {
        let limit = self.options.connect_timeout;
        match tokio::time::timeout(limit, self.open()).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout),
        }
    }

    async fn open(self) -> Result<Client, ClientError> {
        let o = self.options;
        let tls = match &o.target {
            Target::WebSocket(url) if url.starts_with("wss://") => Some(
                self.tls
                    .client_config()
                    .map_err(|e| ClientError::transport(format!("cannot connect to {url}: {e}")))?,
            ),
            _ => None,
        };
        let io = TokioIo {
            target: o.target.clone(),
            max_frame_bytes: o.max_frame_bytes,
            tls,
            memory: self.memory,
        };
        let transport = arcp_client::AsyncIo::open(&io).await?;
        let (unrouted_tx, unrouted) = match o.unrouted_capacity {
            Some(cap) => {
                let (tx, rx) = mpsc::channel(cap);
                (
                    Some(UnroutedSink(tx)),
                    Some(link::ReceiverStream::new(rx).boxed()),
                )
            }
            None => (None, None),
        };
        let driver = ClientDriver::new(
            &o,
            tokio::time::Instant::now().into_std(),
            unix_micros(),
            Box::new(OsEntropy),
            unrouted_tx,
        );
        let shared = Arc::new(Shared::new(
            o.resume.as_ref().map_or(0, |r| r.last_event_seq),
        ));
        let (commands, rx) = mpsc::channel(o.command_capacity);
        let (welcome_tx, welcome_rx) = oneshot::channel();
        let task = DriverTask::new(
            io,
            driver,
            transport,
            link::ReceiverStream::new(rx),
            Arc::clone(&shared),
            welcome_tx,
        );
        tokio::spawn(task.run());
        let welcome = welcome_rx
            .await
            .unwrap_or(arcp_client::Answer::Failed(ClientError::Closed))
            .into_welcome()?;
        let link = TokioLink {
            commands,
            event_capacity: o.event_capacity,
        };
        Ok(Client::from_parts(link, shared, welcome, unrouted))
    }
}

/// The wall time now, in microseconds since the Unix epoch (the driver's wall anchor).
fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_types_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Client>();
        send_sync::<ClientError>();
        send_sync::<JobHandle>();
        send::<Subscription>();
        send::<UnroutedEvents>();
        send::<JobEvents>();
    }
}
