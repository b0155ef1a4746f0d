//! The per-session event ring: every seq-bearing frame of a session, kept for resume replay
//! and subscription history, bounded by count and bytes. An ack frees only acked events (D5);
//! overflow drops the oldest, and a resume below what is still kept gets
//! `RESUME_WINDOW_EXPIRED`, never a silent gap.

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
}

/// The ring of one session.
#[derive(Debug, Clone)]
pub(in crate::runtime) struct EventRing {
    entries: VecDeque<RingEntry>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// Every seq ≤ this has been freed (acked or dropped); 0 when nothing was.
    freed_through: u64,
}

impl EventRing {
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        EventRing {
            entries: VecDeque::new(),
            bytes: 0,
            max_events,
            max_bytes,
            freed_through: 0,
        }
    }

    /// Keeps `frame` (whose `event_seq` is `seq`), dropping the oldest entries when over a cap;
    /// returns the kept frame and its encoding (shared, not copied). The frame is encoded
    /// into `scratch` (the runtime's reused buffer) and copied out at its exact length: one
    /// allocation, no regrowth.
    pub fn push(&mut self, seq: u64, frame: Frame, scratch: &mut Scratch) -> (Arc<Frame>, Bytes) {
        let encoded = scratch.encode(&frame);
        let frame = Arc::new(frame);
        self.bytes = self.bytes.saturating_add(encoded.len());
        self.entries.push_back(RingEntry {
            seq,
            frame: frame.clone(),
            encoded: encoded.clone(),
        });
        while self.entries.len() > self.max_events || self.bytes > self.max_bytes {
            match self.entries.pop_front() {
                Some(e) => {
                    self.bytes = self.bytes.saturating_sub(e.encoded.len());
                    self.freed_through = self.freed_through.max(e.seq);
                }
                None => break,
            }
        }
        (frame, encoded)
    }

    /// Frees every entry with seq ≤ `seq` (D5: only acked ones).
    pub fn ack(&mut self, seq: u64) {
        while let Some(e) = self.entries.front() {
            if e.seq > seq {
                break;
            }
            self.bytes = self.bytes.saturating_sub(e.encoded.len());
            self.entries.pop_front();
        }
        self.freed_through = self.freed_through.max(seq);
    }

    /// `true` when every frame after `last_seq` is still kept.
    pub fn covers_after(&self, last_seq: u64) -> bool {
        last_seq >= self.freed_through
    }

    /// The kept frames with seq > `last_seq`, in order (seqs only grow: a binary search, not
    /// a scan — the durable path calls this once per completed append).
    pub fn after(&self, last_seq: u64) -> impl Iterator<Item = &RingEntry> {
        let start = self.entries.partition_point(|e| e.seq <= last_seq);
        self.entries.range(start..)
    }

    /// Every kept frame.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &RingEntry> {
        self.entries.iter()
    }

    #[cfg(test)]
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
    }

    /// Drops everything (the session is gone).
    pub fn clear(&mut self) {
        if let Some(last) = self.entries.back() {
            self.freed_through = self.freed_through.max(last.seq);
        }
        self.entries.clear();
        self.bytes = 0;
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

    #[test]
    fn count_cap_drops_oldest_and_reports_the_gap() {
        let mut r = EventRing::new(3, usize::MAX);
        for s in 1..=5 {
            r.push(s, frame(s), &mut Scratch::default());
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.freed_through(), 2);
        assert!(!r.covers_after(1));
        assert!(r.covers_after(2));
        assert_eq!(r.after(3).map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
    }

    #[test]
    fn byte_cap_drops_oldest() {
        let one = frame(1).encode().len();
        let mut r = EventRing::new(100, one * 2);
        for s in 1..=4 {
            r.push(s, frame(s), &mut Scratch::default());
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.bytes(), one * 2);
        assert_eq!(r.freed_through(), 2);
    }

    #[test]
    fn ack_frees_only_acked_d5() {
        let mut r = EventRing::new(100, usize::MAX);
        for s in 1..=5 {
            r.push(s, frame(s), &mut Scratch::default());
        }
        r.ack(3);
        assert_eq!(r.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert!(r.covers_after(3));
        assert!(!r.covers_after(2));
    }
}
