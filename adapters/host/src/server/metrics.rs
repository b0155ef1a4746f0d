//! [`ServerMetrics`]: the core's counters plus what only the host sees (bytes out), as a
//! snapshot the server handle reads.

use arcp_proto::runtime::RuntimeMetrics;
use std::sync::{Arc, Mutex};

/// A snapshot of a server's counters: the core's [`RuntimeMetrics`] (sessions opened, jobs
/// by final status, frames and events out, resume outcomes, auth failures by reason, limits
/// hit, and the spec §14 signals: subscribe decisions, operations refused by the lease, lease
/// expiries, heartbeat losses, failed revocations) and the bytes of the encoded frames handed
/// to the transports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerMetrics {
    /// The core's counters (`Runtime::metrics()`).
    pub runtime: RuntimeMetrics,
    /// Bytes of the encoded frames taken from `poll_transmit_encoded` (one per frame in
    /// `runtime.frames_out`; a line's newline and WebSocket framing not included).
    pub bytes_out: u64,
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
