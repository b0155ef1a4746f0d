//! Exact decimal amounts for `cost.budget` (spec §9.6, [D12]). Never `f64`.
//!
//! [D12]: crate::compat#d12--budget-echo

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;

/// At most this many significant digits, so every sum of a few amounts stays exact in `i128`.
pub const MAX_DIGITS: usize = 30;
/// At most this many digits after the point.
pub const MAX_SCALE: u32 = 18;

/// An exact decimal: `mantissa × 10^-scale`. The scale is kept, so `1.00` prints as `1.00`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// Why a string is not an exact decimal or amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not `[-]digits[.digits]`.
    #[error("invalid decimal {0:?}")]
    Syntax(String),
    /// More digits than the exact range allows.
    #[error("decimal {0:?} has too many digits")]
    TooLong(String),
    /// Arithmetic left the exact range.
    #[error("decimal arithmetic overflowed")]
    Overflow,
    /// Not `CURRENCY:amount` (currency 1–10 alphanumerics starting with a letter).
    #[error("invalid budget amount {0:?}: expected CURRENCY:amount like \"USD:5.00\"")]
    Amount(String),
}

impl Decimal {
    /// Zero with scale 0.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa × 10^-scale`.
    pub fn new(mantissa: i128, scale: u32) -> Result<Self, DecimalError> {
        if scale > MAX_SCALE {
            return Err(DecimalError::Overflow);
        }
        Ok(Decimal { mantissa, scale })
    }

    /// The unscaled integer.
    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    /// Digits after the point.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Parses `[-]digits[.digits]`, keeping the scale.
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (body, None),
        };
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !ok(int) || frac.is_some_and(|f| !ok(f)) {
            return Err(DecimalError::Syntax(s.to_owned()));
        }
        let frac = frac.unwrap_or("");
        let significant = int.trim_start_matches('0').len() + frac.len();
        if significant > MAX_DIGITS || frac.len() > MAX_SCALE as usize {
            return Err(DecimalError::TooLong(s.to_owned()));
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m * 10 + i128::from(b - b'0');
        }
        Ok(Decimal {
            mantissa: if neg { -m } else { m },
            scale: frac.len() as u32,
        })
    }

    /// Parses a JSON number's text (`5.0`, `1e-7`, `-0.25`) exactly, as when a peer sends a
    /// budget as a number ([D12]).
    ///
    /// [D12]: crate::compat#d12--budget-echo
    pub fn from_json_number(n: &serde_json::Number) -> Result<Self, DecimalError> {
        let text = n.to_string();
        let (base, exp) = match text.find(['e', 'E']) {
            Some(i) => {
                let exp: i32 = text[i + 1..]
                    .parse()
                    .map_err(|_| DecimalError::Syntax(text.clone()))?;
                (&text[..i], exp)
            }
            None => (text.as_str(), 0),
        };
        let d = Decimal::parse(base)?;
        let scale = i64::from(d.scale) - i64::from(exp);
        if scale >= 0 {
            let scale = u32::try_from(scale).map_err(|_| DecimalError::Overflow)?;
            Decimal::new(d.mantissa, scale)
        } else {
            let up = u32::try_from(-scale).map_err(|_| DecimalError::Overflow)?;
            let m = 10i128
                .checked_pow(up)
                .and_then(|p| d.mantissa.checked_mul(p))
                .ok_or(DecimalError::Overflow)?;
            Decimal::new(m, 0)
        }
    }

    fn rescale(&self, scale: u32) -> Option<i128> {
        let up = scale.checked_sub(self.scale)?;
        10i128.checked_pow(up)?.checked_mul(self.mantissa)
    }

    /// Exact sum, with the larger of the two scales (`1.00 + 2.5 = 3.50`).
    pub fn checked_add(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        let scale = self.scale.max(other.scale);
        let a = self.rescale(scale).ok_or(DecimalError::Overflow)?;
        let b = other.rescale(scale).ok_or(DecimalError::Overflow)?;
        Ok(Decimal {
            mantissa: a.checked_add(b).ok_or(DecimalError::Overflow)?,
            scale,
        })
    }

    /// Exact difference, with the larger of the two scales.
    pub fn checked_sub(&self, other: &Decimal) -> Result<Decimal, DecimalError> {
        self.checked_add(&Decimal {
            mantissa: other.mantissa.checked_neg().ok_or(DecimalError::Overflow)?,
            scale: other.scale,
        })
    }

    /// `true` when strictly below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// `true` when ≤ 0, i.e. an exhausted budget counter (spec §9.6).
    pub fn is_exhausted(&self) -> bool {
        self.mantissa <= 0
    }

    /// The nearest `f64`, for `cost.budget.remaining` metrics (which the reference sends as
    /// floats) — never used for arithmetic.
    pub fn to_f64(&self) -> f64 {
        self.to_string().parse().unwrap_or(0.0)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Decimal {}
impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescale(scale), other.rescale(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Rescaling only overflows for huge magnitudes; the sign then decides.
            _ => self.mantissa.signum().cmp(&other.mantissa.signum()),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() <= scale {
            write!(f, "0.{}{}", "0".repeat(scale - digits.len()), digits)
        } else {
            let (i, fr) = digits.split_at(digits.len() - scale);
            write!(f, "{i}.{fr}")
        }
    }
}

impl std::str::FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

/// A budget amount `CURRENCY:value`, e.g. `USD:5.00` (spec §9.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    /// 1–10 alphanumerics starting with a letter.
    pub currency: String,
    /// The exact value.
    pub value: Decimal,
}

impl Amount {
    /// Parses `^[A-Za-z][A-Za-z0-9]{0,9}:[0-9]+(\.[0-9]+)?$` exactly (no sign, no exponent).
    pub fn parse(s: &str) -> Result<Self, DecimalError> {
        let bad = || DecimalError::Amount(s.to_owned());
        let (cur, val) = s.split_once(':').ok_or_else(bad)?;
        if !valid_currency(cur) || val.starts_with('-') {
            return Err(bad());
        }
        let value = Decimal::parse(val).map_err(|_| bad())?;
        Ok(Amount {
            currency: cur.to_owned(),
            value,
        })
    }
}

/// `true` for 1–10 ASCII alphanumerics starting with a letter.
pub fn valid_currency(cur: &str) -> bool {
    let b = cur.as_bytes();
    !b.is_empty()
        && b.len() <= 10
        && b[0].is_ascii_alphabetic()
        && b.iter().all(u8::is_ascii_alphanumeric)
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.currency, self.value)
    }
}

/// Per-currency budget counters as echoed in `job.accepted.budget` and `job.subscribed.budget`.
///
/// Emitted in the reference form `{"USD":"USD:5.00"}`; the spec's `{"USD":5.0}` is accepted
/// too ([D12]). Currencies keep their first-seen order.
///
/// [D12]: crate::compat#d12--budget-echo
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Budget(pub Vec<(String, Decimal)>);

impl Budget {
    /// The counter for `currency`.
    pub fn get(&self, currency: &str) -> Option<&Decimal> {
        self.0.iter().find(|(c, _)| c == currency).map(|(_, d)| d)
    }

    /// Adds `value` to `currency`'s counter, creating it when absent.
    pub fn add(&mut self, currency: &str, value: &Decimal) -> Result<(), DecimalError> {
        match self.0.iter_mut().find(|(c, _)| c == currency) {
            Some((_, d)) => *d = d.checked_add(value)?,
            None => self.0.push((currency.to_owned(), *value)),
        }
        Ok(())
    }

    /// `true` when there are no counters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Budget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (cur, d) in &self.0 {
            // D12: the reference echoes `"USD":"USD:5.00"`, keeping the scale.
            m.serialize_entry(cur, &format!("{cur}:{d}"))?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Budget;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of currency to \"CUR:amount\" or number")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Budget, A::Error> {
                let mut out = Vec::new();
                while let Some((cur, v)) = map.next_entry::<String, serde_json::Value>()? {
                    let value = match &v {
                        // D12: the reference form, optionally signed for a negative remainder.
                        serde_json::Value::String(s) => {
                            let (c, amt) = s.split_once(':').ok_or_else(|| {
                                de::Error::custom(format!("invalid budget value {s:?}"))
                            })?;
                            if c != cur {
                                return Err(de::Error::custom(format!(
                                    "budget value {s:?} does not match currency {cur:?}"
                                )));
                            }
                            Decimal::parse(amt).map_err(de::Error::custom)?
                        }
                        // D12: the spec form, a bare number.
                        serde_json::Value::Number(n) => {
                            Decimal::from_json_number(n).map_err(de::Error::custom)?
                        }
                        _ => {
                            return Err(de::Error::custom(
                                "budget value must be a string or number",
                            ));
                        }
                    };
                    if !valid_currency(&cur) {
                        return Err(de::Error::custom(format!("invalid currency {cur:?}")));
                    }
                    out.push((cur, value));
                }
                Ok(Budget(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_scale_and_sums_exactly() {
        let a = Decimal::parse("1.00").unwrap();
        let b = Decimal::parse("2.5").unwrap();
        assert_eq!(a.checked_add(&b).unwrap().to_string(), "3.50");
        let r = Decimal::parse("0.20")
            .unwrap()
            .checked_sub(&Decimal::parse("0.40").unwrap());
        assert_eq!(r.unwrap().to_string(), "-0.20");
        assert_eq!(Decimal::parse("0.005").unwrap().to_string(), "0.005");
        assert_eq!(Decimal::parse("1000").unwrap().to_string(), "1000");
        assert_eq!(
            Decimal::parse("1.0").unwrap(),
            Decimal::parse("1.000").unwrap()
        );
    }

    #[test]
    fn json_numbers_convert_exactly() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(
            Decimal::from_json_number(&n("5.0")).unwrap().to_string(),
            "5.0"
        );
        assert_eq!(Decimal::from_json_number(&n("5")).unwrap().to_string(), "5");
        assert_eq!(
            Decimal::from_json_number(&n("1e-7")).unwrap().to_string(),
            "0.0000001"
        );
        assert_eq!(
            Decimal::from_json_number(&n("2.5e2")).unwrap().to_string(),
            "250.0"
        );
        assert_eq!(
            Decimal::from_json_number(&n("-0.25")).unwrap().to_string(),
            "-0.25"
        );
    }

    #[test]
    fn amount_grammar() {
        let a = Amount::parse("USD:1.00").unwrap();
        assert_eq!(
            (a.currency.as_str(), a.value.to_string()),
            ("USD", "1.00".to_owned())
        );
        assert_eq!(
            Amount::parse("credits:1000").unwrap().to_string(),
            "credits:1000"
        );
        for bad in [
            "USD",
            "USD:",
            ":1",
            "1USD:1",
            "USD:-1",
            "USD:1e3",
            "USD:+1",
            "ABCDEFGHIJK:1",
            "USD:1.",
            "USD:.5",
            "US D:1",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn budget_echo_forms_d12() {
        let b: Budget = serde_json::from_str(r#"{"USD":"USD:5.00","EUR":5.0}"#).unwrap();
        assert_eq!(b.get("USD").unwrap().to_string(), "5.00");
        assert_eq!(b.get("EUR").unwrap().to_string(), "5.0");
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"USD":"USD:5.00","EUR":"EUR:5.0"}"#
        );
        let neg: Budget = serde_json::from_str(r#"{"USD":"USD:-0.20"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&neg).unwrap(),
            r#"{"USD":"USD:-0.20"}"#
        );
        assert!(serde_json::from_str::<Budget>(r#"{"USD":"EUR:1"}"#).is_err());
        assert!(serde_json::from_str::<Budget>(r#"{"USD":true}"#).is_err());
    }

    #[test]
    fn too_many_digits_is_an_error_not_a_panic() {
        assert!(matches!(
            Decimal::parse(&"9".repeat(40)),
            Err(DecimalError::TooLong(_))
        ));
        let big = Decimal::parse(&"9".repeat(30)).unwrap();
        let tiny = Decimal::parse("0.000000000000000001").unwrap();
        assert_eq!(big.checked_add(&tiny), Err(DecimalError::Overflow));
    }
}
