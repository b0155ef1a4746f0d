//! Fuzzing the runtime's owned parts on their own (feature `fuzzing`, target `parts`): each
//! part is driven by arbitrary operations and checked after every one against a plain model
//! of what it must hold. A broken invariant panics, which is what the fuzzer looks for.
//!
//! - the session event ring ([`EventRing`], [D5]): seqs kept in order and freed as a prefix;
//!   dropping the oldest holds both caps; under backpressure no undelivered event and
//!   nothing in the margin is evicted, over a cap only those remain at the front, and the
//!   ring is full exactly when the undelivered events reach a cap; no silent gap — every
//!   seq after `freed_through` that was pushed is still kept and replayed by `after`;
//! - the subscriptions part ([`Subscriptions`]): both directions agree with a set of
//!   (session, job) pairs, in subscription order;
//! - a streamed result ([`ChunkState`], [D32]): what leaves is `chunk_seq` 0, 1, 2, … with no
//!   gap, at most one `more:false` and nothing after it, each chunk and the total within the
//!   caps, and a refused chunk is never sent.
//!
//! Like the flows, this module may use every part; nothing in the runtime imports it.
//!
//! [D5]: crate::compat#d5--ack
//! [D32]: crate::compat#d32--chunk-order

use super::encoding::Scratch;
use super::jobs::chunks::{Chunk, ChunkLimits, ChunkState};
use super::sessions::ring::{EventRing, Evict, RingCaps};
use super::subscriptions::Subscriptions;
use crate::wire::{Ack, ChunkEncoding, Frame, Message};
use arbitrary::{Arbitrary, Unstructured};
use std::collections::VecDeque;

/// The `parts` target: `data` picks the part and its operations.
pub fn parts(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0..=2u8) {
        Ok(0) => ring(&mut u),
        Ok(1) => subscriptions(&mut u),
        Ok(_) => chunks(&mut u),
        Err(_) => Ok(()),
    };
}

fn ring_frame(seq: u64, pad: usize) -> Frame {
    // An ack frame of varying size stands in for any seq-bearing frame: the ring only
    // looks at the seq and the encoded length.
    let mut f = Frame::new(
        "01M85JT4SBERX8YG2FYV5KWFFN",
        Message::Ack(Ack {
            last_processed_seq: seq,
        }),
    )
    .with_event_seq(seq);
    f.id.push_str(&"X".repeat(pad));
    f
}

fn ring(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let max_events = u.int_in_range(1..=16usize)?;
    let one = ring_frame(1, 0).encode().len();
    let max_bytes = u.int_in_range(one..=one * 12)?;
    let caps = RingCaps {
        max_events,
        max_bytes,
        margin_events: u.int_in_range(0..=4u64)?,
        margin_bytes: u.int_in_range(0..=(one * 4) as u64)?,
    };
    let mut ring = EventRing::new(caps);
    let policy = if u.arbitrary::<bool>()? {
        Evict::Oldest
    } else {
        Evict::Delivered
    };
    let mut scratch = Scratch::default();
    // The model: (seq, encoded length) of what the ring keeps.
    let mut kept: VecDeque<(u64, usize)> = VecDeque::new();
    let mut next = 1u64;
    let mut freed = 0u64;
    // Delivered (handed out, acked or confirmed by a resume) through this seq.
    let mut delivered = 0u64;
    for _ in 0..u.int_in_range(0..=64u32)? {
        match u.int_in_range(0..=3u8)? {
            0 | 1 => {
                let pad = u.int_in_range(0..=24usize)?;
                let (_, bytes) =
                    ring.push(next, ring_frame(next, pad), &mut scratch, policy, false);
                kept.push_back((next, bytes.len()));
                next += 1;
            }
            2 => {
                let seq = u.int_in_range(0..=next - 1)?;
                ring.ack(seq);
                freed = freed.max(seq);
                delivered = delivered.max(seq);
            }
            _ => {
                let seq = u.int_in_range(0..=next - 1)?;
                if u.arbitrary::<bool>()? {
                    ring.delivered(seq);
                    delivered = delivered.max(seq);
                } else {
                    ring.resumed(seq);
                    delivered = seq.max(freed.min(seq));
                }
                ring.evict(policy);
            }
        }
        // What the ring kept: a suffix of what was pushed and not acked, in order.
        let seqs: Vec<u64> = ring.after(0).map(|e| e.seq).collect();
        while kept.front().is_some_and(|k| !seqs.contains(&k.0)) {
            let Some((seq, _)) = kept.pop_front() else {
                break;
            };
            freed = freed.max(seq);
        }
        let model: Vec<u64> = kept.iter().map(|k| k.0).collect();
        assert_eq!(seqs, model, "the ring frees a prefix only and keeps order");
        assert_eq!(ring.freed_through(), freed, "freed_through");
        let bytes: usize = kept.iter().map(|k| k.1).sum();
        assert_eq!(ring.bytes(), bytes, "bytes");
        let over = kept.len() > max_events || bytes > max_bytes;
        let undelivered: Vec<&(u64, usize)> = kept.iter().filter(|k| k.0 > delivered).collect();
        let undelivered_bytes: usize = undelivered.iter().map(|k| k.1).sum();
        match policy {
            Evict::Oldest => {
                assert!(!over, "drop-oldest holds both caps");
                assert!(!ring.full(policy), "drop-oldest is never full");
            }
            _ => {
                // Never evicted: an undelivered seq, and the margin.
                assert!(
                    (delivered.max(freed) + 1..next).all(|q| seqs.contains(&q)),
                    "undelivered seqs are kept"
                );
                let in_margin = |q: u64| {
                    let after: usize = kept
                        .iter()
                        .filter(|k| k.0 > q && k.0 <= delivered)
                        .map(|k| k.1)
                        .sum();
                    delivered.saturating_sub(q) < caps.margin_events
                        || (after as u64) < caps.margin_bytes
                };
                // Over a cap, only the margin and undelivered events remain at the front.
                if over && let Some(&(front, _)) = kept.front() {
                    assert!(
                        front > delivered || in_margin(front),
                        "over a cap with an evictable front {front}"
                    );
                }
                let full = undelivered.len() >= max_events || undelivered_bytes >= max_bytes;
                assert_eq!(
                    ring.full(policy),
                    full,
                    "full means the undelivered reached a cap"
                );
            }
        }
        // No silent gap: a resume point the ring says it covers replays every later seq.
        let from = u.int_in_range(0..=next)?;
        if ring.covers_after(from) {
            let replay: Vec<u64> = ring.after(from).map(|e| e.seq).collect();
            let want: Vec<u64> = (from + 1..next).collect();
            assert_eq!(
                replay, want,
                "covered resume after {from} replays every seq"
            );
        }
    }
    Ok(())
}

fn subscriptions(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    const SESSIONS: [&str; 3] = ["s0", "s1", "s2"];
    const JOBS: [&str; 3] = ["j0", "j1", "j2"];
    let mut subs = Subscriptions::default();
    // The model: (session, job) pairs in subscription order.
    let mut model: Vec<(&str, &str)> = Vec::new();
    for _ in 0..u.int_in_range(0..=48u32)? {
        let s = *u.choose(&SESSIONS)?;
        let j = *u.choose(&JOBS)?;
        match u.int_in_range(0..=3u8)? {
            0 => {
                let fresh = !model.contains(&(s, j));
                assert_eq!(subs.add(s, j), fresh, "add reports a new pair");
                if fresh {
                    model.push((s, j));
                }
            }
            1 => {
                subs.remove(s, j);
                model.retain(|p| *p != (s, j));
            }
            2 => {
                subs.end_job(j);
                model.retain(|p| p.1 != j);
            }
            _ => {
                subs.end_session(s);
                model.retain(|p| p.0 != s);
            }
        }
        for job in JOBS {
            let want: Vec<&str> = model.iter().filter(|p| p.1 == job).map(|p| p.0).collect();
            assert_eq!(
                subs.subscribers(job),
                want.as_slice(),
                "subscribers of {job}"
            );
        }
        for sid in SESSIONS {
            let n = model.iter().filter(|p| p.0 == sid).count();
            assert_eq!(subs.count(sid), n, "count of {sid}");
            for job in JOBS {
                assert_eq!(subs.contains(sid, job), model.contains(&(sid, job)));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Arbitrary)]
struct FuzzChunk {
    seq_skew: i8,
    len: u8,
    base64: bool,
    more: bool,
}

fn chunks(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let limits = ChunkLimits {
        max_chunk: u.int_in_range(1..=16usize)?,
        max_total: u.int_in_range(1..=64usize)?,
    };
    let mut state = ChunkState::default();
    let mut sent: Vec<(u64, usize, bool)> = Vec::new();
    let mut pushed = 0u64;
    let mut failed = false;
    let mut mints = 0u32;
    for _ in 0..u.int_in_range(0..=24u32)? {
        let c: FuzzChunk = u.arbitrary()?;
        // Mostly the next seq, sometimes off by a little (out of order, repeated).
        let seq = pushed.saturating_add_signed(i64::from(c.seq_skew % 3));
        let (data, encoding) = if c.base64 {
            ("QUJD".repeat(usize::from(c.len % 6)), ChunkEncoding::Base64)
        } else {
            ("a".repeat(usize::from(c.len % 20)), ChunkEncoding::Utf8)
        };
        let chunk = Chunk {
            chunk_seq: seq,
            data,
            encoding,
            more: c.more,
        };
        match state.push(chunk, limits, || {
            mints += 1;
            "res_fuzz".to_owned()
        }) {
            Ok(out) => {
                pushed = seq + 1;
                sent.extend(out.iter().map(|b| (b.chunk_seq, b.data.len(), b.more)));
            }
            Err(_) => {
                // The job ends here; nothing further is pushed.
                failed = true;
                break;
            }
        }
    }
    if !failed && let Some(held) = state.take_held(u.arbitrary()?) {
        sent.push((held.chunk_seq, held.data.len(), held.more));
    }
    assert!(mints <= 1, "the result is named once");
    for (i, (seq, len, _)) in sent.iter().enumerate() {
        assert_eq!(*seq, i as u64, "chunks leave in chunk_seq order, no gap");
        assert!(*len <= limits.max_chunk, "chunk cap");
    }
    let total: usize = sent.iter().map(|s| s.1).sum();
    assert!(total <= limits.max_total, "total cap");
    if let Some(at) = sent.iter().position(|s| !s.2) {
        assert_eq!(at + 1, sent.len(), "nothing after the final chunk");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_runs_on_small_inputs() {
        // Exercise each branch with a few fixed inputs (the fuzzer explores the rest).
        for seed in 0u8..=60 {
            let data: Vec<u8> = (0..256u32).map(|i| (i as u8).wrapping_mul(seed)).collect();
            parts(&data);
        }
    }
}
