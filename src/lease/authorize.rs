//! The lease gate (spec §9.3, WIRE.md §14.3, COMPAT D29, D30).

use super::budget::{BudgetCounters, first_exhausted};
use super::namespace::prepare;
use super::{Lease, LeaseError, MAX_TARGET_BYTES};
use crate::wire::{ErrorCode, Timestamp};

/// An authority-bearing operation: a namespace and a target in it, e.g. `fs.read` of
/// `/project/a.txt`, `tool.call` of `search`, `net.fetch` of `https://example.com/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The capability namespace.
    pub namespace: String,
    /// The path, URL or name the operation acts on.
    pub target: String,
}

impl Operation {
    /// An operation on `target` in `namespace`.
    pub fn new(namespace: impl Into<String>, target: impl Into<String>) -> Self {
        Operation {
            namespace: namespace.into(),
            target: target.into(),
        }
    }
}

/// Decides whether `lease` allows `op` at `wall_now`, checking in this order (WIRE.md
/// §14.3):
///
/// 1. `expires_at` reached (`wall_now >= expires_at`) ⇒ `LEASE_EXPIRED` (D30: on every call);
/// 2. no pattern of the namespace matches ⇒ `PERMISSION_DENIED`, with the reference's
///    message `operation fs.read:/etc/passwd not permitted by lease`. `fs.*` targets are
///    normalised first and a relative, NUL-bearing or escaping path is denied (D29);
///    `net.fetch` targets are matched by URL parts; `cost.budget` grants no operation;
/// 3. a budget counter ≤ 0 ⇒ `BUDGET_EXHAUSTED`, message
///    `budget for USD exhausted (remaining=-0.20)`. The counters are `counters` when given,
///    else the lease's initial budget (so `USD:0` is exhausted from the start).
///
/// Every error has `retryable: false` ([`LeaseError::to_error_payload`]).
pub fn authorize(
    wall_now: &Timestamp,
    lease: &Lease,
    counters: Option<&BudgetCounters>,
    op: &Operation,
) -> Result<(), LeaseError> {
    authorize_target(wall_now, lease, counters, op).map(|_| ())
}

/// [`authorize`], returning on success the target exactly as it was matched, so that the
/// caller acts on what was authorised: an `fs.*` path normalised (absolute, no `.`, `..` or
/// empty segment), a `net.fetch` URL in canonical form (lower-cased scheme and host, default
/// port dropped, normalised path, query kept, fragment dropped), any other target as given.
pub fn authorize_target(
    wall_now: &Timestamp,
    lease: &Lease,
    counters: Option<&BudgetCounters>,
    op: &Operation,
) -> Result<String, LeaseError> {
    if let Some(exp) = &lease.expires_at
        && wall_now >= exp
    {
        return Err(LeaseError::new(
            ErrorCode::LeaseExpired,
            format!("lease expired at {}", exp.as_str()),
        ));
    }
    let Some(target) = permitted_target(lease, op) else {
        return Err(LeaseError::new(
            ErrorCode::PermissionDenied,
            format!(
                "operation {}:{} not permitted by lease",
                op.namespace, op.target
            ),
        ));
    };
    let initial = lease.budget.as_ref();
    let budget = counters.map(BudgetCounters::remaining).or(initial);
    if let Some((currency, remaining)) = budget.and_then(first_exhausted) {
        return Err(LeaseError::new(
            ErrorCode::BudgetExhausted,
            format!("budget for {currency} exhausted (remaining={remaining})"),
        ));
    }
    Ok(target)
}

/// The prepared target of `op` (as text) when some pattern of its namespace matches it.
fn permitted_target(lease: &Lease, op: &Operation) -> Option<String> {
    if op.target.len() > MAX_TARGET_BYTES {
        return None;
    }
    let grant = lease.grant(&op.namespace)?;
    let target = prepare(grant.kind, &op.target).ok()?;
    grant
        .patterns
        .iter()
        .any(|p| p.matches(&target))
        .then(|| target.canonical())
}
