//! The runtime's one reused encode buffer: frames are encoded into it and copied out at their
//! exact length (one allocation per frame, no regrowth).

use crate::wire::Frame;
use bytes::Bytes;

/// A reused encode buffer. It is dropped when a frame grew it past 64 KiB, so a rare large
/// frame does not keep its memory.
#[derive(Debug, Default)]
pub(super) struct Scratch(Vec<u8>);

impl Scratch {
    /// Encodes `frame` (compact JSON) and returns a copy of exactly its length.
    pub fn encode(&mut self, frame: &Frame) -> Bytes {
        self.0.clear();
        frame.encode_into(&mut self.0);
        // One spare byte: `Bytes` from a `Vec` whose capacity exceeds its length shares it
        // from the start, so the clones the ring and the transmit queue take are reference
        // counts (an exact-length copy is promoted, allocating, on its first clone).
        let mut copy = Vec::with_capacity(self.0.len() + 1);
        copy.extend_from_slice(&self.0);
        let out = Bytes::from(copy);
        if self.0.capacity() > 1 << 16 {
            self.0 = Vec::new();
        }
        out
    }

    /// The buffer's capacity (for tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ack, Message};

    #[test]
    fn encodes_exactly_and_drops_a_grown_buffer() {
        let mut s = Scratch::default();
        let f = Frame::new(
            "01M85JT4SBERX8YG2FYV5KWFFN",
            Message::Ack(Ack {
                last_processed_seq: 7,
            }),
        );
        let b = s.encode(&f);
        assert_eq!(
            &b[..],
            br#"{"arcp":"1.1","id":"01M85JT4SBERX8YG2FYV5KWFFN","type":"session.ack","payload":{"last_processed_seq":7}}"#
        );
        assert!(s.capacity() >= b.len() && s.capacity() <= 1 << 16);
        let big = Frame::new(
            "01M85JT4SBERX8YG2FYV5KWFFN",
            Message::Error(crate::wire::ErrorPayload::new(
                crate::wire::ErrorCode::InternalError,
                "x".repeat(70_000),
            )),
        );
        assert_eq!(s.encode(&big).len(), big.encode().len());
        assert_eq!(s.capacity(), 0);
    }
}
