//! Feature flags (spec §6.2): [`Feature`] names one, [`FeatureSet`] holds a set of them.
//!
//! The wire keeps strings: `session.hello`/`session.welcome` carry feature names, unknown
//! names are ignored when negotiating, and a set's names are written in the canonical order
//! of [`Feature::ALL`] (the reference's order).

use std::fmt;
use std::str::FromStr;

/// One ARCP v1.1 feature flag.
///
/// `#[non_exhaustive]`: a later protocol version may add flags (the set type has room for
/// sixteen); code outside this crate matches with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Feature {
    /// `heartbeat`: `session.ping`/`session.pong` and the heartbeat interval ([D25], [D26]).
    ///
    /// [D25]: crate::compat#d25--heartbeat-loss
    /// [D26]: crate::compat#d26--non-negotiated-features
    Heartbeat,
    /// `ack`: `session.ack` frees the ring ([D26]).
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    Ack,
    /// `list_jobs`: `session.list_jobs` / `session.jobs` ([D11]).
    ///
    /// [D11]: crate::compat#d11--job-list-entries
    ListJobs,
    /// `subscribe`: `job.subscribe` / `job.unsubscribe` ([D9]).
    ///
    /// [D9]: crate::compat#d9--job-subscribed
    Subscribe,
    /// `lease_expires_at`: `lease_constraints.expires_at`.
    LeaseExpiresAt,
    /// `cost.budget`: budgets on leases and cost metrics ([D30], [D31]).
    ///
    /// [D30]: crate::compat#d30--expiry
    /// [D31]: crate::compat#d31--negative-cost
    CostBudget,
    /// `progress`: `progress` events ([D33]).
    ///
    /// [D33]: crate::compat#d33--progress-current
    Progress,
    /// `result_chunk`: streamed results ([D32]).
    ///
    /// [D32]: crate::compat#d32--chunk-order
    ResultChunk,
    /// `agent_versions`: `name@version` agents and the rich inventory.
    AgentVersions,
    /// `model.use`: the `model.use` lease namespace.
    ModelUse,
    /// `provisioned_credentials`: credentials minted for a job.
    ProvisionedCredentials,
}

impl Feature {
    /// Every flag, in the canonical (reference) order: the order names go on the wire.
    pub const ALL: [Feature; 11] = [
        Feature::Heartbeat,
        Feature::Ack,
        Feature::ListJobs,
        Feature::Subscribe,
        Feature::LeaseExpiresAt,
        Feature::CostBudget,
        Feature::Progress,
        Feature::ResultChunk,
        Feature::AgentVersions,
        Feature::ModelUse,
        Feature::ProvisionedCredentials,
    ];

    /// The wire name, e.g. `"cost.budget"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Heartbeat => "heartbeat",
            Feature::Ack => "ack",
            Feature::ListJobs => "list_jobs",
            Feature::Subscribe => "subscribe",
            Feature::LeaseExpiresAt => "lease_expires_at",
            Feature::CostBudget => "cost.budget",
            Feature::Progress => "progress",
            Feature::ResultChunk => "result_chunk",
            Feature::AgentVersions => "agent_versions",
            Feature::ModelUse => "model.use",
            Feature::ProvisionedCredentials => "provisioned_credentials",
        }
    }

    /// The flag named `name` (exact, case-sensitive); `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.as_str() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no ARCP v1.1 feature flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature flag {0:?}")]
pub struct UnknownFeature(pub String);

impl FromStr for Feature {
    type Err = UnknownFeature;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::parse(s).ok_or_else(|| UnknownFeature(s.to_owned()))
    }
}

/// A set of [`Feature`]s: a bitset, `Copy`, iterated in the canonical order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FeatureSet(u16);

impl FeatureSet {
    /// No features.
    pub const fn empty() -> Self {
        FeatureSet(0)
    }

    /// Every feature of [`Feature::ALL`].
    pub fn all() -> Self {
        Feature::ALL.into_iter().collect()
    }

    /// The known names among `names` (unknown ones are ignored, as negotiation does).
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        names
            .into_iter()
            .filter_map(|n| Feature::parse(n.as_ref()))
            .collect()
    }

    /// Adds `f`; `true` when it was not there.
    pub fn insert(&mut self, f: Feature) -> bool {
        let had = self.contains(f);
        self.0 |= f.bit();
        !had
    }

    /// Removes `f`; `true` when it was there.
    pub fn remove(&mut self, f: Feature) -> bool {
        let had = self.contains(f);
        self.0 &= !f.bit();
        had
    }

    /// `true` when `f` is in the set.
    pub fn contains(self, f: Feature) -> bool {
        self.0 & f.bit() != 0
    }

    /// The features in both sets.
    #[must_use]
    pub fn intersection(self, other: FeatureSet) -> FeatureSet {
        FeatureSet(self.0 & other.0)
    }

    /// The features in either set.
    #[must_use]
    pub fn union(self, other: FeatureSet) -> FeatureSet {
        FeatureSet(self.0 | other.0)
    }

    /// The features, in the canonical order of [`Feature::ALL`].
    pub fn iter(self) -> FeatureIter {
        FeatureIter { set: self, next: 0 }
    }

    /// The wire names, in the canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(Feature::as_str)
    }

    /// The wire names as owned strings, in the canonical order (a hello's or welcome's list).
    pub fn to_names(self) -> Vec<String> {
        self.names().map(str::to_owned).collect()
    }

    /// How many features.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// `true` for the empty set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The features of a [`FeatureSet`], in the canonical order.
#[derive(Debug, Clone)]
pub struct FeatureIter {
    set: FeatureSet,
    next: usize,
}

impl Iterator for FeatureIter {
    type Item = Feature;

    fn next(&mut self) -> Option<Feature> {
        while let Some(&f) = Feature::ALL.get(self.next) {
            self.next += 1;
            if self.set.contains(f) {
                return Some(f);
            }
        }
        None
    }
}

impl IntoIterator for FeatureSet {
    type Item = Feature;
    type IntoIter = FeatureIter;

    fn into_iter(self) -> FeatureIter {
        self.iter()
    }
}

impl FromIterator<Feature> for FeatureSet {
    fn from_iter<I: IntoIterator<Item = Feature>>(iter: I) -> Self {
        let mut s = FeatureSet::empty();
        s.extend(iter);
        s
    }
}

impl Extend<Feature> for FeatureSet {
    fn extend<I: IntoIterator<Item = Feature>>(&mut self, iter: I) {
        for f in iter {
            self.insert(f);
        }
    }
}

impl<const N: usize> From<[Feature; N]> for FeatureSet {
    fn from(fs: [Feature; N]) -> Self {
        fs.into_iter().collect()
    }
}

impl From<Feature> for FeatureSet {
    fn from(f: Feature) -> Self {
        FeatureSet(f.bit())
    }
}

impl fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_canonical_order() {
        let names: Vec<&str> = Feature::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "heartbeat",
                "ack",
                "list_jobs",
                "subscribe",
                "lease_expires_at",
                "cost.budget",
                "progress",
                "result_chunk",
                "agent_versions",
                "model.use",
                "provisioned_credentials",
            ]
        );
        for f in Feature::ALL {
            assert_eq!(Feature::parse(f.as_str()), Some(f));
            assert_eq!(f.as_str().parse::<Feature>(), Ok(f));
            assert_eq!(f.to_string(), f.as_str());
        }
        assert_eq!(Feature::parse("Ack"), None);
        assert_eq!(
            "nope".parse::<Feature>(),
            Err(UnknownFeature("nope".into()))
        );
    }

    #[test]
    fn set_operations() {
        let mut s = FeatureSet::empty();
        assert!(s.is_empty());
        assert!(s.insert(Feature::Subscribe));
        assert!(!s.insert(Feature::Subscribe));
        assert!(s.insert(Feature::Heartbeat));
        assert_eq!(s.len(), 2);
        assert!(s.contains(Feature::Heartbeat) && !s.contains(Feature::Ack));
        // Canonical order, whatever the insertion order.
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Feature::Heartbeat, Feature::Subscribe]
        );
        assert_eq!(format!("{s:?}"), r#"{"heartbeat", "subscribe"}"#);
        let t = FeatureSet::from([Feature::Ack, Feature::Subscribe]);
        assert_eq!(s.intersection(t), FeatureSet::from(Feature::Subscribe));
        assert_eq!(s.union(t).len(), 3);
        assert!(s.remove(Feature::Heartbeat));
        assert!(!s.remove(Feature::Heartbeat));
        assert_eq!(FeatureSet::all().len(), 11);
        assert_eq!(
            FeatureSet::from_names(["model.use", "bogus", "ack"]).to_names(),
            ["ack", "model.use"]
        );
        assert_eq!(
            FeatureSet::all().into_iter().collect::<Vec<_>>(),
            Feature::ALL
        );
    }
}
