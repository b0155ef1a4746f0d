//! [`ClientOptions`]: what every adapter's `ClientBuilder` sets, and the
//! [`client_builder_setters!`](crate::client_builder_setters) macro that gives the three
//! builders the same setters.

use crate::{FrameTap, ResumeRetry};
use arcp_proto::client::{AutoAck, ClientConfig, ResumeState};
use arcp_proto::wire::{DEFAULT_MAX_FRAME_BYTES, FeatureSet};
use std::ffi::OsString;
use std::time::Duration;

/// Where a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A WebSocket URL, e.g. `ws://127.0.0.1:7777/arcp`.
    WebSocket(String),
    /// A child process serving one session on its stdin/stdout: program, then arguments.
    Stdio(Vec<OsString>),
}

impl Target {
    /// `true` when a new transport reaches the same runtime (so a resume can succeed). A
    /// new stdio child is a new runtime.
    pub fn can_resume(&self) -> bool {
        matches!(self, Target::WebSocket(_))
    }
}

/// Every option of a client, as the builders set them.
#[derive(Clone)]
pub struct ClientOptions {
    /// Where to connect.
    pub target: Target,
    /// The bearer token.
    pub token: String,
    /// `client.name` of the hello.
    pub name: String,
    /// `client.version` of the hello.
    pub version: String,
    /// Requested features.
    pub features: FeatureSet,
    /// Feature names this version does not know, sent verbatim after the known ones (a
    /// runtime ignores them; they are never negotiated).
    pub extra_features: Vec<String>,
    /// Coalesced automatic acks.
    pub auto_ack: Option<AutoAck>,
    /// Automatic pings on an idle heartbeat interval.
    pub auto_ping: bool,
    /// Reconnect and resume after a transport loss (WebSocket only).
    pub auto_resume: bool,
    /// Resume this session instead of opening one.
    pub resume: Option<ResumeState>,
    /// Retry of a resume refused while the runtime sees the session attached (spec §6.3).
    pub resume_retry: ResumeRetry,
    /// Reconnect attempts before the session is given up.
    pub max_reconnect_attempts: u32,
    /// The first reconnect delay (doubling, with jitter).
    pub reconnect_delay: Duration,
    /// Largest inbound frame ([D35]).
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    pub max_frame_bytes: usize,
    /// Commands queued for the driver.
    pub command_capacity: usize,
    /// Unread events per job handle.
    pub event_capacity: usize,
    /// Events waiting for room in a full handle; while this many wait the transport is not
    /// read.
    pub max_buffered_events: usize,
    /// Keep frames of jobs without a handle in a stream of this many items.
    pub unrouted_capacity: Option<usize>,
    /// How long opening a transport plus the handshake may take.
    pub connect_timeout: Duration,
    /// Sees every frame.
    pub tap: Option<FrameTap>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("target", &self.target)
            .field("features", &self.features)
            .field("auto_resume", &self.auto_resume)
            .field("tap", &self.tap.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// The defaults for `target`, with `name`/`version` as the hello's client info: all
    /// eleven features, no auto-ack, automatic resume (5 attempts from 100 ms), 1 MiB frame
    /// cap, 64 commands, 256 events per handle, 1024 buffered events, 10 s to connect.
    pub fn new(target: Target, name: &str, version: &str) -> Self {
        ClientOptions {
            target,
            token: String::new(),
            name: name.to_owned(),
            version: version.to_owned(),
            features: FeatureSet::all(),
            extra_features: Vec::new(),
            auto_ack: None,
            auto_ping: false,
            auto_resume: true,
            resume: None,
            resume_retry: ResumeRetry::default(),
            max_reconnect_attempts: 5,
            reconnect_delay: Duration::from_millis(100),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            command_capacity: 64,
            event_capacity: 256,
            max_buffered_events: 1024,
            unrouted_capacity: None,
            connect_timeout: Duration::from_secs(10),
            tap: None,
        }
    }

    /// The core session's configuration.
    pub fn session_config(&self) -> ClientConfig {
        let mut config = ClientConfig::named(&self.name, &self.version, self.token.clone());
        config.features = self.features;
        config.extra_features = self.extra_features.clone();
        config.auto_ack = self.auto_ack;
        config.auto_ping = self.auto_ping;
        config.max_frame_bytes = self.max_frame_bytes;
        config
    }
}

/// The setters every adapter's `ClientBuilder` has, written once: expand it inside
/// `impl ClientBuilder { … }` of a struct with an `options: ClientOptions` field.
#[macro_export]
macro_rules! client_builder_setters {
    () => {
        /// The bearer token.
        pub fn token(mut self, token: impl Into<String>) -> Self {
            self.options.token = token.into();
            self
        }

        /// `client.name` and `client.version` of the hello.
        pub fn client_info(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
            self.options.name = name.into();
            self.options.version = version.into();
            self
        }

        /// The requested features (the negotiated set is their intersection with the
        /// runtime's, and nothing outside it is ever sent, [D26]). Default: all eleven.
        ///
        /// [D26]: arcp_proto::compat#d26--non-negotiated-features
        pub fn features<I>(mut self, features: I) -> Self
        where
            I: IntoIterator<Item = $crate::Feature>,
        {
            self.options.features = features.into_iter().collect();
            self
        }

        /// Feature names this version does not know, sent verbatim after the requested ones
        /// (a runtime ignores unknown names; they are never negotiated). Default: none.
        pub fn extra_features<I, S>(mut self, names: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.options.extra_features = names.into_iter().map(Into::into).collect();
            self
        }

        /// Coalesced automatic `session.ack`: once `every_n` events are unacknowledged, at
        /// most once per `interval` (the Python SDK's `AutoAckOptions`). Acks cover the
        /// events the client received, whether or not the application has read them yet.
        pub fn auto_ack(mut self, every_n: u64, interval: ::std::time::Duration) -> Self {
            self.options.auto_ack = Some($crate::AutoAck {
                every_n: every_n.max(1),
                interval,
            });
            self
        }

        /// Send a `session.ping` whenever nothing was sent for one heartbeat interval (only
        /// when `heartbeat` was negotiated; default off, like the reference client).
        pub fn auto_ping(mut self, on: bool) -> Self {
            self.options.auto_ping = on;
            self
        }

        /// Reconnect and resume by itself after a transport drop (default `true`; stdio
        /// never resumes, a new child being a new runtime). Without it, call
        /// `Client::resume`.
        pub fn auto_resume(mut self, on: bool) -> Self {
            self.options.auto_resume = on;
            self
        }

        /// Reconnect attempts before the session is given up (default 5), and the first
        /// delay (default 100 ms, doubling, with jitter).
        pub fn reconnect(mut self, attempts: u32, first_delay: ::std::time::Duration) -> Self {
            self.options.max_reconnect_attempts = attempts.max(1);
            self.options.reconnect_delay = first_delay;
            self
        }

        /// How a resume refused while the runtime still sees the session attached is
        /// retried (spec §6.3; default [`ResumeRetry::default`]($crate::ResumeRetry),
        /// `ResumeRetry::never()` to surface the first refusal).
        pub fn resume_retry(mut self, retry: $crate::ResumeRetry) -> Self {
            self.options.resume_retry = retry;
            self
        }

        /// Resume a session an earlier client (or process) opened, instead of opening one.
        pub fn resume(mut self, state: $crate::ResumeState) -> Self {
            self.options.resume = Some(state);
            self
        }

        /// Largest inbound frame (default 1 MiB, [D35]); mirrored into the WebSocket config
        /// and the stdio line cap.
        ///
        /// [D35]: arcp_proto::compat#d35--frame-size
        pub fn max_frame_bytes(mut self, n: usize) -> Self {
            self.options.max_frame_bytes = n.max(1);
            self
        }

        /// Commands queued for the driver (default 64); callers wait for room.
        pub fn command_capacity(mut self, n: usize) -> Self {
            self.options.command_capacity = n.max(1);
            self
        }

        /// Unread events per job handle (default 256).
        pub fn event_capacity(mut self, n: usize) -> Self {
            self.options.event_capacity = n.max(1);
            self
        }

        /// Events waiting for room in a full handle (default 1024). While this many wait
        /// the client stops reading from the transport; a subscription whose replay reaches
        /// it before `job.subscribed` fails with `ClientError::Overflow`.
        pub fn max_buffered_events(mut self, n: usize) -> Self {
            self.options.max_buffered_events = n.max(1);
            self
        }

        /// Keep frames of jobs without a handle in a stream of `capacity` items, taken with
        /// `Client::unrouted_events`; without it they are discarded.
        pub fn unrouted_events(mut self, capacity: usize) -> Self {
            self.options.unrouted_capacity = Some(capacity.max(1));
            self
        }

        /// How long opening the transport and the handshake may take (default 10 s).
        pub fn connect_timeout(mut self, d: ::std::time::Duration) -> Self {
            self.options.connect_timeout = d;
            self
        }

        /// Every frame written and read, and the transport's end, are reported to `tap` (on
        /// the client's driver: it must return quickly).
        pub fn frame_tap(mut self, tap: $crate::FrameTap) -> Self {
            self.options.tap = Some(tap);
            self
        }
    };
}
