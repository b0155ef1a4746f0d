//! The runtime's view of a job's lease: the parsed [`Lease`] from [`crate::lease`] plus its
//! live [`BudgetCounters`], with the checks the runtime needs (authorize, cost, subset).

use crate::lease::{BudgetCounters, CostOutcome, Lease, Operation};
use crate::wire::{
    Budget, Decimal, ErrorCode, ErrorPayload, LeaseConstraints, LeaseMap, MetricBody, MetricValue,
    Timestamp,
};

/// A validated lease with its budget counters.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::runtime) struct JobLease {
    lease: Lease,
    counters: Option<BudgetCounters>,
    /// The lease as requested (the `job.accepted` echo).
    pub map: LeaseMap,
    /// When the lease stops authorizing anything (after inheritance from a parent).
    pub expires_at: Option<Timestamp>,
    /// Initial totals (the `job.accepted` echo, D12).
    pub budget: Option<Budget>,
}

impl JobLease {
    fn from_lease(lease: Lease) -> JobLease {
        let budget = lease.budget();
        JobLease {
            map: lease.map().clone(),
            expires_at: lease.expires_at().cloned(),
            counters: budget.clone().map(BudgetCounters::new),
            budget,
            lease,
        }
    }

    /// Validates namespaces, patterns and budget amounts (D18: `INVALID_REQUEST`).
    pub fn parse(
        map: &LeaseMap,
        constraints: Option<&LeaseConstraints>,
    ) -> Result<JobLease, ErrorPayload> {
        Lease::parse(map, constraints)
            .map(JobLease::from_lease)
            .map_err(|e| e.to_error_payload())
    }

    /// `INVALID_REQUEST` unless `expires_at` lies after `wall_now` (§9.5).
    pub fn check_future(&self, wall_now: &Timestamp) -> Result<(), ErrorPayload> {
        self.lease
            .check_expires_in_future(wall_now)
            .map_err(|e| e.to_error_payload())
    }

    /// The live counters.
    pub fn remaining(&self) -> Option<&Budget> {
        self.counters.as_ref().map(BudgetCounters::remaining)
    }

    /// Expiry → `LEASE_EXPIRED`, pattern → `PERMISSION_DENIED`, counter ≤ 0 →
    /// `BUDGET_EXHAUSTED` (WIRE.md §14.3, D29, D30).
    pub fn authorize(&self, wall_now: &Timestamp, op: &Operation) -> Result<(), ErrorPayload> {
        crate::lease::authorize(wall_now, &self.lease, self.counters.as_ref(), op)
            .map_err(|e| e.to_error_payload())
    }

    /// [`JobLease::authorize`], returning the target as matched.
    pub fn authorize_target(
        &self,
        wall_now: &Timestamp,
        op: &Operation,
    ) -> Result<String, ErrorPayload> {
        crate::lease::authorize_target(wall_now, &self.lease, self.counters.as_ref(), op)
            .map_err(|e| e.to_error_payload())
    }

    /// Applies a cost metric. `Ok(None)`: not a cost. `Ok(Some(m))`: applied, with the
    /// `cost.budget.remaining` metric to emit, if any. A negative cost is refused (D31).
    pub fn apply_cost(
        &mut self,
        metric: &MetricBody,
    ) -> Result<Option<Option<MetricBody>>, ErrorPayload> {
        if metric.name == crate::lease::REMAINING_METRIC {
            return Ok(None);
        }
        // D31: a negative `cost.*` is refused whether or not the lease has a budget (and
        // whatever its unit), so that nothing is emitted for it.
        if metric.name.starts_with("cost.") && is_negative(&metric.value) {
            return Err(ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!("negative cost refused for {}", metric.name),
            ));
        }
        let Some(counters) = self.counters.as_mut() else {
            return Ok(None);
        };
        match counters
            .apply_cost(metric)
            .map_err(|e| e.to_error_payload())?
        {
            CostOutcome::NotCost => Ok(None),
            CostOutcome::Applied {
                remaining_metric, ..
            } => Ok(Some(remaining_metric)),
        }
    }

    /// §9.4 subset against the parent's live counters (D28), then the child as it runs under
    /// the parent: expiry no later than the parent's, unnamed currencies inherited.
    pub fn subset_of(&self, parent: &JobLease) -> Result<JobLease, ErrorPayload> {
        let remaining = parent.remaining();
        self.lease
            .check_subset_of(&parent.lease, remaining)
            .map_err(|e| e.to_error_payload())?;
        let inherited = self.lease.inherit_from(&parent.lease, remaining);
        let mut out = JobLease::from_lease(inherited);
        // The echo stays what the child asked for.
        out.map = self.map.clone();
        Ok(out)
    }
}

/// `true` for a number or decimal string below zero (an unreadable value is not negative
/// here; a budgeted cost with one is refused by the counters).
fn is_negative(v: &MetricValue) -> bool {
    match v {
        MetricValue::Number(n) => n.as_f64().is_some_and(|f| f < 0.0),
        MetricValue::Text(t) => Decimal::parse(t).is_ok_and(|d| d.is_negative()),
    }
}

/// A JSON float (`1` goes out as `1.0`, as the reference writes metric values).
pub(in crate::runtime) fn float_number(v: f64) -> serde_json::Number {
    serde_json::Number::from_f64(v).unwrap_or_else(|| serde_json::Number::from(0))
}
