//! Identifiers: prefixed ULIDs minted from host-supplied time and entropy, envelope ids,
//! trace ids ([D15], [D16]).
//!
//! [D15]: crate::compat#d15--trace-id
//! [D16]: crate::compat#d16--envelope-ids

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use ulid::Ulid;

/// The longest envelope id accepted on input ([D16]).
///
/// [D16]: crate::compat#d16--envelope-ids
pub const MAX_ENVELOPE_ID_LEN: usize = 128;

/// What an id names; decides its prefix, the reference's: `sess_`, `job_`, `res_`, `rtk_`,
/// `cred_`, none for envelope ids and ping nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// An envelope `id` or a ping nonce: a bare upper-case ULID.
    Envelope,
    /// `sess_…`
    Session,
    /// `job_…`
    Job,
    /// `res_…` (chunked results)
    Result,
    /// `rtk_…` (resume tokens)
    ResumeToken,
    /// `cred_…` (provisioned credentials)
    Credential,
}

impl IdKind {
    /// The prefix including its underscore, or `""` for bare ULIDs.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Envelope => "",
            IdKind::Session => "sess_",
            IdKind::Job => "job_",
            IdKind::Result => "res_",
            IdKind::ResumeToken => "rtk_",
            IdKind::Credential => "cred_",
        }
    }
}

/// A source of randomness the host gives the core; the core never reads an RNG itself.
///
/// Resume tokens and credential ids are minted from it, so production hosts should back it
/// with the operating system's CSPRNG. [`SeededEntropy`] is a deterministic stand-in for tests
/// and simulation.
pub trait Entropy {
    /// 128 fresh random bits.
    fn next_u128(&mut self) -> u128;
}

/// A deterministic splitmix64 generator: reproducible ids for tests, simulation and fuzzing.
/// Not for production resume tokens.
#[derive(Debug, Clone)]
pub struct SeededEntropy(u64);

impl SeededEntropy {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SeededEntropy(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Entropy for SeededEntropy {
    fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}

impl<E: Entropy + ?Sized> Entropy for Box<E> {
    fn next_u128(&mut self) -> u128 {
        (**self).next_u128()
    }
}

/// Mints monotonic ULIDs: within one millisecond (or when the host clock steps back) the
/// random part is incremented, so ids sort in minting order as the reference's do.
#[derive(Debug, Clone, Default)]
pub struct IdMinter {
    last: Option<Ulid>,
    /// The text of the last ULID [`IdMinter::mint`] rendered: the next one, within the
    /// millisecond one more, is that text incremented in place rather than rendered anew.
    text: Option<(Ulid, String)>,
}

/// Crockford base32, the ULID alphabet.
const ULID_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Each alphabet character's successor (`Z` wraps to `0`, carrying); 0 for other bytes.
const ULID_NEXT: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 32 {
        t[ULID_ALPHABET[i] as usize] = ULID_ALPHABET[(i + 1) % 32];
        i += 1;
    }
    t
};

/// Increments the base32 text of a ULID by one (the text of `value + 1` when it is the text
/// of `value`): the trailing `Z`s become `0`s and the character before them its successor.
/// `false`, text unchanged, when it was not alphabet text or would overflow.
fn increment_text(text: &mut String) -> bool {
    let zs = text.bytes().rev().take_while(|&c| c == b'Z').count();
    let Some(at) = text.len().checked_sub(zs + 1) else {
        return false;
    };
    let next = text
        .as_bytes()
        .get(at)
        .and_then(|&c| ULID_NEXT.get(usize::from(c)))
        .copied()
        .unwrap_or(0);
    if next == 0 {
        return false;
    }
    text.truncate(at);
    text.push(char::from(next));
    text.extend(std::iter::repeat_n('0', zs));
    true
}

impl IdMinter {
    /// A minter with no history.
    pub fn new() -> Self {
        IdMinter::default()
    }

    /// The next ULID at wall-clock millisecond `unix_ms`, drawing fresh bits from `entropy`
    /// when the millisecond advanced.
    pub fn next_ulid(&mut self, unix_ms: u64, entropy: &mut dyn Entropy) -> Ulid {
        let fresh = Ulid::from_parts(unix_ms, entropy.next_u128());
        let id = match self.last {
            Some(last) if last.timestamp_ms() >= unix_ms => match last.increment() {
                Ok(next) => next,
                Err(_) => fresh,
            },
            _ => fresh,
        };
        self.last = Some(id);
        id
    }

    /// The next id of `kind`, e.g. `job_01M85JT4SAGX7B3XWCKQ17M6DG`.
    pub fn mint(&mut self, kind: IdKind, unix_ms: u64, entropy: &mut dyn Entropy) -> String {
        let ulid = self.next_ulid(unix_ms, entropy);
        let incremented = match &mut self.text {
            Some((prev, text)) if prev.0.checked_add(1) == Some(ulid.0) => {
                *prev = ulid;
                increment_text(text)
            }
            _ => false,
        };
        let text = match &mut self.text {
            Some((_, text)) if incremented => &*text,
            slot => &slot.insert((ulid, ulid.to_string())).1,
        };
        let mut s = String::with_capacity(kind.prefix().len() + ulid::ULID_LEN);
        s.push_str(kind.prefix());
        s.push_str(text);
        s
    }
}

/// Defines a serde-transparent `String` newtype id with the conversions and comparisons every
/// id shares: encodes and decodes byte-identically to the bare string, wraps the same `String`
/// (no extra allocation), and looks up in maps by `&str` through `Borrow<str>`.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps `id` as is (no validation: ids are opaque strings on the wire).
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The underlying `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(s: &String) -> Self {
                $name(s.clone())
            }
        }

        impl From<&$name> for $name {
            fn from(s: &$name) -> Self {
                s.clone()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

string_id! {
    /// A job id (`job_…` when the runtime minted it), as in `job_id`, `parent_job_id` and
    /// `child_job_id`. Serde-transparent: on the wire it is the bare string.
    JobId
}

string_id! {
    /// A session id (`sess_…` when the runtime minted it). Serde-transparent: on the wire it
    /// is the bare string.
    SessionId
}

string_id! {
    /// A request, named by the envelope id of the frame that carried it; the `request_id` of
    /// answers and errors ([D20]). Serde-transparent: on the wire it is the bare string.
    ///
    /// [D20]: crate::compat#d20--error-correlation
    RequestId
}

/// `true` for an acceptable inbound envelope id: any non-empty string up to 128 chars ([D16]).
///
/// [D16]: crate::compat#d16--envelope-ids
pub fn valid_envelope_id(id: &str) -> bool {
    !id.is_empty() && (id.len() <= MAX_ENVELOPE_ID_LEN || id.chars().count() <= MAX_ENVELOPE_ID_LEN)
}

/// A W3C trace id: 32 lower-case hex digits, not all zero ([D15]). Stored inline, no allocation.
///
/// [D15]: crate::compat#d15--trace-id
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 32]);

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.as_str())
    }
}

/// Why a string is not a trace id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trace_id {0:?}: expected 32 lower-case hex digits or a traceparent header")]
pub struct TraceIdError(pub String);

/// `true` for the bytes `0-9a-f`.
static HEX_LOWER: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = matches!(i as u8, b'0'..=b'9' | b'a'..=b'f');
        i += 1;
    }
    t
};

fn is_hex_lower(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl TraceId {
    /// Accepts a bare trace id, or a full `traceparent` header `VV-TRACEID-SPANID-FF`, whose
    /// trace-id part is taken ([D15]).
    ///
    /// [D15]: crate::compat#d15--trace-id
    pub fn parse(s: &str) -> Result<Self, TraceIdError> {
        // The bare form, as every frame carries it: one pass over a fixed-size array.
        if let Ok(id) = <[u8; 32]>::try_from(s.as_bytes()) {
            return if id.iter().all(|&b| HEX_LOWER[usize::from(b)]) && id != [b'0'; 32] {
                Ok(TraceId(id))
            } else {
                Err(TraceIdError(s.to_owned()))
            };
        }
        let bad = || TraceIdError(s.to_owned());
        let id = if s.len() == 32 {
            s
        } else {
            let mut parts = s.split('-');
            let (v, t, sp, fl) = (parts.next(), parts.next(), parts.next(), parts.next());
            match (v, t, sp, fl) {
                (Some(v), Some(t), Some(sp), Some(fl))
                    if is_hex_lower(v, 2)
                        && v != "ff"
                        && is_hex_lower(sp, 16)
                        && is_hex_lower(fl, 2) =>
                {
                    if v == "00" && parts.next().is_some() {
                        return Err(bad());
                    }
                    t
                }
                _ => return Err(bad()),
            }
        };
        if !is_hex_lower(id, 32) || id.bytes().all(|b| b == b'0') {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(id.as_bytes());
        Ok(TraceId(out))
    }

    /// The 32 ASCII hex digits, for writers that need no escaping.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The bare 32-hex form, as emitted.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TraceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TraceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = super::cowstr::CowStr::deserialize(d)?;
        TraceId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_have_prefixes_and_are_monotonic() {
        let mut e = SeededEntropy::new(7);
        let mut m = IdMinter::new();
        let a = m.mint(IdKind::Job, 1_795_483_836_909, &mut e);
        let b = m.mint(IdKind::Envelope, 1_795_483_836_909, &mut e);
        let c = m.mint(IdKind::Session, 1_795_483_836_000, &mut e);
        assert!(a.starts_with("job_") && a.len() == 30, "{a}");
        assert_eq!(b.len(), 26);
        assert!(a[4..] < *b.as_str(), "{a} {b}");
        assert!(
            b.as_str() < &c[5..],
            "clock stepped back, still monotonic: {b} {c}"
        );
        assert_eq!(&a[4..14], "01M85JT8FD");
        for (k, p) in [
            (IdKind::Result, "res_"),
            (IdKind::ResumeToken, "rtk_"),
            (IdKind::Credential, "cred_"),
        ] {
            assert!(m.mint(k, 1, &mut e).starts_with(p));
        }
    }

    #[test]
    fn same_seed_same_ids() {
        let ids = |seed| {
            let mut e = SeededEntropy::new(seed);
            let mut m = IdMinter::new();
            (0..3)
                .map(|i| m.mint(IdKind::Job, 1000 + i, &mut e))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(1), ids(1));
        assert_ne!(ids(1), ids(2));
    }

    /// The text incremented in place is the rendered text, across carries, a kind change,
    /// the random part's overflow (a fresh id) and a new millisecond.
    #[test]
    fn incremented_text_is_the_rendered_text() {
        struct Fixed(u128);
        impl Entropy for Fixed {
            fn next_u128(&mut self) -> u128 {
                self.0
            }
        }
        let start = (1u128 << 80) - 40;
        let mut e = Fixed(start);
        let mut m = IdMinter::new();
        let mut want = Vec::new();
        let mut got = Vec::new();
        for i in 0..100u128 {
            let kind = if i % 7 == 0 {
                IdKind::Job
            } else {
                IdKind::Envelope
            };
            let ms = 5 + u64::from(i >= 90);
            // 40 ids to the overflow, then a fresh id (the same entropy) and 39 more.
            let r = if ms == 6 {
                start + i - 90
            } else {
                start + i % 40
            };
            want.push(format!("{}{}", kind.prefix(), Ulid::from_parts(ms, r)));
            got.push(m.mint(kind, ms, &mut e));
        }
        assert_eq!(got, want);
        assert_eq!(
            got[39],
            format!("{}", Ulid::from_parts(5, (1u128 << 80) - 1))
        );
        assert!(got[39].ends_with("ZZZZZZZ"));
        let mut text = String::from("00000000000000000000000Z1Z");
        assert!(increment_text(&mut text));
        assert_eq!(text, "00000000000000000000000Z20");
        let mut text = "Z".repeat(26);
        assert!(!increment_text(&mut text));
        assert_eq!(text, "Z".repeat(26));
        let mut text = String::from("0000000000000000000000000a");
        assert!(!increment_text(&mut text));
    }

    #[test]
    fn string_ids_are_transparent_and_compare_with_strings() {
        let id = JobId::new("job_1");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""job_1""#);
        assert_eq!(serde_json::from_str::<JobId>(r#""job_1""#).unwrap(), id);
        assert_eq!(id, "job_1");
        assert_eq!("job_1", id);
        assert_eq!(id, String::from("job_1"));
        assert_eq!(id.len(), 5);
        assert_eq!(format!("{id} {id:?}"), r#"job_1 "job_1""#);
        let mut m = std::collections::HashMap::new();
        m.insert(SessionId::from("sess_1"), 1);
        assert_eq!(m.get("sess_1"), Some(&1));
        assert_eq!(RequestId::from(String::from("r")).into_string(), "r");
    }

    #[test]
    fn envelope_ids_d16() {
        assert!(valid_envelope_id("01M85JT534R5B12K18DKFQ4APD"));
        assert!(valid_envelope_id("my-request-1"));
        assert!(valid_envelope_id(&"x".repeat(128)));
        assert!(!valid_envelope_id(&"x".repeat(129)));
        assert!(!valid_envelope_id(""));
    }

    #[test]
    fn trace_ids_d15() {
        let bare = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(TraceId::parse(bare).unwrap().as_str(), bare);
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(TraceId::parse(tp).unwrap().as_str(), bare);
        for bad in [
            "00000000000000000000000000000000",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "4bf92f",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceId::parse(bad).is_err(), "{bad}");
        }
    }
}
