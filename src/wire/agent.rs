//! Agent references `name[@version]` (spec §7.5, [D23]).
//!
//! [D23]: crate::compat#d23--agent-grammar

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Longest accepted agent name or version.
pub const MAX_AGENT_PART_LEN: usize = 128;

/// An agent reference: a name and an optional exact version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AgentRef {
    /// The agent's name.
    pub name: String,
    /// The requested version; `None` resolves to the advertised default.
    pub version: Option<String>,
}

/// Why a string is not an agent reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid agent reference {0:?}: expected name or name@version")]
pub struct AgentRefError(pub String);

/// Spec name grammar `[a-z0-9][a-z0-9._-]*`.
fn spec_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// Reference name grammar `[a-zA-Z][a-zA-Z0-9._-]*`.
fn reference_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Version grammar: the spec's `[a-zA-Z0-9.+_-]+`, which contains the reference's.
fn version_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'_' | b'-'))
}

impl AgentRef {
    /// Parses `name` or `name@version`, accepting the union of the spec's and the reference's
    /// grammars ([D23]).
    ///
    /// [D23]: crate::compat#d23--agent-grammar
    pub fn parse(s: &str) -> Result<Self, AgentRefError> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (s, None),
        };
        let name_ok = name.len() <= MAX_AGENT_PART_LEN && (spec_name(name) || reference_name(name));
        let ver_ok = version.is_none_or(|v| v.len() <= MAX_AGENT_PART_LEN && version_ok(v));
        if !name_ok || !ver_ok {
            return Err(AgentRefError(s.to_owned()));
        }
        Ok(AgentRef {
            name: name.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// A reference to `name` at `version`.
    pub fn new(name: impl Into<String>, version: Option<String>) -> Self {
        AgentRef {
            name: name.into(),
            version,
        }
    }
}

impl fmt::Display for AgentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

impl std::str::FromStr for AgentRef {
    type Err = AgentRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgentRef::parse(s)
    }
}

impl Serialize for AgentRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AgentRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = super::cowstr::CowStr::deserialize(d)?;
        AgentRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_of_grammars_d23() {
        let r = AgentRef::parse("versioned@2.0.0").unwrap();
        assert_eq!(
            (r.name.as_str(), r.version.as_deref()),
            ("versioned", Some("2.0.0"))
        );
        // spec only: leading digit, '+' in version
        assert_eq!(
            AgentRef::parse("3d-render@1.0.0+build.5")
                .unwrap()
                .to_string(),
            "3d-render@1.0.0+build.5"
        );
        // reference only: upper case
        assert_eq!(AgentRef::parse("CodeRefactor").unwrap().version, None);
        for bad in [
            "",
            "@1.0",
            "echo@",
            "-echo",
            "echo@1@2",
            "ec ho",
            "9Upper",
            "echo@1.0/x",
            "_x",
        ] {
            assert!(AgentRef::parse(bad).is_err(), "{bad}");
        }
        assert!(AgentRef::parse(&"a".repeat(129)).is_err());
    }
}
