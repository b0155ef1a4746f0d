//! Assertion helpers with the messages of peer_client.py (`check`, `eq`, `close_to`), time
//! and id helpers.

use crate::api::ClientError;
use arcp_proto::wire::Timestamp;
use serde_json::Value;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a scenario stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// An assertion about wire behaviour did not hold.
    Fail(String),
    /// The scenario cannot run in this configuration.
    Skip(String),
}

impl Stop {
    /// A failure.
    pub fn fail(msg: impl Into<String>) -> Self {
        Stop::Fail(msg.into())
    }
}

impl From<ClientError> for Stop {
    /// An unexpected client error, as peer_client.py reports an uncaught `ARCPError`.
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Refused { code, message, .. }
            | ClientError::JobFailed { code, message, .. } => {
                Stop::Fail(format!("unexpected {code}: {message}"))
            }
            other => Stop::Fail(format!("ClientError: {other}")),
        }
    }
}

/// A scenario's result.
pub type Res<T = ()> = Result<T, Stop>;

/// Fails with `msg` unless `cond`.
pub fn check(cond: bool, msg: impl Into<String>) -> Res {
    if cond {
        Ok(())
    } else {
        Err(Stop::Fail(msg.into()))
    }
}

/// JSON equality as Python compares parsed JSON: numbers by value (`1 == 1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                i == j
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                i == j
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Fails with "`what`: expected …, got …" unless `actual` equals `expected`.
pub fn eq(actual: &Value, expected: &Value, what: &str) -> Res {
    if json_eq(actual, expected) {
        Ok(())
    } else {
        Err(Stop::Fail(format!(
            "{what}: expected {}, got {}",
            short(expected),
            short(actual)
        )))
    }
}

/// Fails unless `actual` is a JSON number within `tol` of `expected`.
pub fn close_to(actual: &Value, expected: f64, what: &str, tol: f64) -> Res {
    match actual.as_f64() {
        Some(v) if (v - expected).abs() <= tol => Ok(()),
        _ => Err(Stop::Fail(format!(
            "{what}: expected {expected:?}, got {}",
            short(actual)
        ))),
    }
}

/// Compact JSON, cut at 300 characters.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 300 {
        s
    } else {
        let mut t: String = s.chars().take(300).collect();
        t.push_str("...");
        t
    }
}

/// Python's `%g` for the timeouts in messages (`5`, `2.5`).
pub fn fmt_g(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The current UTC time plus `offset_sec` as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
pub fn now_z(offset_sec: f64, micros: bool) -> String {
    let t = unix_micros() + (offset_sec * 1e6) as i64;
    let t = if micros {
        t
    } else {
        t - t.rem_euclid(1_000_000)
    };
    let text = Timestamp::from_unix_micros(t).as_str().to_owned();
    if micros {
        text
    } else {
        // Whole seconds: drop any fraction the renderer wrote.
        match text.split_once('.') {
            Some((head, _)) => format!("{head}Z"),
            None => text,
        }
    }
}

/// Parses a timestamp; returns Unix microseconds.
pub fn parse_ts(v: &Value) -> Res<i64> {
    let Some(s) = v.as_str() else {
        return Err(Stop::fail(format!(
            "timestamp must be a string, got {}",
            short(v)
        )));
    };
    Timestamp::parse(s)
        .map(|t| t.unix_micros())
        .map_err(|_| Stop::fail(format!("unparseable timestamp {s:?}")))
}

/// The current time as Unix microseconds.
pub fn now_micros() -> i64 {
    unix_micros()
}

fn random_u64(salt: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    h.write_i64(unix_micros());
    h.finish()
}

/// A fresh upper-case ULID.
pub fn new_ulid() -> String {
    let ms = u64::try_from(unix_micros() / 1000).unwrap_or(0);
    let rand = (u128::from(random_u64(1)) << 64) | u128::from(random_u64(2));
    ulid::Ulid::from_parts(ms, rand).to_string()
}

/// A fresh trace id: 32 lower-case hex chars.
pub fn new_trace_id() -> String {
    format!("{:016x}{:016x}", random_u64(3), random_u64(4))
}

/// Standard base64 (with padding) to bytes.
pub fn b64decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_eq_compares_numbers_by_value() {
        assert!(json_eq(&json!({"a": [1, 2.5]}), &json!({"a": [1.0, 2.5]})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 2})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn base64_decodes() {
        assert_eq!(b64decode("aMOpbGxv").unwrap(), "héllo".as_bytes());
        assert_eq!(b64decode("YQ==").unwrap(), b"a");
        assert_eq!(b64decode("*"), None);
    }

    #[test]
    fn ids_have_the_reference_shape() {
        let id = new_ulid();
        assert_eq!(id.len(), 26);
        assert_eq!(id, id.to_uppercase());
        let t = new_trace_id();
        assert_eq!(t.len(), 32);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn whole_second_timestamps_have_no_fraction() {
        let t = now_z(3.0, false);
        assert!(t.ends_with('Z') && !t.contains('.'), "{t}");
        assert_eq!(parse_ts(&json!(t)).unwrap() % 1_000_000, 0);
        assert_eq!(fmt_g(5.0), "5");
        assert_eq!(fmt_g(2.5), "2.5");
    }
}
