//! The outbox every part of the runtime pushes into: the transmit, effect and event queues,
//! effect ids, the deadline index and the counters. It knows nothing of connections, sessions
//! or jobs; the parent ([`Runtime`](super::Runtime)) drains it through its `poll_*` methods.

use super::effect::{ConnId, Effect, EffectId};
use super::encoding::Scratch;
use super::event::RuntimeEvent;
use super::fxhash::FxHashMap;
use super::metrics::RuntimeMetrics;
use crate::time::Instant;
use crate::timer::Timers;
use crate::wire::{Frame, Message};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// What a deadline in the runtime's index is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum TimerKey {
    /// Heartbeat tick of a connection.
    Heartbeat(ConnId),
    /// A detached session's resume window.
    ResumeWindow(String),
    /// A job's `max_runtime_sec` ([D8]).
    ///
    /// [D8]: crate::compat#d8--timeout
    MaxRuntime(String),
    /// A job's lease `expires_at` ([D30]).
    ///
    /// [D30]: crate::compat#d30--expiry
    LeaseExpiry(String),
    /// Retry a revocation: (job, revocation serial).
    RevokeRetry(String, u32),
    /// Zero-throughput check of a connection (spec §14).
    ZeroThroughput(ConnId),
    /// A connection's deadline for completing its `session.hello`.
    Hello(ConnId),
    /// A finished job's end of remembrance (`Bounds::finished_job_ttl`).
    FinishedJob(String),
    /// An expired session record's end of grace (`Bounds::expired_session_grace`).
    ExpiredSession(String),
    /// (Clustered) the next read of a remote job's frames for a subscription: (subscribing
    /// session, job).
    RemotePoll(String, String),
    /// (Clustered) ask the store again to admit a submit whose idempotency key names a job
    /// still being accepted on its node.
    AdmitRetry(String),
}

/// A queued outbound frame.
// `Plain` is boxed: a `Frame` is several hundred bytes, and every queued frame (the
// seq-bearing ones, the hot path, too) was moved at that size into and out of the queue.
#[derive(Debug)]
pub(super) enum Outgoing {
    /// A frame not kept in a ring (welcome, accepted, errors, pongs, …): encoded when handed
    /// out by [`Runtime::poll_transmit_encoded`](super::Runtime::poll_transmit_encoded).
    Plain(Box<Frame>),
    /// A ring-kept (seq-bearing) frame and the encoding the ring already made.
    Kept(Arc<Frame>, Bytes),
}

impl Outgoing {
    pub fn frame(&self) -> &Frame {
        match self {
            Outgoing::Plain(f) => f,
            Outgoing::Kept(f, _) => f,
        }
    }
}

/// `true` for the heartbeat messages, which are not throughput (spec §14).
pub(super) fn is_heartbeat(m: &Message) -> bool {
    matches!(m, Message::Ping(_) | Message::Pong(_))
}

/// The runtime's output queues, deadlines and counters.
#[derive(Debug)]
pub(super) struct Outbox {
    transmits: VecDeque<(ConnId, Outgoing)>,
    /// The frames of paused connections (their writer is full), in order, kept out of
    /// `transmits` until resumed; still counted against each connection's transmit cap.
    paused: FxHashMap<ConnId, VecDeque<Outgoing>>,
    /// Frames in `paused`, over all connections.
    paused_len: usize,
    effects: VecDeque<(EffectId, Effect)>,
    events: VecDeque<RuntimeEvent>,
    /// Bound of `events` (`Bounds::max_pending_events`): over it the oldest is dropped.
    max_events: usize,
    next_effect: u64,
    timers: Timers<TimerKey>,
    metrics: RuntimeMetrics,
    /// The reused encode buffer (ring entries and plain frames).
    pub scratch: Scratch,
}

impl Outbox {
    pub fn new(max_events: usize) -> Self {
        Outbox {
            transmits: VecDeque::new(),
            paused: FxHashMap::default(),
            paused_len: 0,
            effects: VecDeque::new(),
            events: VecDeque::new(),
            max_events,
            next_effect: 0,
            timers: Timers::new(),
            metrics: RuntimeMetrics::default(),
            scratch: Scratch::default(),
        }
    }

    // ---- transmits ----

    /// Queues `out` for `conn` (the caller has checked the connection's cap); a paused
    /// connection's frame is kept aside until it is resumed.
    pub fn push_transmit(&mut self, conn: ConnId, out: Outgoing) {
        if let Some(q) = self.paused.get_mut(&conn) {
            q.push_back(out);
            self.paused_len += 1;
            return;
        }
        self.transmits.push_back((conn, out));
    }

    /// Stops handing out `conn`'s frames: the queued ones and every later one are kept aside,
    /// in order, until [`Outbox::resume`]. `false` when it was already paused.
    pub fn pause(&mut self, conn: ConnId) -> bool {
        if self.paused.contains_key(&conn) {
            return false;
        }
        let mut kept = VecDeque::new();
        if self.transmits.iter().any(|(id, _)| *id == conn) {
            let mut rest = VecDeque::with_capacity(self.transmits.len());
            for (id, out) in self.transmits.drain(..) {
                if id == conn {
                    kept.push_back(out);
                } else {
                    rest.push_back((id, out));
                }
            }
            self.transmits = rest;
        }
        self.paused_len += kept.len();
        self.paused.insert(conn, kept);
        true
    }

    /// Hands out `conn`'s kept frames again (after every frame already queued), in order.
    /// `false` when it was not paused.
    pub fn resume(&mut self, conn: ConnId) -> bool {
        let Some(kept) = self.paused.remove(&conn) else {
            return false;
        };
        self.paused_len -= kept.len();
        self.transmits
            .extend(kept.into_iter().map(|out| (conn, out)));
        true
    }

    /// `true` while `conn` is paused.
    pub fn is_paused(&self, conn: ConnId) -> bool {
        self.paused.contains_key(&conn)
    }

    /// Frames kept aside for paused connections.
    pub fn paused_len(&self) -> usize {
        self.paused_len
    }

    /// Pops the next transmit and counts it.
    pub fn pop_transmit(&mut self) -> Option<(ConnId, Outgoing)> {
        let (conn, out) = self.transmits.pop_front()?;
        self.metrics
            .frame_out(matches!(out.frame().message, Message::Event(_)));
        Some((conn, out))
    }

    /// Drops every queued frame of `conn` (it is being closed), kept-aside ones included;
    /// the connection stays paused if it was.
    pub fn drop_transmits_for(&mut self, conn: ConnId) {
        self.transmits.retain(|(id, _)| *id != conn);
        if let Some(q) = self.paused.get_mut(&conn) {
            self.paused_len -= q.len();
            q.clear();
        }
    }

    /// Forgets `conn` (it is gone): its kept-aside frames and its pause.
    pub fn forget(&mut self, conn: ConnId) {
        if let Some(q) = self.paused.remove(&conn) {
            self.paused_len -= q.len();
        }
    }

    pub fn transmits_len(&self) -> usize {
        self.transmits.len()
    }

    // ---- effects ----

    /// Queues an effect under a fresh id.
    pub fn push_effect(&mut self, effect: Effect) -> EffectId {
        self.next_effect = self.next_effect.wrapping_add(1);
        let id = EffectId(self.next_effect);
        self.effects.push_back((id, effect));
        id
    }

    pub fn pop_effect(&mut self) -> Option<(EffectId, Effect)> {
        self.effects.pop_front()
    }

    // ---- events ----

    /// Counts and queues a runtime event; over the bound the oldest is dropped.
    pub fn push_event(&mut self, ev: RuntimeEvent) {
        self.metrics.observe(&ev);
        if self.events.len() >= self.max_events {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }

    pub fn pop_event(&mut self) -> Option<RuntimeEvent> {
        self.events.pop_front()
    }

    pub fn events_len(&self) -> usize {
        self.events.len()
    }

    // ---- deadlines ----

    /// Sets (or moves) the deadline of `key`.
    pub fn set_timer(&mut self, key: TimerKey, at: Instant) {
        self.timers.set(key, at);
    }

    pub fn cancel_timer(&mut self, key: &TimerKey) {
        self.timers.cancel(key);
    }

    /// One expired deadline, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<TimerKey> {
        self.timers.pop_expired(now).map(|(_, k)| k)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    // ---- counters ----

    pub fn metrics(&self) -> &RuntimeMetrics {
        &self.metrics
    }

    pub fn metrics_mut(&mut self) -> &mut RuntimeMetrics {
        &mut self.metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EventBody, JobEvent, LogBody, Ping, Timestamp};

    fn frame(message: Message) -> Frame {
        Frame::new("01M85JT4SBERX8YG2FYV5KWFFN", message)
    }

    #[test]
    fn effects_get_increasing_ids_and_leave_in_order() {
        let mut o = Outbox::new(4);
        let a = o.push_effect(Effect::CancelAgent {
            job_id: "job_a".into(),
        });
        let b = o.push_effect(Effect::CancelAgent {
            job_id: "job_b".into(),
        });
        assert_eq!((a, b), (EffectId(1), EffectId(2)));
        assert_eq!(
            o.pop_effect(),
            Some((
                EffectId(1),
                Effect::CancelAgent {
                    job_id: "job_a".into()
                }
            ))
        );
        assert_eq!(o.pop_effect().map(|(id, _)| id), Some(EffectId(2)));
        assert_eq!(o.pop_effect(), None);
    }

    #[test]
    fn events_are_bounded_oldest_dropped_and_counted() {
        let mut o = Outbox::new(2);
        for n in 0..3 {
            o.push_event(RuntimeEvent::SessionExpired {
                session_id: format!("sess_{n}").into(),
            });
        }
        o.push_event(RuntimeEvent::SessionOpened {
            conn: ConnId(1),
            session_id: "sess_x".into(),
            principal: "alice".into(),
            resumed: true,
        });
        assert_eq!(o.events_len(), 2);
        assert_eq!(
            o.pop_event(),
            Some(RuntimeEvent::SessionExpired {
                session_id: "sess_2".into()
            })
        );
        assert_eq!(o.metrics().resumes_succeeded, 1);
        assert_eq!(o.metrics().sessions_opened, 0);
    }

    #[test]
    fn transmits_count_frames_and_events_and_drop_per_connection() {
        let mut o = Outbox::new(8);
        let ev = Message::Event(JobEvent {
            ts: Timestamp::from_unix_micros(0),
            body: EventBody::Log(LogBody {
                level: "info".into(),
                message: "m".into(),
                attributes: None,
                extra: Default::default(),
            }),
        });
        let ping = Message::Ping(Ping {
            nonce: "n".into(),
            sent_at: Timestamp::from_unix_micros(0),
        });
        assert!(is_heartbeat(&ping) && !is_heartbeat(&ev));
        o.push_transmit(ConnId(1), Outgoing::Plain(Box::new(frame(ev.clone()))));
        o.push_transmit(ConnId(2), Outgoing::Plain(Box::new(frame(ping))));
        o.push_transmit(ConnId(1), Outgoing::Plain(Box::new(frame(ev))));
        o.drop_transmits_for(ConnId(1));
        assert_eq!(o.transmits_len(), 1);
        assert_eq!(o.pop_transmit().map(|(c, _)| c), Some(ConnId(2)));
        assert!(o.pop_transmit().is_none());
        assert_eq!((o.metrics().frames_out, o.metrics().events_out), (1, 0));
    }

    #[test]
    fn deadlines_pop_earliest_first() {
        let mut o = Outbox::new(1);
        o.set_timer(TimerKey::Heartbeat(ConnId(1)), Instant::from_millis(30));
        o.set_timer(TimerKey::ResumeWindow("s".into()), Instant::from_millis(10));
        o.set_timer(TimerKey::MaxRuntime("j".into()), Instant::from_millis(20));
        o.cancel_timer(&TimerKey::MaxRuntime("j".into()));
        assert_eq!(o.next_deadline(), Some(Instant::from_millis(10)));
        assert_eq!(o.pop_expired(Instant::from_millis(9)), None);
        assert_eq!(
            o.pop_expired(Instant::from_millis(40)),
            Some(TimerKey::ResumeWindow("s".into()))
        );
        assert_eq!(
            o.pop_expired(Instant::from_millis(40)),
            Some(TimerKey::Heartbeat(ConnId(1)))
        );
        assert_eq!(o.pop_expired(Instant::from_millis(40)), None);
    }
}
