//! The runtime's one reused encode buffer: frames are encoded into it and copied out at their
//! exact length, small ones into a shared chunk (no allocation of their own), others into
//! an allocation each.

use crate::wire::Frame;
use bytes::{Bytes, BytesMut};

/// The chunk small frames are copied into, one after the other: each frame's bytes share the
/// chunk (a reference count, no allocation or free of their own), and the chunk is freed
/// with the last of them. Small, so a frame kept long (unacked in a ring) holds little else.
const CHUNK: usize = 4096;

/// Frames up to this length go into the chunk; longer ones get an allocation each.
const CHUNK_FRAME: usize = 1024;

/// A reused encode buffer. It is dropped when a frame grew it past 64 KiB, so a rare large
/// frame does not keep its memory.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    buf: Vec<u8>,
    /// What is left of the current chunk.
    chunk: BytesMut,
}

impl Scratch {
    /// Encodes `frame` (compact JSON) and returns a copy of exactly its length.
    pub fn encode(&mut self, frame: &Frame) -> Bytes {
        self.buf.clear();
        frame.encode_into(&mut self.buf);
        let n = self.buf.len();
        let out = if n <= CHUNK_FRAME {
            if self.chunk.capacity() < n {
                self.chunk = BytesMut::with_capacity(CHUNK);
            }
            self.chunk.extend_from_slice(&self.buf);
            self.chunk.split().freeze()
        } else {
            // One spare byte: `Bytes` from a `Vec` whose capacity exceeds its length shares
            // it from the start, so the clones the ring and the transmit queue take are
            // reference counts (an exact-length copy is promoted, allocating, on its first
            // clone).
            let mut copy = Vec::with_capacity(n + 1);
            copy.extend_from_slice(&self.buf);
            Bytes::from(copy)
        };
        if self.buf.capacity() > 1 << 16 {
            self.buf = Vec::new();
        }
        out
    }

    /// The buffer's capacity (for tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
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

    /// Small frames share chunks, and each keeps its own bytes across chunk changes and the
    /// encodes after it; a frame past the chunk limit gets its own copy.
    #[test]
    fn small_frames_share_chunks_and_keep_their_bytes() {
        let mut s = Scratch::default();
        let frame = |i: u64| {
            Frame::new(
                format!("id{i}"),
                Message::Ack(Ack {
                    last_processed_seq: i,
                }),
            )
        };
        let kept: Vec<(u64, Bytes)> = (0..100).map(|i| (i, s.encode(&frame(i)))).collect();
        for (i, b) in &kept {
            assert_eq!(&b[..], &frame(*i).encode()[..], "{i}");
        }
        let total: usize = kept.iter().map(|(_, b)| b.len()).sum();
        assert!(total > 2 * CHUNK, "{total}: the frames span several chunks");
        let mid = Frame::new(
            "01M85JT4SBERX8YG2FYV5KWFFN",
            Message::Error(crate::wire::ErrorPayload::new(
                crate::wire::ErrorCode::InternalError,
                "y".repeat(CHUNK_FRAME),
            )),
        );
        let b = s.encode(&mid);
        assert_eq!(&b[..], &mid.encode()[..]);
        assert!(b.len() > CHUNK_FRAME);
        assert_eq!(&kept[99].1[..], &frame(99).encode()[..]);
    }
}
