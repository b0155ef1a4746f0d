//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! Each target is a one-line wrapper over a function here, so `cargo test` (which enables the
//! feature through the crate's self dev-dependency) keeps them compiling and exercised.

mod client;
mod lease;
mod runtime_sim;

pub use crate::runtime::part_fuzz::parts;
pub use client::*;
pub use lease::*;
pub use runtime_sim::runtime_steps;

/// The `session_pair` target: the whole-protocol simulation ([`crate::sim`]) driven by
/// `data`; panics only on a broken invariant.
pub fn session_pair(data: &[u8]) {
    crate::sim::run(data);
}

use crate::wire::{Frame, Limits, LineFramer, decode};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// `true` when `data` is JSON in which some object repeats a name.
fn has_duplicate_names(data: &[u8]) -> bool {
    struct NoRepeats;
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = NoRepeats;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON without repeated names")
        }
        fn visit_bool<E>(self, _: bool) -> Result<NoRepeats, E> {
            Ok(NoRepeats)
        }
        fn visit_i64<E>(self, _: i64) -> Result<NoRepeats, E> {
            Ok(NoRepeats)
        }
        fn visit_u64<E>(self, _: u64) -> Result<NoRepeats, E> {
            Ok(NoRepeats)
        }
        fn visit_f64<E>(self, _: f64) -> Result<NoRepeats, E> {
            Ok(NoRepeats)
        }
        fn visit_str<E>(self, _: &str) -> Result<NoRepeats, E> {
            Ok(NoRepeats)
        }
        fn visit_unit<E>(self) -> Result<NoRepeats, E> {
            Ok(NoRepeats)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<NoRepeats, A::Error> {
            while s.next_element::<NoRepeats>()?.is_some() {}
            Ok(NoRepeats)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<NoRepeats, A::Error> {
            let mut seen = HashSet::new();
            while let Some(k) = m.next_key::<String>()? {
                if !seen.insert(k) {
                    return Err(de::Error::custom("repeated name"));
                }
                m.next_value::<NoRepeats>()?;
            }
            Ok(NoRepeats)
        }
    }
    impl<'de> Deserialize<'de> for NoRepeats {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V)
        }
    }
    serde_json::from_slice::<serde_json::Value>(data).is_ok()
        && serde_json::from_slice::<NoRepeats>(data).is_err()
}

/// Decodes `data` as one frame and, when it decodes, checks that re-encoding and decoding
/// again gives the same frame. Then feeds `data` through a stdio framer with a small cap and
/// decodes every line. Panics only if an invariant is broken.
pub fn decode_bytes(data: &[u8]) {
    let limits = Limits::default();
    // The hand-written `job.event` scanner must agree with the general decoder exactly.
    let general = crate::wire::decode_general(data, &limits);
    let fast = decode(data, &limits);
    assert_eq!(fast, general, "scanner and general decoder disagree");
    if let (Ok(a), Ok(b)) = (&fast, &general) {
        assert_eq!(
            a.encode(),
            b.encode(),
            "scanner and general decoder disagree"
        );
    }
    if let Ok(frame) = decode(data, &limits) {
        // The hand-written encoder must write what the `Serialize` impl writes.
        assert_eq!(
            Some(frame.encode()),
            serde_json::to_vec(&frame).ok(),
            "encoder and Serialize disagree"
        );
        let again = decode(&frame.encode(), &limits);
        if has_duplicate_names(data) {
            // RFC 8259 §4: with repeated names the behaviour is the parser's choice. The
            // first decode may keep a repeated-name object untyped (e.g. an agent entry as
            // `Other`) where its re-encoding, now without repeats, decodes typed. Require a
            // decodable, same-type frame, and the identity from then on.
            let again = again.as_ref().ok();
            assert_eq!(
                again.map(|f| f.message_type()),
                Some(frame.message_type()),
                "re-encoding a frame with repeated names changed its type"
            );
            if let Some(again) = again {
                assert_eq!(
                    decode(&again.encode(), &limits).as_ref(),
                    Ok(again),
                    "encode→decode must be the identity on encoder output"
                );
            }
        } else {
            assert_eq!(
                again.as_ref(),
                Ok(&frame),
                "encode→decode must be the identity"
            );
        }
    }
    let mut framer = LineFramer::new(4096);
    let mut lines = 0usize;
    framer.feed(data, |line| {
        lines += 1;
        if let Ok(line) = line {
            assert!(line.len() <= 4096, "framer yielded an over-long line");
            let _ = Frame::decode(line);
        }
    });
    assert!(framer.buffered() <= 4097, "framer buffer exceeded its cap");
}
