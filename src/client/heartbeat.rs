//! Heartbeats (spec §6.4, [D25], [D26]): ping after one idle *sending* interval, declare
//! the peer lost after two intervals without any inbound frame.
//!
//! [D25]: crate::compat#d25--heartbeat-loss
//! [D26]: crate::compat#d26--non-negotiated-features

use crate::time::Instant;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Heartbeat {
    interval: Option<Duration>,
    auto_ping: bool,
    last_sent: Instant,
    last_recv: Instant,
}

impl Heartbeat {
    /// Starts monitoring at `now` with the negotiated interval (none when `heartbeat` was
    /// not negotiated, [D26]).
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub fn start(&mut self, now: Instant, interval: Option<Duration>, auto_ping: bool) {
        *self = Heartbeat {
            interval: interval.filter(|i| !i.is_zero()),
            auto_ping,
            last_sent: now,
            last_recv: now,
        };
    }

    /// The welcome arrived: monitoring starts, counting sends from the hello.
    pub fn enable(&mut self, now: Instant, interval: Option<Duration>, auto_ping: bool) {
        self.interval = interval.filter(|i| !i.is_zero());
        self.auto_ping = auto_ping;
        self.last_recv = self.last_recv.max(now);
    }

    pub fn stop(&mut self) {
        self.interval = None;
    }

    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    pub fn on_sent(&mut self, now: Instant) {
        self.last_sent = self.last_sent.max(now);
    }

    pub fn on_received(&mut self, now: Instant) {
        self.last_recv = self.last_recv.max(now);
    }

    /// When to ping: one interval after the last frame sent, so a busy link carries no
    /// extra pings.
    pub fn ping_at(&self) -> Option<Instant> {
        self.interval
            .filter(|_| self.auto_ping)
            .map(|i| self.last_sent + i)
    }

    /// When the peer counts as lost: two intervals after the last frame received ([D25]).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    pub fn lost_at(&self) -> Option<Instant> {
        self.interval.map(|i| self.last_recv + i.saturating_mul(2))
    }
}
