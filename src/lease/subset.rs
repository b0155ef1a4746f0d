//! Delegation: the §9.4 subset rule and what a child inherits ([D28]).
//!
//! [D28]: crate::compat#d28--delegation

use super::{Lease, LeaseError};
use crate::wire::{Budget, ErrorCode};

fn violation(message: String) -> LeaseError {
    LeaseError::new(ErrorCode::LeaseSubsetViolation, message)
}

impl Lease {
    /// Checks that `self` (a child's requested lease) is a subset of `parent` (§9.4), where
    /// `parent_remaining` is the parent's live counters (`None`: use the parent's initial
    /// budget, or none at all when it has no `cost.budget`):
    ///
    /// - every pattern of every child namespace is covered by one pattern of the same parent
    ///   namespace, decided soundly ([`Glob::covers`](super::Glob::covers)): a child pattern
    ///   passes only if every target it matches is matched by that parent pattern. An empty
    ///   child namespace grants nothing and always passes;
    /// - when the parent is budgeted, each child currency exists among the parent's counters
    ///   and is ≤ its remaining value; an unbudgeted parent is unlimited. Currencies the child
    ///   leaves out are inherited ([`Lease::inherit_from`]), so they cannot escape the limit;
    /// - the child's `expires_at`, when both have one, is not later than the parent's.
    ///
    /// The first failure is `LEASE_SUBSET_VIOLATION`.
    pub fn check_subset_of(
        &self,
        parent: &Lease,
        parent_remaining: Option<&Budget>,
    ) -> Result<(), LeaseError> {
        for grant in &self.grants {
            if grant.patterns.is_empty() {
                continue;
            }
            let Some(pgrant) = parent.grant(&grant.namespace) else {
                return Err(violation(format!(
                    "delegated lease names {} which the parent lease does not grant",
                    grant.namespace
                )));
            };
            let texts = self.map.get(&grant.namespace).unwrap_or(&[]);
            for (i, pattern) in grant.patterns.iter().enumerate() {
                if !pgrant.patterns.iter().any(|p| p.covers(pattern)) {
                    let text = texts.get(i).map_or("", String::as_str);
                    return Err(violation(format!(
                        "delegated {} pattern {text:?} is not covered by the parent lease",
                        grant.namespace
                    )));
                }
            }
        }
        if let (Some(child), Some(limits)) =
            (&self.budget, parent_remaining.or(parent.budget.as_ref()))
        {
            for (currency, amount) in &child.0 {
                match limits.get(currency) {
                    None => {
                        return Err(violation(format!(
                            "delegated cost.budget {currency}:{amount} has no parent {currency} budget"
                        )));
                    }
                    Some(left) if amount > left => {
                        return Err(violation(format!(
                            "delegated cost.budget {currency}:{amount} exceeds the parent's remaining {currency}:{left}"
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        if let (Some(c), Some(p)) = (&self.expires_at, &parent.expires_at)
            && c > p
        {
            return Err(violation(format!(
                "delegated expires_at {} is later than the parent's {}",
                c.as_str(),
                p.as_str()
            )));
        }
        Ok(())
    }

    /// The child lease as it will run under `parent` (§9.4): the map and patterns are the
    /// child's own; `expires_at` is the earlier of the two (the parent's when the child has
    /// none); when the parent is budgeted (`parent_remaining`, else its initial budget), every
    /// parent currency the child does not name is inherited at the parent's remaining value,
    /// so a child without `cost.budget` runs on the parent's remaining counters.
    pub fn inherit_from(&self, parent: &Lease, parent_remaining: Option<&Budget>) -> Lease {
        let mut out = self.clone();
        out.expires_at = match (&self.expires_at, &parent.expires_at) {
            (Some(c), Some(p)) => Some(if c <= p { c.clone() } else { p.clone() }),
            (c, p) => c.clone().or_else(|| p.clone()),
        };
        if let Some(limits) = parent_remaining.or(parent.budget.as_ref()) {
            let mut budget = self.budget.clone().unwrap_or_default();
            for (currency, left) in &limits.0 {
                if budget.get(currency).is_none() {
                    budget.0.push((currency.clone(), *left));
                }
            }
            out.budget = Some(budget);
        }
        out
    }
}
