//! The connections part: the table of transport connections, each one's phase (waiting for
//! its hello, authenticating, attached to a session, closing), its transmit-queue accounting,
//! and the decisions its timers need (heartbeat loss, [D25]; zero throughput, spec §14). The
//! parsing of a connection's first frame lives in [`hello`].
//!
//! It pushes nothing anywhere: every method answers what the parent should do.
//!
//! [D25]: crate::compat#d25--heartbeat-loss

pub(super) mod hello;

use super::effect::{ConnId, EffectId, TransportKind};
use super::fxhash::FxHashMap;
use crate::time::Instant;
use std::time::Duration;

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the first frame, which must be a hello.
    AwaitHello,
    /// The hello's token is being authenticated (or its welcome persisted, or its resume
    /// replay read): this effect's answer moves it on.
    Authenticating(EffectId),
    /// Attached to this session.
    Open(String),
    /// Being closed; nothing more is sent or handled.
    Closing,
}

/// How an inbound frame on a connection is to be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inbound {
    /// No such connection, or it is closing: ignore the frame.
    Ignore,
    /// Before the handshake completed.
    Handshake(TransportKind),
    /// On an attached session.
    Open(TransportKind),
}

/// Whether a frame may be queued for a connection (its transmit cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reserve {
    /// Counted: queue it.
    Queued,
    /// No such connection, or it is closing: drop the frame.
    Dropped,
    /// Over the cap: the connection's count was reset; close it as a slow consumer.
    Full,
}

/// What a connection's heartbeat tick calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Heartbeat {
    /// Not attached (or gone): the tick is dropped.
    Skip,
    /// Nothing received for two intervals ([D25]).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    Lost,
    /// Send a ping and tick again one interval later.
    Ping,
}

/// What a connection's zero-throughput check calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Throughput {
    /// Gone or closing.
    Skip,
    /// Active since: check again at this instant.
    CheckAt(Instant),
    /// Idle past the timeout: close it.
    Idle,
}

/// One transport connection.
#[derive(Debug)]
struct Conn {
    kind: TransportKind,
    phase: Phase,
    /// Frames queued in the outbox for this connection.
    queued: usize,
    last_rx: Instant,
    /// Last non-heartbeat frame received or handed out (zero-throughput limit).
    last_activity: Instant,
    /// Credentials must not travel over it (§9.8: a cleartext, non-loopback transport).
    withhold_credentials: bool,
}

/// Every open transport connection, keyed by the host's [`ConnId`].
#[derive(Debug, Default)]
pub(super) struct Connections {
    map: FxHashMap<ConnId, Conn>,
}

impl Connections {
    /// A connection opened; it waits for its hello.
    pub fn open(&mut self, now: Instant, conn: ConnId, kind: TransportKind) {
        self.map.insert(
            conn,
            Conn {
                kind,
                phase: Phase::AwaitHello,
                queued: 0,
                last_rx: now,
                last_activity: now,
                withhold_credentials: false,
            },
        );
    }

    /// Credentials must not travel over `conn`.
    pub fn withhold_credentials(&mut self, conn: ConnId) {
        if let Some(c) = self.map.get_mut(&conn) {
            c.withhold_credentials = true;
        }
    }

    /// `true` when credentials must not travel over `conn`.
    pub fn withholds_credentials(&self, conn: ConnId) -> bool {
        self.map.get(&conn).is_some_and(|c| c.withhold_credentials)
    }

    /// Forgets a connection.
    pub fn remove(&mut self, conn: ConnId) {
        self.map.remove(&conn);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Every connection, in id order.
    pub fn ids(&self) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self.map.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// A frame arrived on `conn` at `now`: how to handle it.
    pub fn receive(&mut self, now: Instant, conn: ConnId) -> Inbound {
        let Some(c) = self.map.get_mut(&conn) else {
            return Inbound::Ignore;
        };
        c.last_rx = now;
        match c.phase {
            Phase::Closing => Inbound::Ignore,
            Phase::Open(_) => Inbound::Open(c.kind),
            Phase::AwaitHello | Phase::Authenticating(_) => Inbound::Handshake(c.kind),
        }
    }

    /// An oversized frame arrived ([D35]): the transport, unless gone or closing.
    ///
    /// [D35]: crate::compat#d35--frame-size
    pub fn receive_oversized(&mut self, now: Instant, conn: ConnId) -> Option<TransportKind> {
        let c = self.map.get_mut(&conn)?;
        if c.phase == Phase::Closing {
            return None;
        }
        c.last_rx = now;
        Some(c.kind)
    }

    /// Throughput on `conn` (anything but a heartbeat, spec §14).
    pub fn activity(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.map.get_mut(&conn) {
            c.last_activity = now;
        }
    }

    pub fn phase(&self, conn: ConnId) -> Option<&Phase> {
        self.map.get(&conn).map(|c| &c.phase)
    }

    pub fn set_phase(&mut self, conn: ConnId, phase: Phase) {
        if let Some(c) = self.map.get_mut(&conn) {
            c.phase = phase;
        }
    }

    /// `true` while `conn` waits for effect `effect` (its hello's authentication, its
    /// welcome's record, its resume replay).
    pub fn awaits(&self, conn: ConnId, effect: EffectId) -> bool {
        self.phase(conn) == Some(&Phase::Authenticating(effect))
    }

    /// The session `conn` is attached to.
    #[inline]
    pub fn session_of(&self, conn: ConnId) -> Option<&str> {
        match self.phase(conn)? {
            Phase::Open(sid) => Some(sid),
            _ => None,
        }
    }

    /// Detaches `conn` from its session (back to waiting for a hello); returns the session.
    pub fn detach(&mut self, conn: ConnId) -> Option<String> {
        let c = self.map.get_mut(&conn)?;
        if !matches!(c.phase, Phase::Open(_)) {
            return None;
        }
        match std::mem::replace(&mut c.phase, Phase::AwaitHello) {
            Phase::Open(sid) => Some(sid),
            _ => None,
        }
    }

    /// `true` while `conn` has not completed its hello (waiting for it, or for its
    /// authentication, welcome record or resume replay).
    pub fn awaits_hello(&self, conn: ConnId) -> bool {
        matches!(
            self.phase(conn),
            Some(Phase::AwaitHello | Phase::Authenticating(_))
        )
    }

    /// `true` when `conn` exists and is not already closing.
    pub fn closable(&self, conn: ConnId) -> bool {
        self.phase(conn).is_some_and(|p| *p != Phase::Closing)
    }

    /// Counts one more frame for `conn` against `cap`.
    #[inline]
    pub fn reserve(&mut self, conn: ConnId, cap: usize) -> Reserve {
        let Some(c) = self.map.get_mut(&conn) else {
            return Reserve::Dropped;
        };
        if c.phase == Phase::Closing {
            return Reserve::Dropped;
        }
        if c.queued >= cap {
            c.queued = 0;
            return Reserve::Full;
        }
        c.queued += 1;
        Reserve::Queued
    }

    /// A frame for `conn` was handed to the host at `now`; returns the connection's session
    /// when that emptied its queue (what [`Conns::queued`] and [`Conns::session_of`] would
    /// say, from one lookup).
    #[inline]
    pub fn dequeued(&mut self, now: Instant, conn: ConnId, heartbeat: bool) -> Option<&str> {
        let c = self.map.get_mut(&conn)?;
        c.queued = c.queued.saturating_sub(1);
        if !heartbeat {
            c.last_activity = now;
        }
        match &c.phase {
            Phase::Open(sid) if c.queued == 0 => Some(sid),
            _ => None,
        }
    }

    /// Frames queued for `conn`.
    pub fn queued(&self, conn: ConnId) -> usize {
        self.map.get(&conn).map_or(0, |c| c.queued)
    }

    /// The heartbeat tick of `conn` at `now` ([D25]: lost after two silent intervals).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    pub fn heartbeat(&self, now: Instant, conn: ConnId, interval: Duration) -> Heartbeat {
        let Some(c) = self.map.get(&conn) else {
            return Heartbeat::Skip;
        };
        if !matches!(c.phase, Phase::Open(_)) {
            return Heartbeat::Skip;
        }
        if now.saturating_duration_since(c.last_rx) >= interval * 2 {
            Heartbeat::Lost
        } else {
            Heartbeat::Ping
        }
    }

    /// The zero-throughput check of `conn` at `now`, idle after `after` (spec §14).
    pub fn throughput(&self, now: Instant, conn: ConnId, after: Duration) -> Throughput {
        let Some(c) = self.map.get(&conn) else {
            return Throughput::Skip;
        };
        if c.phase == Phase::Closing {
            return Throughput::Skip;
        }
        let due = c.last_activity + after;
        if now < due {
            Throughput::CheckAt(due)
        } else {
            Throughput::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ConnId = ConnId(7);

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn open() -> Connections {
        let mut t = Connections::default();
        t.open(ms(0), C, TransportKind::Stdio);
        t
    }

    #[test]
    fn phases_route_frames_and_detach_returns_the_session() {
        let mut t = open();
        assert_eq!(
            t.receive(ms(1), C),
            Inbound::Handshake(TransportKind::Stdio)
        );
        assert_eq!(t.receive(ms(1), ConnId(8)), Inbound::Ignore);
        t.set_phase(C, Phase::Authenticating(EffectId(3)));
        assert!(t.awaits(C, EffectId(3)));
        assert!(!t.awaits(C, EffectId(4)));
        t.set_phase(C, Phase::Open("sess_1".into()));
        assert_eq!(t.session_of(C), Some("sess_1"));
        assert_eq!(t.receive(ms(2), C), Inbound::Open(TransportKind::Stdio));
        assert_eq!(t.detach(C), Some("sess_1".to_owned()));
        assert_eq!(t.detach(C), None);
        assert_eq!(t.phase(C), Some(&Phase::AwaitHello));
        t.set_phase(C, Phase::Closing);
        assert!(!t.closable(C));
        assert_eq!(t.receive(ms(3), C), Inbound::Ignore);
        assert_eq!(t.receive_oversized(ms(3), C), None);
        t.remove(C);
        assert_eq!(t.len(), 0);
        assert!(!t.closable(C));
    }

    #[test]
    fn transmit_cap_counts_and_resets_when_full() {
        let mut t = open();
        assert_eq!(t.reserve(C, 2), Reserve::Queued);
        assert_eq!(t.reserve(C, 2), Reserve::Queued);
        assert_eq!(t.queued(C), 2);
        assert_eq!(t.reserve(C, 2), Reserve::Full);
        assert_eq!(t.queued(C), 0);
        assert_eq!(t.reserve(ConnId(9), 2), Reserve::Dropped);
        t.reserve(C, 2);
        t.dequeued(ms(5), C, true);
        t.dequeued(ms(5), C, true);
        assert_eq!(t.queued(C), 0);
    }

    #[test]
    fn heartbeat_is_lost_after_two_silent_intervals_d25() {
        let mut t = open();
        let i = Duration::from_secs(30);
        assert_eq!(t.heartbeat(ms(60_000), C, i), Heartbeat::Skip);
        t.set_phase(C, Phase::Open("sess_1".into()));
        assert_eq!(t.heartbeat(ms(59_999), C, i), Heartbeat::Ping);
        assert_eq!(t.heartbeat(ms(60_000), C, i), Heartbeat::Lost);
        t.receive(ms(40_000), C);
        assert_eq!(t.heartbeat(ms(60_000), C, i), Heartbeat::Ping);
    }

    #[test]
    fn zero_throughput_counts_activity_but_not_heartbeats() {
        let mut t = open();
        let after = Duration::from_secs(10);
        assert_eq!(
            t.throughput(ms(9_000), C, after),
            Throughput::CheckAt(ms(10_000))
        );
        t.dequeued(ms(8_000), C, true);
        assert_eq!(t.throughput(ms(10_000), C, after), Throughput::Idle);
        t.dequeued(ms(8_000), C, false);
        assert_eq!(
            t.throughput(ms(10_000), C, after),
            Throughput::CheckAt(ms(18_000))
        );
        t.activity(ms(9_000), C);
        assert_eq!(t.throughput(ms(19_000), C, after), Throughput::Idle);
        t.set_phase(C, Phase::Closing);
        assert_eq!(t.throughput(ms(19_000), C, after), Throughput::Skip);
    }
}
