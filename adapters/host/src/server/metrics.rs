//! [`ServerMetrics`]: the core's counters plus what only the host sees (bytes out), as a
//! snapshot the server handle reads.

use arcp_proto::runtime::RuntimeMetrics;
use std::sync::{Arc, Mutex};

/// A snapshot of a server's counters: the core's [`RuntimeMetrics`] (sessions opened, jobs
/// by final status, frames and events out, resume outcomes, auth failures by reason, limits
/// hit, and the spec §14 signals: subscribe decisions, operations refused by the lease, lease
/// expiries, heartbeat losses, failed revocations), the bytes of the encoded frames handed
/// to the transports, and what the host sees of the transports (connections, frames and bytes
/// in, slow-consumer cuts) and holds (live and resumable sessions, running jobs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerMetrics {
    /// The core's counters (`Runtime::metrics()`).
    pub runtime: RuntimeMetrics,
    /// Bytes of the encoded frames taken from `poll_transmit_encoded` (one per frame in
    /// `runtime.frames_out`; a line's newline and WebSocket framing not included).
    pub bytes_out: u64,
    /// Credentials whose revocation failed on every attempt, newest last (at most
    /// [`MAX_UNREVOKED`](super::MAX_UNREVOKED); older ones are counted in
    /// `unrevoked_dropped`). Each may still be honoured upstream: revoke it by hand.
    pub unrevoked: Vec<super::UnrevokedCredential>,
    /// Unrevoked credentials pushed out of `unrevoked` by newer ones.
    pub unrevoked_dropped: u64,
    /// Gauge: bytes of the job ends the host keeps for delegating parents' `wait_job`
    /// (bounded by `max_job_end_bytes`).
    pub job_end_bytes: u64,
    /// Transport connections opened (WebSocket connections past their handshake, stdio
    /// sessions).
    pub connections_opened: u64,
    /// Gauge: transport connections open now (opened and not yet reported closed).
    pub connections_open: u64,
    /// Complete inbound frames handed to the runtime (over-cap ones not included).
    pub frames_in: u64,
    /// Bytes of those frames (a line's newline and WebSocket framing not included).
    pub bytes_in: u64,
    /// Connections cut (1008) because their writer took nothing for
    /// `slow_consumer_timeout` (their sessions stay resumable).
    pub slow_consumer_cuts: u64,
    /// Gauge: sessions attached to a connection now.
    pub sessions_live: u64,
    /// Gauge: sessions detached and within their resume window now.
    pub sessions_resumable: u64,
    /// Gauge: agent tasks running now (one per running job).
    pub jobs_running: u64,
}

impl ServerMetrics {
    /// Gauge: every byte the server accounts for keeping now — the runtime's
    /// (`runtime.retained_bytes`: session rings, kept [D27] messages, finished job records)
    /// and the host's
    /// (`job_end_bytes`). An idle server that has forgotten everything reports 0.
    ///
    /// [D27]: arcp_proto::compat#d27--idempotent-resubmit
    pub fn retained_bytes(&self) -> u64 {
        self.runtime
            .retained_bytes
            .saturating_add(self.job_end_bytes)
    }
}

/// The shared cell the host publishes to (at most 5 ms after a change); cloned into server
/// handles.
#[derive(Debug, Clone, Default)]
pub struct MetricsHandle(Arc<Mutex<ServerMetrics>>);

impl MetricsHandle {
    /// The latest snapshot.
    pub fn get(&self) -> ServerMetrics {
        match self.0.lock() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn publish(&self, m: ServerMetrics) {
        match self.0.lock() {
            Ok(mut g) => *g = m,
            Err(poisoned) => *poisoned.into_inner() = m,
        }
    }
}
