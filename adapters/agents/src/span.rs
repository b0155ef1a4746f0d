//! The `tracing` span of a job's agent task (issue 11 §5, spec §11).
//!
//! [`crate::run_job`] runs every agent inside one `arcp.job` span, so all three adapters get
//! it: `job_id`, `session_id`, `principal`, `agent`, `parent_job_id` (a delegated child),
//! the W3C `trace_id` (the core gives a child its parent's, so a child's span carries the
//! same one), `arcp.lease.expires_at` and `arcp.budget.remaining` (the lease's `cost.budget`
//! total at the start; the counters the host reports once the job has ended).

use arcp_proto::runtime::AgentStart;
use arcp_proto::wire::{Amount, Budget};
use tracing::field::{Empty, display};

/// The span name.
pub const JOB_SPAN: &str = "arcp.job";

/// `USD:0.50,EUR:1.00`: a budget's counters in the wire's amount form.
pub fn format_budget(budget: &Budget) -> String {
    budget
        .0
        .iter()
        .map(|(c, d)| format!("{c}:{d}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The lease's `cost.budget` total, or `None` when the lease names no (valid) budget.
pub(crate) fn lease_budget(start: &AgentStart) -> Option<Budget> {
    let patterns = start.lease.get("cost.budget")?;
    let mut budget = Budget::default();
    for p in patterns {
        let a = Amount::parse(p).ok()?;
        budget.add(&a.currency, &a.value).ok()?;
    }
    (!budget.is_empty()).then_some(budget)
}

/// The `arcp.job` span of `start` (INFO level).
pub(crate) fn job_span(start: &AgentStart) -> tracing::Span {
    let span = tracing::info_span!(
        JOB_SPAN,
        job_id = %start.job_id,
        session_id = %start.session_id,
        principal = %start.principal,
        agent = %start.agent,
        parent_job_id = Empty,
        trace_id = Empty,
        arcp.lease.expires_at = Empty,
        arcp.budget.remaining = Empty,
    );
    if let Some(p) = &start.parent_job_id {
        span.record("parent_job_id", p.as_str());
    }
    if let Some(t) = &start.trace_id {
        span.record("trace_id", display(t));
    }
    if let Some(at) = start
        .lease_constraints
        .as_ref()
        .and_then(|c| c.expires_at.as_ref())
    {
        span.record("arcp.lease.expires_at", at.as_str());
    }
    if let Some(b) = lease_budget(start) {
        span.record("arcp.budget.remaining", format_budget(&b));
    }
    span
}
