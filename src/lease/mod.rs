//! Leases: capability grammar, path-safe globs, subset, expiry and exact budgets (spec §9,
//! WIRE.md §14, COMPAT D12, D18, D28–D31).
//!
//! - [`Lease::parse`] validates a requested [`LeaseMap`] and its [`LeaseConstraints`].
//! - [`authorize`] is the gate the runtime calls before every authority-bearing operation:
//!   expiry, then patterns, then budget.
//! - [`Lease::check_subset_of`] and [`Lease::inherit_from`] implement delegation (§9.4).
//! - [`BudgetCounters`] applies `cost.*` metrics exactly and produces the
//!   `cost.budget.remaining` metrics (§9.6).
//! - [`Glob`] is the pattern language (see its module docs for the syntax and the reason it
//!   is hand-written), [`normalize_path`] the `fs.*` target normalisation.
//!
//! # Namespaces and targets
//!
//! | namespace | patterns | targets |
//! |---|---|---|
//! | `fs.read`, `fs.write` | [`Glob`]s | normalised first ([`normalize_path`]); relative, NUL, `\` or escaping targets are denied (D29) |
//! | `net.fetch` | `scheme://host[:port][/path-glob]`; host exact or `*.suffix` (one or more labels); a malformed pattern is `INVALID_REQUEST` | scheme, host (case-insensitive) and port (default filled in) compared exactly, the normalised path matched as a [`Glob`]; query and fragment ignored; userinfo, `%2e`/`%2f`/`%5c`/`%00`, `\`, whitespace and control characters denied |
//! | `tool.call`, `agent.delegate`, `model.use`, `x-vendor.*` | [`Glob`]s | matched as given |
//! | `cost.budget` | amounts `CUR:decimal`, summed per currency | grants no operation |
//!
//! Every lease error has `retryable: false`. The cost of the checks is bounded by
//! [`MAX_PATTERN_BYTES`], [`MAX_LEASE_PATTERNS`], [`MAX_LEASE_PATTERN_BYTES`] and
//! [`MAX_TARGET_BYTES`]: matching is `O(pattern · target)`, inclusion `O(parent · child)`.

mod authorize;
mod budget;
mod glob;
mod namespace;
mod net;
mod path;
mod subset;

pub use authorize::{Operation, authorize, authorize_target};
pub use budget::{BudgetCounters, CostOutcome, REMAINING_METRIC};
pub use glob::Glob;
pub use namespace::{COST_BUDGET, NAMESPACES, VENDOR_PREFIX};
pub use path::normalize_path;

use crate::wire::{Budget, ErrorCode, ErrorPayload, LeaseConstraints, LeaseMap, Timestamp};
use namespace::{Kind, Pattern, kind_of};
use std::fmt;

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// The most patterns a lease may carry, over all namespaces.
pub const MAX_LEASE_PATTERNS: usize = 256;
/// The most pattern bytes a lease may carry, over all namespaces. With
/// [`MAX_PATTERN_BYTES`] this bounds a subset check to `MAX_LEASE_PATTERN_BYTES²` steps.
pub const MAX_LEASE_PATTERN_BYTES: usize = 8192;
/// The longest operation target [`authorize`] looks at; longer ones are denied.
pub const MAX_TARGET_BYTES: usize = 8192;

/// Why a lease was refused or an operation denied. Never retryable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseError {
    /// The §12 code.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
}

impl LeaseError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        LeaseError {
            code,
            message: message.into(),
        }
    }

    /// The error as a wire payload, with `retryable: false` (D18: lease validation failures
    /// are `INVALID_REQUEST`, never the reference's retryable `INTERNAL_ERROR`).
    pub fn to_error_payload(&self) -> ErrorPayload {
        let mut p = ErrorPayload::new(self.code.clone(), self.message.clone());
        p.retryable = false;
        p
    }
}

impl fmt::Display for LeaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for LeaseError {}

fn invalid(message: impl Into<String>) -> LeaseError {
    LeaseError::new(ErrorCode::InvalidRequest, message)
}

/// One namespace's parsed patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    namespace: String,
    kind: Kind,
    patterns: Vec<Pattern>,
}

/// A parsed and validated lease: the map as requested, its patterns, budget and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    map: LeaseMap,
    grants: Vec<Grant>,
    budget: Option<Budget>,
    expires_at: Option<Timestamp>,
}

impl Lease {
    /// Validates a lease request: every namespace is reserved or `x-vendor.*`, every pattern
    /// parses for its namespace and contains no NUL, `cost.budget` holds valid amounts
    /// (summed per currency, scale kept), a namespace appears once, and the size limits hold.
    /// Any failure is `INVALID_REQUEST` (D18). Whether `expires_at` lies in the future is
    /// checked separately ([`Lease::check_expires_in_future`]), as it needs the time.
    pub fn parse(
        map: &LeaseMap,
        constraints: Option<&LeaseConstraints>,
    ) -> Result<Lease, LeaseError> {
        let mut grants: Vec<Grant> = Vec::new();
        let mut budget: Option<Budget> = None;
        let (mut count, mut bytes) = (0usize, 0usize);
        for (ns, patterns) in &map.0 {
            let kind = kind_of(ns)
                .ok_or_else(|| invalid(format!("unknown lease capability namespace: '{ns}'")))?;
            if grants.iter().any(|g| g.namespace == *ns)
                || (kind == Kind::Budget && budget.is_some())
            {
                return Err(invalid(format!("lease namespace '{ns}' appears twice")));
            }
            count += patterns.len();
            bytes += patterns.iter().map(String::len).sum::<usize>();
            if count > MAX_LEASE_PATTERNS {
                return Err(invalid(format!(
                    "lease has more than {MAX_LEASE_PATTERNS} patterns"
                )));
            }
            if bytes > MAX_LEASE_PATTERN_BYTES {
                return Err(invalid(format!(
                    "lease patterns exceed {MAX_LEASE_PATTERN_BYTES} bytes"
                )));
            }
            if let Some(p) = patterns.iter().find(|p| p.len() > MAX_PATTERN_BYTES) {
                return Err(invalid(format!(
                    "{ns} pattern of {} bytes exceeds {MAX_PATTERN_BYTES}",
                    p.len()
                )));
            }
            if patterns.iter().any(|p| p.contains('\0')) {
                return Err(invalid(format!("{ns} pattern contains a NUL")));
            }
            if kind == Kind::Budget {
                budget = Some(budget::sum_amounts(patterns)?);
                continue;
            }
            let parsed = patterns
                .iter()
                .map(|p| {
                    Pattern::parse(kind, p)
                        .map_err(|why| invalid(format!("invalid {ns} pattern {p:?}: {why}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            grants.push(Grant {
                namespace: ns.clone(),
                kind,
                patterns: parsed,
            });
        }
        Ok(Lease {
            map: map.clone(),
            grants,
            budget,
            // D22: goes out with `Z` wherever it is echoed.
            expires_at: constraints.and_then(|c| c.expires_at.as_ref().map(Timestamp::zulu)),
        })
    }

    /// The lease exactly as requested, for the `job.accepted` echo.
    pub fn map(&self) -> &LeaseMap {
        &self.map
    }

    /// When the lease stops authorizing anything.
    pub fn expires_at(&self) -> Option<&Timestamp> {
        self.expires_at.as_ref()
    }

    /// The initial budget counters: each currency's amounts summed, scale kept
    /// (`["USD:1.00","USD:2.5"]` gives `USD:3.50`, D12). `None` without `cost.budget`.
    pub fn budget(&self) -> Option<Budget> {
        self.budget.clone()
    }

    /// `INVALID_REQUEST` unless `expires_at` (when set) lies after `wall_now` (§9.5).
    pub fn check_expires_in_future(&self, wall_now: &Timestamp) -> Result<(), LeaseError> {
        match &self.expires_at {
            Some(exp) if exp <= wall_now => Err(invalid(format!(
                "lease_constraints.expires_at {} is not in the future",
                exp.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// The parsed patterns of `namespace`, when the lease has it.
    fn grant(&self, namespace: &str) -> Option<&Grant> {
        self.grants.iter().find(|g| g.namespace == namespace)
    }
}
