//! The per-session event ring: every seq-bearing frame of a session, kept for resume replay
//! and subscription history. It is the session's buffer, and what may leave it is a policy
//! ([`Evict`]):
//!
//! - **Backpressure** (no durable store): an ack frees acked events ([D5]); past the caps
//!   (`max_ring_events`, `max_ring_bytes`) the oldest *delivered* events go, but never the
//!   margin (the newest delivered events, `ring_margin_events` or `ring_margin_bytes`,
//!   whichever covers more: what a cut connection may have had in flight) and never an
//!   undelivered one. When the undelivered events reach a cap the ring is
//!   [full](EventRing::full): the jobs feeding the session wait (see `Runtime::job_held`).
//! - **Durable** (a store holds the log): only durable events may go; the ring is a cache.
//! - **Drop oldest** (the client said `session.bye`): past a cap the oldest go, whatever
//!   they are; nothing waits.
//!
//! A resume below what is still kept gets `RESUME_WINDOW_EXPIRED`, never a silent gap.
//!
//! [D5]: crate::compat#d5--ack

use crate::runtime::encoding::Scratch;
use crate::wire::Frame;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// One kept frame, with its encoding: encoded once here, the same bytes size the ring, go to
/// the transport ([`Runtime::poll_transmit_encoded`](crate::runtime::Runtime::poll_transmit_encoded))
/// and are replayed on resume.
#[derive(Debug, Clone)]
pub(in crate::runtime) struct RingEntry {
    pub seq: u64,
    pub frame: Arc<Frame>,
    pub encoded: Bytes,
    /// A copy of another stream's frame (a subscription's history or its truncation
    /// notice), not one of this session's own job frames: a later history leaves it out.
    pub copy: bool,
    /// Bytes pushed into this ring up to and including this entry.
    cum: u64,
}

/// What may be evicted past the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::runtime) enum Evict {
    /// Delivered events older than the margin (no durable store).
    Delivered,
    /// Events with seq ≤ this (durable in the store).
    DurableThrough(u64),
    /// Anything, oldest first (after `session.bye`).
    Oldest,
}

/// The caps of one ring.
#[derive(Debug, Clone, Copy)]
pub(in crate::runtime) struct RingCaps {
    pub max_events: usize,
    pub max_bytes: usize,
    pub margin_events: u64,
    pub margin_bytes: u64,
}

/// The ring of one session.
#[derive(Debug, Clone)]
pub(in crate::runtime) struct EventRing {
    entries: VecDeque<RingEntry>,
    bytes: usize,
    caps: RingCaps,
    /// Every seq ≤ this has been freed (acked or dropped); 0 when nothing was.
    freed_through: u64,
    /// Bytes ever pushed (the last entry's `cum`).
    pushed: u64,
    /// The delivery frontier: every kept seq ≤ this was handed to the transport of the
    /// current connection (or acked, or confirmed by a resume's `last_event_seq`).
    delivered: u64,
}

impl EventRing {
    pub fn new(caps: RingCaps) -> Self {
        EventRing {
            entries: VecDeque::new(),
            bytes: 0,
            caps,
            freed_through: 0,
            pushed: 0,
            delivered: 0,
        }
    }

    /// Keeps `frame` (whose `event_seq` is `seq`), then evicts what `evict` allows while over
    /// a cap; returns the kept frame and its encoding (shared, not copied). The frame is
    /// encoded into `scratch` (the runtime's reused buffer) and copied out at its exact
    /// length: one allocation, no regrowth.
    pub fn push(
        &mut self,
        seq: u64,
        frame: Frame,
        scratch: &mut Scratch,
        evict: Evict,
        copy: bool,
    ) -> (Arc<Frame>, Bytes) {
        let encoded = scratch.encode(&frame);
        let frame = Arc::new(frame);
        self.bytes = self.bytes.saturating_add(encoded.len());
        self.pushed = self.pushed.saturating_add(encoded.len() as u64);
        self.entries.push_back(RingEntry {
            seq,
            frame: frame.clone(),
            encoded: encoded.clone(),
            copy,
            cum: self.pushed,
        });
        self.evict(evict);
        (frame, encoded)
    }

    /// Evicts, oldest first, what `evict` allows while over a cap.
    pub fn evict(&mut self, evict: Evict) {
        if !self.over() {
            return;
        }
        let (seq, cum) = self.floor(evict);
        while self.over() {
            match self.entries.front() {
                Some(e) if e.seq <= seq && e.cum <= cum => self.pop_front(),
                _ => break,
            }
        }
    }

    fn over(&self) -> bool {
        self.entries.len() > self.caps.max_events || self.bytes > self.caps.max_bytes
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes = self.bytes.saturating_sub(e.encoded.len());
            self.freed_through = self.freed_through.max(e.seq);
        }
    }

    /// What `evict` allows to go, as bounds on the kept entries: an entry may go when its seq
    /// and its `cum` are both at most these. (Entries go oldest first, and `cum` grows with
    /// seq, so the bound on `cum` stands for "older than the newest entry within it".)
    fn floor(&self, evict: Evict) -> (u64, u64) {
        match evict {
            Evict::Oldest => (u64::MAX, u64::MAX),
            Evict::DurableThrough(d) => (d, u64::MAX),
            Evict::Delivered => {
                // The margin is the union of the newest `margin_events` delivered events and
                // the newest delivered ones within `margin_bytes`: an entry goes only when
                // it is past both.
                let by_events = self.delivered.saturating_sub(self.caps.margin_events);
                let limit = self.cum_through(self.delivered);
                match limit.checked_sub(self.caps.margin_bytes) {
                    Some(c) => (by_events, c),
                    // Fewer delivered bytes than the margin: nothing goes.
                    None => (0, 0),
                }
            }
        }
    }

    /// How many kept entries have seq ≤ `seq` (the index of the first one after it). Kept seqs
    /// grow, usually by one: the entry where that puts `seq` is checked first, and a binary
    /// search runs only when it is not the answer.
    fn index_after(&self, seq: u64) -> usize {
        let Some(front) = self.entries.front() else {
            return 0;
        };
        let len = self.entries.len();
        let guess = match seq.checked_sub(front.seq) {
            None => return 0,
            Some(d) => usize::try_from(d).map_or(len, |d| d.saturating_add(1).min(len)),
        };
        let below = guess == 0 || self.entries.get(guess - 1).is_some_and(|e| e.seq <= seq);
        let above = self.entries.get(guess).is_none_or(|e| e.seq > seq);
        if below && above {
            guess
        } else {
            self.entries.partition_point(|e| e.seq <= seq)
        }
    }

    /// Bytes pushed up to and including `seq` (the kept entries' running sum; a freed seq
    /// counts as the whole freed prefix).
    fn cum_through(&self, seq: u64) -> u64 {
        let i = self.index_after(seq);
        match i.checked_sub(1).and_then(|i| self.entries.get(i)) {
            Some(e) => e.cum,
            None => self
                .entries
                .front()
                .map_or(self.pushed, |e| e.cum - e.encoded.len() as u64),
        }
    }

    /// `true` when `evict` leaves no room: the events it may not evict have reached a cap
    /// (undelivered ones for [`Evict::Delivered`], not-yet-durable ones for
    /// [`Evict::DurableThrough`]). Never for [`Evict::Oldest`].
    pub fn full(&self, evict: Evict) -> bool {
        let (events, bytes) = self.room(evict);
        events == 0 || bytes == 0
    }

    /// How many more events and encoded bytes fit before the ring is [full](Self::full).
    pub fn room(&self, evict: Evict) -> (u64, u64) {
        let from = match evict {
            Evict::Oldest => return (u64::MAX, u64::MAX),
            Evict::DurableThrough(d) => d,
            Evict::Delivered => self.delivered,
        };
        let (events, bytes) = match self.entries.back() {
            Some(last) => (
                last.seq.saturating_sub(from.max(self.freed_through)),
                self.pushed.saturating_sub(self.cum_through(from)),
            ),
            None => (0, 0),
        };
        (
            (self.caps.max_events as u64).saturating_sub(events),
            (self.caps.max_bytes as u64).saturating_sub(bytes),
        )
    }

    /// The frame `seq` was handed to the transport of the current connection.
    pub fn delivered(&mut self, seq: u64) {
        self.delivered = self.delivered.max(seq);
    }

    /// A resume confirmed every seq ≤ `last` (and nothing above: everything after it is
    /// replayed, so undelivered again).
    pub fn resumed(&mut self, last: u64) {
        let back = self.entries.back().map_or(self.freed_through, |e| e.seq);
        self.delivered = last.min(back.max(self.freed_through));
    }

    /// Frees every entry with seq ≤ `seq` ([D5]: only acked ones); acked counts as delivered.
    ///
    /// [D5]: crate::compat#d5--ack
    pub fn ack(&mut self, seq: u64) {
        while let Some(e) = self.entries.front() {
            if e.seq > seq {
                break;
            }
            self.pop_front();
        }
        self.freed_through = self.freed_through.max(seq);
        self.delivered = self.delivered.max(seq);
    }

    /// `true` when every frame after `last_seq` is still kept.
    pub fn covers_after(&self, last_seq: u64) -> bool {
        last_seq >= self.freed_through
    }

    /// The kept frames with seq > `last_seq`, in order (found by `index_after`, not a scan —
    /// the durable path calls this once per completed append).
    pub fn after(&self, last_seq: u64) -> impl Iterator<Item = &RingEntry> {
        let start = self.index_after(last_seq);
        self.entries.range(start..)
    }

    /// Every kept frame.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &RingEntry> {
        self.entries.iter()
    }

    /// Frames kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Encoded bytes kept.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn freed_through(&self) -> u64 {
        self.freed_through
    }

    /// Marks every seq ≤ `seq` as no longer kept here (a restored session's events live in
    /// the store only).
    pub fn mark_freed(&mut self, seq: u64) {
        self.freed_through = self.freed_through.max(seq);
        self.delivered = self.delivered.max(seq);
    }

    /// Drops everything (the session is gone).
    pub fn clear(&mut self) {
        if let Some(last) = self.entries.back() {
            self.freed_through = self.freed_through.max(last.seq);
        }
        // Release the buffer too: `clear` keeps the capacity, and a ring that once held its
        // cap (10,000 events plus the margin) would keep ~1 MiB per expired record.
        self.entries = VecDeque::new();
        self.bytes = 0;
        self.delivered = self.delivered.max(self.freed_through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ack, Message};

    fn frame(seq: u64) -> Frame {
        Frame::new(
            "01M85JT4SBERX8YG2FYV5KWFFN",
            Message::Ack(Ack {
                last_processed_seq: seq,
            }),
        )
        .with_event_seq(seq)
    }

    fn caps(max_events: usize, max_bytes: usize, margin_events: u64) -> RingCaps {
        RingCaps {
            max_events,
            max_bytes,
            margin_events,
            margin_bytes: 0,
        }
    }

    fn push(r: &mut EventRing, seqs: std::ops::RangeInclusive<u64>, evict: Evict) {
        for s in seqs {
            r.push(s, frame(s), &mut Scratch::default(), evict, false);
        }
    }

    fn kept(r: &EventRing) -> Vec<u64> {
        r.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn index_after_matches_a_binary_search_with_and_without_gaps() {
        let mut r = EventRing::new(caps(100, usize::MAX, 0));
        assert_eq!(r.index_after(5), 0);
        push(&mut r, 3..=6, Evict::Oldest);
        push(&mut r, 9..=9, Evict::Oldest);
        push(&mut r, 20..=22, Evict::Oldest);
        assert_eq!(kept(&r), [3, 4, 5, 6, 9, 20, 21, 22]);
        let expected = [
            0, 0, 0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 8,
        ];
        for (seq, want) in expected.iter().enumerate() {
            let seq = seq as u64;
            assert_eq!(r.index_after(seq), *want, "seq {seq}");
            assert_eq!(r.entries.partition_point(|e| e.seq <= seq), *want);
        }
        assert_eq!(r.index_after(u64::MAX), 8);
        // `after` starts there.
        let after: Vec<u64> = r.after(6).map(|e| e.seq).collect();
        assert_eq!(after, [9, 20, 21, 22]);
    }

    #[test]
    fn clear_releases_the_buffer() {
        let mut r = EventRing::new(caps(100, usize::MAX, 0));
        push(&mut r, 1..=64, Evict::Oldest);
        assert!(r.entries.capacity() >= 64);
        r.clear();
        assert_eq!((r.len(), r.bytes(), r.entries.capacity()), (0, 0, 0));
        assert_eq!(r.freed_through(), 64);
    }

    #[test]
    fn drop_oldest_past_the_count_cap_reports_the_gap() {
        let mut r = EventRing::new(caps(3, usize::MAX, 0));
        push(&mut r, 1..=5, Evict::Oldest);
        assert_eq!(r.len(), 3);
        assert_eq!(r.freed_through(), 2);
        assert!(!r.covers_after(1));
        assert!(r.covers_after(2));
        assert_eq!(r.after(3).map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert!(!r.full(Evict::Oldest));
    }

    #[test]
    fn drop_oldest_past_the_byte_cap() {
        let one = frame(1).encode().len();
        let mut r = EventRing::new(caps(100, one * 2, 0));
        push(&mut r, 1..=4, Evict::Oldest);
        assert_eq!(r.len(), 2);
        assert_eq!(r.bytes(), one * 2);
        assert_eq!(r.freed_through(), 2);
    }

    #[test]
    fn ack_frees_only_acked_d5() {
        let mut r = EventRing::new(caps(100, usize::MAX, 0));
        push(&mut r, 1..=5, Evict::Delivered);
        r.ack(3);
        assert_eq!(kept(&r), vec![4, 5]);
        assert!(r.covers_after(3));
        assert!(!r.covers_after(2));
    }

    #[test]
    fn undelivered_events_are_never_evicted_and_fill_the_ring() {
        let mut r = EventRing::new(caps(3, usize::MAX, 1));
        push(&mut r, 1..=2, Evict::Delivered);
        assert!(!r.full(Evict::Delivered));
        push(&mut r, 3..=5, Evict::Delivered);
        // Over the cap, but nothing was delivered: all five stay, the ring is full.
        assert_eq!(kept(&r), vec![1, 2, 3, 4, 5]);
        assert!(r.full(Evict::Delivered));
        // 1..=3 delivered: 1 and 2 are past the one-event margin; 3 is the margin.
        r.delivered(3);
        assert!(!r.full(Evict::Delivered));
        r.evict(Evict::Delivered);
        assert_eq!(kept(&r), vec![3, 4, 5]);
        assert_eq!(r.freed_through(), 2);
    }

    #[test]
    fn a_reader_that_never_acks_keeps_only_the_margin_and_is_never_full() {
        let mut r = EventRing::new(caps(4, usize::MAX, 2));
        for s in 1..=50 {
            r.push(
                s,
                frame(s),
                &mut Scratch::default(),
                Evict::Delivered,
                false,
            );
            assert!(!r.full(Evict::Delivered), "seq {s}");
            r.delivered(s);
        }
        assert_eq!(kept(&r), vec![47, 48, 49, 50]);
        // A cut connection resumes within the margin: nothing lost.
        assert!(r.covers_after(48));
    }

    #[test]
    fn the_margin_also_covers_margin_bytes_of_delivered_frames() {
        let one = frame(1).encode().len() as u64;
        let mut r = EventRing::new(RingCaps {
            max_events: 2,
            max_bytes: usize::MAX,
            margin_events: 1,
            margin_bytes: 3 * one,
        });
        push(&mut r, 1..=10, Evict::Delivered);
        r.delivered(10);
        r.evict(Evict::Delivered);
        // 8..=10 are within three frames' bytes (seq 10 is two digits longer): 7 is past
        // both margins and goes.
        assert_eq!(kept(&r), vec![8, 9, 10]);
    }

    #[test]
    fn a_resume_makes_everything_after_its_seq_undelivered_again() {
        let mut r = EventRing::new(caps(3, usize::MAX, 0));
        push(&mut r, 1..=3, Evict::Delivered);
        r.delivered(3);
        r.resumed(1);
        assert!(!r.full(Evict::Delivered));
        push(&mut r, 4..=4, Evict::Delivered);
        // 2, 3 and 4 are undelivered again: 1 goes, the ring is full.
        assert_eq!(kept(&r), vec![2, 3, 4]);
        assert!(r.full(Evict::Delivered));
    }

    #[test]
    fn durable_rings_evict_only_durable_events() {
        let mut r = EventRing::new(caps(2, usize::MAX, 0));
        push(&mut r, 1..=4, Evict::DurableThrough(1));
        assert_eq!(kept(&r), vec![2, 3, 4]);
        assert!(r.full(Evict::DurableThrough(1)));
        assert!(!r.full(Evict::DurableThrough(3)));
        r.evict(Evict::DurableThrough(3));
        assert_eq!(kept(&r), vec![3, 4]);
    }

    #[test]
    fn the_byte_cap_fills_a_ring_too() {
        let one = frame(1).encode().len();
        let mut r = EventRing::new(caps(100, one * 2, 0));
        push(&mut r, 1..=2, Evict::Delivered);
        assert!(r.full(Evict::Delivered));
        r.delivered(1);
        assert!(!r.full(Evict::Delivered));
    }
}
