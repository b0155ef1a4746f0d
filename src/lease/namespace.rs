//! Capability namespaces (spec §9.2, WIRE.md §14.1) and the pattern kind each one takes.

use super::glob::Glob;
use super::net::{UrlPattern, UrlTarget};
use super::path::normalize_path;

/// The reserved namespaces, in spec order. `x-vendor.*` keys are accepted besides these.
pub const NAMESPACES: [&str; 7] = [
    "fs.read",
    "fs.write",
    "net.fetch",
    "tool.call",
    "agent.delegate",
    "cost.budget",
    "model.use",
];

/// The prefix of vendor namespaces.
pub const VENDOR_PREFIX: &str = "x-vendor.";

/// The namespace holding budget amounts rather than patterns.
pub const COST_BUDGET: &str = "cost.budget";

/// How a namespace's patterns read and its targets are prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `fs.read`, `fs.write`: path globs over normalised targets (D29).
    Fs,
    /// `net.fetch`: URL patterns.
    Net,
    /// `tool.call`, `agent.delegate`, `model.use`, `x-vendor.*`: name globs over raw targets.
    Name,
    /// `cost.budget`: amounts, not patterns; grants no operation.
    Budget,
}

/// The kind of a namespace, or `None` when it is not a capability namespace.
pub(crate) fn kind_of(ns: &str) -> Option<Kind> {
    match ns {
        "fs.read" | "fs.write" => Some(Kind::Fs),
        "net.fetch" => Some(Kind::Net),
        "tool.call" | "agent.delegate" | "model.use" => Some(Kind::Name),
        COST_BUDGET => Some(Kind::Budget),
        _ if ns.starts_with(VENDOR_PREFIX) => Some(Kind::Name),
        _ => None,
    }
}

/// One parsed grant pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// A glob (fs and name namespaces).
    Glob(Glob),
    /// A URL pattern (`net.fetch`).
    Url(UrlPattern),
}

impl Pattern {
    /// Parses `text` for `kind`; `Err` carries the reason.
    pub(crate) fn parse(kind: Kind, text: &str) -> Result<Pattern, String> {
        match kind {
            Kind::Net => UrlPattern::parse(text).map(Pattern::Url),
            Kind::Fs | Kind::Name | Kind::Budget => Ok(Pattern::Glob(Glob::parse(text))),
        }
    }

    /// `true` only if every target `child` grants, `self` grants.
    pub(crate) fn covers(&self, child: &Pattern) -> bool {
        match (self, child) {
            (Pattern::Glob(p), Pattern::Glob(c)) => p.covers(c),
            (Pattern::Url(p), Pattern::Url(c)) => p.covers(c),
            _ => false,
        }
    }

    /// `true` when the prepared target is granted.
    pub(crate) fn matches(&self, target: &Target) -> bool {
        match (self, target) {
            (Pattern::Glob(p), Target::Text(t)) => p.matches(t),
            (Pattern::Url(p), Target::Url(t)) => p.matches(t),
            _ => false,
        }
    }
}

/// A target made ready for matching in its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A normalised path or a raw name.
    Text(String),
    /// A parsed URL.
    Url(UrlTarget),
}

impl Target {
    /// The prepared target as text: the normalised path, the raw name, or the canonical URL
    /// (what a checked operation hands back to act on).
    pub(crate) fn canonical(&self) -> String {
        match self {
            Target::Text(t) => t.clone(),
            Target::Url(u) => u.canonical(),
        }
    }
}

/// Prepares `target` for `kind`; `Err` carries why it is denied outright.
pub(crate) fn prepare(kind: Kind, target: &str) -> Result<Target, String> {
    match kind {
        Kind::Fs => normalize_path(target)
            .map(Target::Text)
            .map_err(|e| e.message),
        Kind::Net => UrlTarget::parse(target)
            .map(Target::Url)
            .map_err(|why| format!("URL {target:?} {why}")),
        Kind::Name => Ok(Target::Text(target.to_owned())),
        Kind::Budget => Err("cost.budget grants no operation".into()),
    }
}
