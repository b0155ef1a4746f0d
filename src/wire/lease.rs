//! The wire shape of leases: namespace → patterns, and `lease_constraints` (spec §9,
//! WIRE.md §14). Semantics (namespaces, globs, subset, budgets) live in [`crate::lease`].

use super::timestamp::Timestamp;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// A lease as it travels: namespace → pattern strings, in the order received.
///
/// Decoding only checks the shape (an object of string arrays); a non-array or non-string
/// pattern is a decode error and so `INVALID_REQUEST` (D18). Namespace validation is
/// [`crate::lease`]'s job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseMap(pub Vec<(String, Vec<String>)>);

impl LeaseMap {
    /// The patterns of `namespace`, when present.
    pub fn get(&self, namespace: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(ns, _)| ns == namespace)
            .map(|(_, p)| p.as_slice())
    }

    /// `true` when the lease grants nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Namespaces in order.
    pub fn namespaces(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(ns, _)| ns.as_str())
    }
}

impl Serialize for LeaseMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (ns, pats) in &self.0 {
            m.serialize_entry(ns, pats)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for LeaseMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LeaseMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a lease: an object mapping namespaces to arrays of pattern strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LeaseMap, A::Error> {
                let mut out: Vec<(String, Vec<String>)> = Vec::new();
                while let Some((ns, pats)) = map.next_entry::<String, Vec<String>>()? {
                    // A repeated key: the last one wins, as in a JSON object.
                    match out.iter_mut().find(|(n, _)| *n == ns) {
                        Some(slot) => slot.1 = pats,
                        None => out.push((ns, pats)),
                    }
                }
                Ok(LeaseMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `lease_constraints`: an optional `expires_at` (Z or +00:00, D22) plus any extra keys,
/// which are echoed verbatim.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LeaseConstraints {
    /// When the lease stops authorizing anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Keys this version does not know, kept for the echo.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl LeaseConstraints {
    /// These constraints with `expires_at` in its outgoing `Z` form ([`Timestamp::zulu`],
    /// D22).
    pub fn zulu(mut self) -> Self {
        self.expires_at = self.expires_at.map(|t| t.zulu());
        self
    }
}
