//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! Each target is a one-line wrapper over a function here, so `cargo test` (which enables the
//! feature through the crate's self dev-dependency) keeps them compiling and exercised.

mod client;
mod lease;
mod runtime_sim;

pub use client::*;
pub use lease::*;
pub use runtime_sim::runtime_steps;

/// The `session_pair` target: the whole-protocol simulation ([`crate::sim`]) driven by
/// `data`; panics only on a broken invariant.
pub fn session_pair(data: &[u8]) {
    crate::sim::run(data);
}

use crate::wire::{Frame, Limits, LineFramer, decode};

/// Decodes `data` as one frame and, when it decodes, checks that re-encoding and decoding
/// again gives the same frame. Then feeds `data` through a stdio framer with a small cap and
/// decodes every line. Panics only if an invariant is broken.
pub fn decode_bytes(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(frame) = decode(data, &limits) {
        let again = decode(&frame.encode(), &limits);
        assert_eq!(
            again.as_ref(),
            Ok(&frame),
            "encode→decode must be the identity"
        );
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
