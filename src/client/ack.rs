//! Coalesced automatic acks (the reference's `AutoAckOptions(every_n, interval_sec)`).

use super::config::AutoAck;
use crate::time::Instant;

#[derive(Debug, Clone, Default)]
pub(crate) struct AutoAcker {
    options: Option<AutoAck>,
    /// Highest session `event_seq` the host has polled.
    polled: u64,
    /// Highest `event_seq` acked.
    acked: u64,
    last_ack_at: Option<Instant>,
}

impl AutoAcker {
    pub fn new(options: Option<AutoAck>) -> Self {
        AutoAcker {
            options,
            ..AutoAcker::default()
        }
    }

    /// A new session: nothing polled or acked yet in its numbering.
    pub fn reset(&mut self, last: u64) {
        self.polled = last;
        self.acked = last;
        self.last_ack_at = None;
    }

    pub fn on_polled(&mut self, seq: u64) {
        self.polled = self.polled.max(seq);
    }

    pub fn on_acked(&mut self, now: Instant, seq: u64) {
        self.acked = self.acked.max(seq);
        self.last_ack_at = Some(now);
    }

    /// When the next automatic ack is due: once `every_n` polled events are unacked, at
    /// the earliest `interval` after the previous ack.
    pub fn due(&self) -> Option<Instant> {
        let o = self.options?;
        if self.polled.saturating_sub(self.acked) < o.every_n.max(1) {
            return None;
        }
        Some(self.last_ack_at.map_or(Instant::ZERO, |t| t + o.interval))
    }

    /// The seq to ack now.
    pub fn polled(&self) -> u64 {
        self.polled
    }
}
