//! RFC 3339 UTC timestamps as ARCP uses them ([D22]).
//!
//! A decoded [`Timestamp`] keeps the exact text it arrived with and re-encodes it byte for
//! byte, so client-supplied `expires_at` / `created_after` are echoed unchanged. Timestamps the
//! core mints are rendered `YYYY-MM-DDTHH:MM:SS.ffffffZ`, without the fraction when it is zero.
//!
//! [D22]: crate::compat#d22--expiry-timestamps

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds in one second.
const MICROS: i64 = 1_000_000;
/// The largest instant a timestamp can hold: 9999-12-31T23:59:59.999999Z.
const MAX_MICROS: i64 = 253_402_300_799_999_999;
/// The smallest: 0000-01-01T00:00:00Z.
const MIN_MICROS: i64 = -62_167_219_200_000_000;

/// A UTC instant with microsecond precision, plus the text it is written as.
///
/// Equality, ordering and hashing look only at the instant, so `…Z` and `…+00:00` forms of
/// the same moment compare equal.
#[derive(Clone)]
pub struct Timestamp {
    micros: i64,
    // Boxed rather than inline: an inline 35-byte buffer would make a timestamp 48 bytes
    // instead of 24, and with it every event and frame that carries one.
    text: Box<str>,
}

/// The longest text a timestamp can have: `YYYY-MM-DDTHH:MM:SS` (19), a dot and nine fraction
/// digits (10), `+00:00` (6).
const MAX_TEXT: usize = 35;

/// A rendered timestamp before it is boxed.
#[derive(Clone, Copy)]
struct Text {
    len: u8,
    buf: [u8; MAX_TEXT],
}

impl Text {
    fn as_str(&self) -> &str {
        // `render` fills it with ASCII only.
        std::str::from_utf8(self.buf.get(..usize::from(self.len)).unwrap_or_default())
            .unwrap_or_default()
    }
}

/// Why a string is not an ARCP timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected YYYY-MM-DDTHH:MM:SS[.fraction] with Z or +00:00")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// The instant `micros` microseconds after the Unix epoch, rendered in the canonical form.
    /// Values outside years 0000–9999 are clamped to that range.
    pub fn from_unix_micros(micros: i64) -> Self {
        let micros = micros.clamp(MIN_MICROS, MAX_MICROS);
        Timestamp {
            micros,
            text: render(micros, "Z").as_str().into(),
        }
    }

    /// [`Timestamp::from_unix_micros`], reusing `second`'s rendered date and time of day
    /// while the instant stays within the same whole second (and refreshing it otherwise):
    /// the runtime stamps many events per second. The text is the same byte for byte.
    pub(crate) fn from_unix_micros_in(micros: i64, second: &Cell<SecondText>) -> Self {
        let micros = micros.clamp(MIN_MICROS, MAX_MICROS);
        let secs = micros.div_euclid(MICROS);
        let mut s = second.get();
        if s.secs != secs {
            s = SecondText {
                secs,
                head: render_head(secs),
            };
            second.set(s);
        }
        Timestamp {
            micros,
            text: finish(s.head, micros.rem_euclid(MICROS), "Z")
                .as_str()
                .into(),
        }
    }

    /// The instant of `t` (a value the host read; the core never reads a clock itself).
    pub fn from_system_time(t: SystemTime) -> Self {
        let micros = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(MAX_MICROS),
            Err(e) => i64::try_from(e.duration().as_micros()).map_or(MIN_MICROS, |m| -m),
        };
        Timestamp::from_unix_micros(micros)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00)`. Fractions of up to nine digits are
    /// accepted and truncated to microseconds; every other offset is refused ([D22]).
    ///
    /// [D22]: crate::compat#d22--expiry-timestamps
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        parse_micros(text.as_bytes())
            .map(|micros| Timestamp {
                micros,
                text: text.into(),
            })
            .ok_or_else(|| TimestampError(text.to_owned()))
    }

    /// The text's bytes: ASCII digits and `-T:.Z+` only, so JSON needs no escaping.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        self.micros
    }

    /// Milliseconds since the Unix epoch, as used for ULID timestamps (0 before the epoch).
    pub fn unix_millis(&self) -> u64 {
        u64::try_from(self.micros.div_euclid(1000)).unwrap_or(0)
    }

    /// The text this timestamp is written as on the wire.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// This instant shifted by `d`, rendered canonically (saturating at the range ends).
    pub fn add(&self, d: Duration) -> Timestamp {
        let add = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_unix_micros(self.micros.saturating_add(add))
    }

    /// The same instant in the canonical `…Z` rendering.
    pub fn canonical(&self) -> Timestamp {
        Timestamp::from_unix_micros(self.micros)
    }

    /// The same text with a `+00:00` suffix written `Z` (digits and fraction kept as given),
    /// the form every timestamp goes out in ([D22]: `+00:00` is accepted on input only).
    ///
    /// [D22]: crate::compat#d22--expiry-timestamps
    pub fn zulu(&self) -> Timestamp {
        match self.text.strip_suffix("+00:00") {
            Some(head) => Timestamp {
                micros: self.micros,
                text: format!("{head}Z").into(),
            },
            None => self.clone(),
        }
    }

    /// The same instant rendered with a `+00:00` suffix, as the reference writes
    /// `session.ping.sent_at` ([D25]).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    pub fn with_offset_suffix(&self) -> Timestamp {
        Timestamp {
            micros: self.micros,
            text: render(self.micros, "+00:00").as_str().into(),
        }
    }

    /// How far `self` lies after `earlier`, or `None` when it does not.
    pub fn duration_since(&self, earlier: &Timestamp) -> Option<Duration> {
        let d = self.micros.checked_sub(earlier.micros)?;
        u64::try_from(d).ok().map(Duration::from_micros)
    }
}

/// The canonical rendering of `micros`, ending in `suffix` (`Z` or `+00:00`).
fn render(micros: i64, suffix: &str) -> Text {
    finish(
        render_head(micros.div_euclid(MICROS)),
        micros.rem_euclid(MICROS),
        suffix,
    )
}

/// Length of `YYYY-MM-DDTHH:MM:SS`.
const HEAD: usize = 19;

/// One whole second rendered as `YYYY-MM-DDTHH:MM:SS`, kept to render the instants within it.
#[derive(Clone, Copy)]
pub(crate) struct SecondText {
    secs: i64,
    head: [u8; HEAD],
}

impl Default for SecondText {
    fn default() -> Self {
        // No clamped instant falls in second `i64::MIN`: the first use renders.
        SecondText {
            secs: i64::MIN,
            head: [0; HEAD],
        }
    }
}

// Hand-rolled rather than `format!`: this runs for every event the runtime stamps.
fn put(b: &mut [u8], at: usize, width: usize, mut v: i64) {
    for i in (0..width).rev() {
        b[at + i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// `secs` (seconds since the epoch) as `YYYY-MM-DDTHH:MM:SS`.
fn render_head(secs: i64) -> [u8; HEAD] {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    let mut b = [0u8; HEAD];
    put(&mut b, 0, 4, y);
    put(&mut b, 5, 2, m);
    put(&mut b, 8, 2, d);
    put(&mut b, 11, 2, hh);
    put(&mut b, 14, 2, mm);
    put(&mut b, 17, 2, ss);
    b[4] = b'-';
    b[7] = b'-';
    b[10] = b'T';
    b[13] = b':';
    b[16] = b':';
    b
}

/// `head`, then `.ffffff` unless `frac` (microseconds) is zero, then `suffix`.
fn finish(head: [u8; HEAD], frac: i64, suffix: &str) -> Text {
    let mut b = [0u8; MAX_TEXT];
    b[..HEAD].copy_from_slice(&head);
    let at = if frac == 0 {
        HEAD
    } else {
        b[HEAD] = b'.';
        put(&mut b, HEAD + 1, 6, frac);
        HEAD + 7
    };
    let end = at + suffix.len();
    if let Some(dst) = b.get_mut(at..end) {
        dst.copy_from_slice(suffix.as_bytes());
    }
    Text {
        len: u8::try_from(end).unwrap_or(0),
        buf: b,
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_micros(b: &[u8]) -> Option<i64> {
    let head: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    let d = |i: usize| -> Option<i64> {
        let c = head.get(i)?.wrapping_sub(b'0');
        (c < 10).then_some(i64::from(c))
    };
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    let y = d(0)? * 1000 + d(1)? * 100 + d(2)? * 10 + d(3)?;
    let mo = d(5)? * 10 + d(6)?;
    let day = d(8)? * 10 + d(9)?;
    let (h, mi, s) = (
        d(11)? * 10 + d(12)?,
        d(14)? * 10 + d(15)?,
        d(17)? * 10 + d(18)?,
    );
    let mut rest = b.get(19..)?;
    let mut frac = 0i64;
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let n = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        // Up to nine digits, truncated to microseconds.
        let mut scale = 100_000;
        for &c in after_dot.iter().take(n.min(6)) {
            frac += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = after_dot.get(n..)?;
    }
    if rest != b"Z" && rest != b"+00:00" {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, day);
    Some((days * 86_400 + h * 3600 + mi * 60 + s) * MICROS + frac)
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.micros == other.micros
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.micros.cmp(&other.micros)
    }
}
impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.micros.hash(state);
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.as_str())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = super::cowstr::CowStr::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_form_has_six_digit_fraction_or_none() {
        let t = Timestamp::from_unix_micros(1_795_483_842_000_996);
        assert_eq!(t.as_str(), "2026-11-24T01:30:42.000996Z");
        let t = Timestamp::from_unix_micros(1_795_483_842_000_000);
        assert_eq!(t.as_str(), "2026-11-24T01:30:42Z");
        assert_eq!(
            Timestamp::from_unix_micros(0).as_str(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn parses_z_and_offset_with_and_without_fraction() {
        let a = Timestamp::parse("2026-11-24T01:30:36.909290+00:00").unwrap();
        let b = Timestamp::parse("2026-11-24T01:30:36.909290Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "2026-11-24T01:30:36.909290+00:00");
        assert_eq!(a.unix_micros(), 1_795_483_836_909_290);
        let c = Timestamp::parse("2026-11-24T01:30:36Z").unwrap();
        assert_eq!(c.unix_micros(), 1_795_483_836_000_000);
        let d = Timestamp::parse("2026-11-24T01:30:36.9+00:00").unwrap();
        assert_eq!(d.unix_micros(), 1_795_483_836_900_000);
        let e = Timestamp::parse("2026-11-24T01:30:36.123456789Z").unwrap();
        assert_eq!(e.unix_micros(), 1_795_483_836_123_456);
    }

    #[test]
    fn refuses_naive_non_utc_and_garbage() {
        for bad in [
            "2026-11-24T01:30:36",
            "2026-11-24T01:30:36+02:00",
            "2026-11-24T01:30:36-00:00",
            "2026-11-24 01:30:36Z",
            "2026-13-24T01:30:36Z",
            "2026-02-29T01:30:36Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T01:30:36.Z",
            "2026-11-24T01:30:36.1234567890Z",
            "",
            "2026-11-24T01:30:36z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_ok());
    }

    proptest::proptest! {
        /// Any instant, with any fraction length and either suffix, parses back to itself.
        #[test]
        fn parses_every_rendering(m in MIN_MICROS..=MAX_MICROS, digits in 0usize..=9, plus in proptest::bool::ANY) {
            let canon = Timestamp::from_unix_micros(m - m.rem_euclid(MICROS)).as_str().to_owned();
            let frac = m.rem_euclid(MICROS);
            let body = canon.strip_suffix('Z').unwrap();
            let f = format!("{frac:06}000");
            let text = format!(
                "{body}{}{}",
                if digits == 0 { String::new() } else { format!(".{}", &f[..digits]) },
                if plus { "+00:00" } else { "Z" }
            );
            let kept = if digits == 0 { 0 } else { f[..digits.min(6)].parse::<i64>().unwrap() * 10i64.pow(6 - digits.min(6) as u32) };
            let t = Timestamp::parse(&text).unwrap();
            proptest::prop_assert_eq!(t.unix_micros(), m - frac + kept);
            proptest::prop_assert_eq!(t.as_str(), text.as_str());
        }
    }

    #[test]
    fn longest_accepted_text_is_kept() {
        let long = "2026-11-24T01:30:36.123456789+00:00";
        assert_eq!(long.len(), MAX_TEXT);
        assert_eq!(Timestamp::parse(long).unwrap().as_str(), long);
        assert!(Timestamp::parse("2026-11-24T01:30:36.1234567891+00:00").is_err());
    }

    #[test]
    fn offset_suffix_rendering_matches_reference_ping() {
        let t = Timestamp::from_unix_micros(1_795_483_836_909_290).with_offset_suffix();
        assert_eq!(t.as_str(), "2026-11-24T01:30:36.909290+00:00");
    }

    #[test]
    fn second_reuse_renders_the_same_text() {
        let second = Cell::new(SecondText::default());
        let base = 1_795_483_825_000_000;
        for m in [
            MIN_MICROS - 5,
            MIN_MICROS,
            -1_000_001,
            -1,
            0,
            1,
            999_999,
            1_000_000,
            base,
            base + 7,
            base + 999_999,
            base + 1_000_000,
            base + 86_400_000_000,
            MAX_MICROS,
            MAX_MICROS + 9,
        ] {
            let t = Timestamp::from_unix_micros_in(m, &second);
            let u = Timestamp::from_unix_micros(m);
            assert_eq!((t.as_str(), t.unix_micros()), (u.as_str(), u.unix_micros()));
            // And again from the kept second.
            let again = Timestamp::from_unix_micros_in(m, &second);
            assert_eq!(again.as_str(), u.as_str());
        }
        assert_eq!(
            Timestamp::from_unix_micros_in(base + 250, &second).as_str(),
            "2026-11-24T01:30:25.000250Z"
        );
    }

    #[test]
    fn render_parse_roundtrip_over_range() {
        for m in [MIN_MICROS, -1, 0, 1, 951_782_400_000_000, MAX_MICROS] {
            let t = Timestamp::from_unix_micros(m);
            assert_eq!(
                Timestamp::parse(t.as_str()).unwrap().unix_micros(),
                m,
                "{t}"
            );
        }
    }
}
