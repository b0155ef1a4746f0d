//! A small, fast, non-keyed hasher (the FxHash mix rustc uses) for the runtime's maps whose
//! keys the runtime itself minted or the host assigned: session and job ids (ULID-based,
//! minted by [`IdMinter`](crate::wire::IdMinter) from host entropy, or restored from the
//! host's own store), [`ConnId`](super::ConnId)s, [`EffectId`](super::EffectId)s.
//!
//! Why that is safe against HashDoS: a peer can only *look up* such a map with a string it
//! chose (a `job_id` in a subscribe or cancel, a resume `session_id`), which costs one probe
//! sequence; it cannot *insert* keys of its choosing, so it cannot build long collision
//! chains. Maps keyed by peer-controlled strings (the idempotency keys) keep std's keyed
//! SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The FxHash multiplier (64-bit).
const K: u64 = 0xf135_7aea_2e62_a9c5;

/// FxHash-style hasher: each word is mixed in with a rotate, xor and multiply.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes its 7 control bits from the top: fold the well-mixed high bits
        // down too so both ends carry entropy.
        self.hash.rotate_left(26)
    }
}

/// A `HashMap` with [`FxHasher`], for runtime-minted or host-assigned keys only (see the
/// module docs).
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    fn h(s: &str) -> u64 {
        BuildHasherDefault::<FxHasher>::default().hash_one(s)
    }

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        assert_eq!(
            h("sess_01M85JT4SBERX8YG2FYV5KWFFN"),
            h("sess_01M85JT4SBERX8YG2FYV5KWFFN")
        );
        assert_ne!(
            h("sess_01M85JT4SBERX8YG2FYV5KWFFN"),
            h("sess_01M85JT4SBERX8YG2FYV5KWFFP")
        );
        assert_ne!(h("a"), h("a\0"));
        assert_ne!(h(""), h("\0"));
    }

    #[test]
    fn minted_ids_spread_over_buckets() {
        // 4,096 ids that differ only in their last characters, as ULIDs minted in one
        // millisecond do: the top 7 bits (hashbrown's control byte) and the low 12 bits
        // (the bucket index of a 4,096-slot table) both take many values.
        let mut top = std::collections::HashSet::new();
        let mut low = std::collections::HashSet::new();
        for i in 0..4096u32 {
            let id = format!("job_01M85JT4SBERX8YG2FYV5K{i:04X}");
            let v = h(&id);
            top.insert(v >> 57);
            low.insert(v & 0xfff);
        }
        assert_eq!(top.len(), 128);
        assert!(low.len() > 2500, "{} distinct low values", low.len());
    }
}
