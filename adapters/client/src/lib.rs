//! # arcp-client: the client side every adapter shares
//!
//! arcp-tokio, arcp-futures and arcp-blocking expose one client API; everything in it that
//! is not a socket, a timer or a task lives here once. Sans-IO like the core: no clock, no
//! RNG, no socket (time and entropy come in from the adapter; the optional `stdio` feature
//! adds the one piece of IO, a child-process transport on std threads).
//!
//! - [`ClientDriver`]: owns the core [`ClientSession`](arcp_proto::client::ClientSession)
//!   and everything above it: the answer of every [`Command`] (matched by [`Ticket`]),
//!   per-job event routing into the adapter's bounded queues ([`JobSink`]) and the bounded
//!   stash of events waiting for room (while it is full the adapter stops reading: back-pressure,
//!   nothing lost), [D9] subscribe buffering, the [D6] cancel reason and the confirmed cancel,
//!   auto-ack and result-chunk reassembly (the core's), the reconnect and resume policy
//!   (backoff with jitter from the injected entropy, bounded attempts, [`ResumeRetry`] while
//!   the session is still attached), the frame tap. The adapter feeds it (`handle_*`,
//!   [`ClientDriver::handle_command`]), drains [`ClientDriver::poll_output`] and asks
//!   [`ClientDriver::poll_timeout`] last.
//! - The shared public types, re-exported by each adapter under the same names:
//!   [`ClientError`], [`SubmitRequest`], [`JobOutcome`], [`JobEventItem`], [`StreamItem`],
//!   [`JobInfo`], [`CloseReason`], [`Feature`], [`FeatureSet`], [`JobId`], [`SessionId`], [`ClientOptions`] (with
//!   [`client_builder_setters!`], the setters of every adapter's `ClientBuilder`).
//! - [`Shared`]: the session snapshot the application's getters read.
//!
//! [D9]: arcp_proto::compat#d9--job-subscribed
//! [D6]: arcp_proto::compat#d6--cancel

#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "channel")]
pub mod channel;
mod clock;
mod driver;
mod error;
#[cfg(feature = "async")]
mod facade;
mod options;
mod retry;
mod route;
mod shared;
#[cfg(feature = "stdio")]
mod stdio;
mod submit;
mod tap;
#[cfg(feature = "async")]
mod task;
mod types;

pub use clock::Clock;
pub use driver::{ClientDriver, Command, Output, Snapshot, Ticket};
pub use error::ClientError;
#[cfg(feature = "async")]
pub use facade::{AsyncLink, Client, JobEvents, JobHandle, Request, Subscription, UnroutedEvents};
pub use options::{ClientOptions, Target};
pub use retry::{ResumeRetry, reconnect_delay};
pub use route::{Blocked, BoundedSender, Discard, JobSink, TrySend};
pub use shared::{Shared, View};
#[cfg(feature = "stdio")]
pub use stdio::{StdioChild, StdioInbound};
pub use submit::SubmitRequest;
pub use tap::{FrameTap, TapEvent};
#[cfg(feature = "async")]
pub use task::{AsyncIo, DriverTask, Inbound, Wait};
pub use types::{Answer, JobError, JobEventItem, JobInfo, JobOutcome, StreamItem};

/// The core's client types an application uses directly.
pub use arcp_proto::client::{
    ApiError, AutoAck, ClientState, CloseReason, DEFAULT_CANCEL_REASON, ListJobsRequest,
    ResultValue, ResumeState, SeqSpace, WelcomeInfo,
};
/// Wire types a client application uses directly.
pub use arcp_proto::wire::{
    ErrorCode, Feature, FeatureSet, JobFilter, JobId, JobStatus, Jobs, LeaseConstraints, RequestId,
    SessionId, Subscribed, Timestamp,
};
