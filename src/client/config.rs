//! [`ClientConfig`]: who the client is, what it asks for, and every bound it keeps.

use crate::wire::{AgentInfo, ClientInfo, DEFAULT_MAX_FRAME_BYTES, FeatureSet};
use serde_json::Map;
use std::time::Duration;

/// Coalesced automatic `session.ack` (the reference's `AutoAckOptions(every_n, interval_sec)`):
/// an ack is sent once at least `every_n` polled events are unacknowledged, and never more
/// often than once per `interval`. Only when `ack` was negotiated ([D26]).
///
/// [D26]: crate::compat#d26--non-negotiated-features
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoAck {
    /// Unacknowledged events that trigger an ack (at least 1).
    pub every_n: u64,
    /// Minimum time between two automatic acks.
    pub interval: Duration,
}

/// Configuration of a [`ClientSession`](super::ClientSession).
///
/// Every queue the session keeps is bounded by a field here; each field documents what
/// happens when the bound is reached.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `session.hello.payload.client`.
    pub client: ClientInfo,
    /// The bearer token.
    pub token: String,
    /// Requested feature flags; the negotiated set is their intersection with the runtime's.
    /// The hello lists them in the canonical order of [`Feature::ALL`](crate::wire::Feature::ALL).
    pub features: FeatureSet,
    /// Names sent in the hello after [`features`](Self::features), verbatim: flags this
    /// version does not know (a runtime ignores unknown names; they are never negotiated).
    /// Empty by default.
    pub extra_features: Vec<String>,
    /// `capabilities.agents` of the hello: the reference client sends `[]`; `None` omits it.
    pub hello_agents: Option<Vec<AgentInfo>>,
    /// Send a `session.ping` when nothing was sent for one heartbeat interval (only when
    /// `heartbeat` was negotiated). The reference client never pings on its own.
    pub auto_ping: bool,
    /// Coalesced automatic acks; `None` disables them.
    pub auto_ack: Option<AutoAck>,
    /// Largest inbound frame ([D35], default 1 MiB). A larger frame is refused: a
    /// `ProtocolError` event and a transport close; the session stays resumable.
    ///
    /// [D35]: crate::compat#d35--frame-size
    pub max_frame_bytes: usize,
    /// Requests awaiting an answer (submit, list_jobs, subscribe). At the bound the command
    /// returns [`ApiError::TooManyPending`](super::ApiError::TooManyPending).
    pub max_pending_requests: usize,
    /// Events not yet polled. When the queue holds this many, the next inbound frame is
    /// refused: an `EventQueueOverflow` event and a transport close; nothing is lost, the
    /// resume on the next connect replays from the last delivered `event_seq`.
    pub max_pending_events: usize,
    /// Frames not yet taken by `poll_transmit`. At the bound commands return
    /// [`ApiError::TransmitQueueFull`](super::ApiError::TransmitQueueFull) and automatic
    /// frames (pong, ping, ack) are dropped.
    pub max_pending_transmits: usize,
    /// Jobs observed through `job.subscribe`. At the bound `subscribe` returns
    /// [`ApiError::TooManySubscriptions`](super::ApiError::TooManySubscriptions).
    pub max_subscriptions: usize,
    /// Client pings awaiting their pong. At the bound `ping` returns
    /// [`ApiError::TooManyPending`](super::ApiError::TooManyPending); an automatic ping
    /// forgets the oldest one.
    pub max_outstanding_pings: usize,
    /// Decoded bytes of one result chunk ([D32], default 512 KiB). A larger chunk refuses its
    /// stream.
    ///
    /// [D32]: crate::compat#d32--chunk-order
    pub max_chunk_bytes: usize,
    /// Decoded bytes of one streamed result ([D32], default 64 MiB). A longer stream is refused.
    ///
    /// [D32]: crate::compat#d32--chunk-order
    pub max_result_bytes: usize,
    /// Result streams being reassembled at once. A stream opened beyond it is refused.
    pub max_open_results: usize,
    /// Ended jobs remembered so that a second terminal (or a late event) of a job is
    /// dropped; oldest forgotten first. The one allowed repeat is the terminal copy after an
    /// idempotent resubmit's `job.accepted` ([D27]), or a `subscribe` to the job again.
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub max_ended_jobs: usize,
}

impl ClientConfig {
    /// A configuration with the reference client's defaults: all features, `agents: []`,
    /// no automatic pings or acks, and the default bounds.
    pub fn new(client: ClientInfo, token: impl Into<String>) -> Self {
        ClientConfig {
            client,
            token: token.into(),
            features: FeatureSet::all(),
            extra_features: Vec::new(),
            hello_agents: Some(Vec::new()),
            auto_ping: false,
            auto_ack: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_pending_requests: 1024,
            max_pending_events: 8192,
            max_pending_transmits: 1024,
            max_subscriptions: 256,
            max_outstanding_pings: 16,
            max_chunk_bytes: 512 * 1024,
            max_result_bytes: 64 * 1024 * 1024,
            max_open_results: 64,
            max_ended_jobs: 4096,
        }
    }

    /// A configuration for client `name`/`version` with bearer `token`.
    pub fn named(name: &str, version: &str, token: impl Into<String>) -> Self {
        ClientConfig::new(
            ClientInfo {
                name: name.to_owned(),
                version: version.to_owned(),
                extra: Map::new(),
            },
            token,
        )
    }
}
