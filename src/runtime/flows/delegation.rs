//! Delegation (§10, [D28]): an agent's delegate request and `job.submit` with `parent_job_id`
//! are both checked against the parent lease (`agent.delegate`, subset, remaining budget,
//! expiry); a delegated child runs on the parent's session with the parent's principal. A
//! child reserves its budget from the parent (the jobs part's `delegation` module); a
//! parent's end cancels its live children, recursively (`end_children`).
//!
//! [D28]: crate::compat#d28--delegation

use crate::lease::Operation;
use crate::runtime::Runtime;
use crate::runtime::jobs::lease::JobLease;
use crate::runtime::jobs::{NewJob, resolve_agent};
use crate::time::Instant;
use crate::wire::{
    AgentRef, DelegateBody, ErrorCode, ErrorPayload, EventBody, FinalStatus, IdKind, JobId,
    LeaseConstraints, LeaseMap,
};
use serde_json::Value;

impl Runtime {
    /// An agent's delegate request: `agent.delegate` authorized on the child agent's name
    /// (a refusal is reported as [`crate::runtime::RuntimeEvent::OperationRefused`] and
    /// counted, like every refused operation), then the subset check, then the `delegate`
    /// event on the parent and the child job on the same session (spec §10). The child's
    /// `expires_at` goes out in its `Z` form, as `job.submit`'s does.
    pub(in crate::runtime) fn delegate(
        &mut self,
        now: Instant,
        parent_id: &str,
        agent: AgentRef,
        input: Value,
        lease_map: LeaseMap,
        lease_constraints: Option<LeaseConstraints>,
    ) -> Result<String, ErrorPayload> {
        // §14: the same gate and audit as every checked operation.
        self.check_operation(
            now,
            &JobId::from(parent_id.to_owned()),
            &Operation::new("agent.delegate", agent.name.clone()),
        )?;
        // D22: an agent-supplied `+00:00` expiry goes out (in `delegate`, on the child) as `Z`.
        let lease_constraints = lease_constraints.map(LeaseConstraints::zulu);
        let resolved = resolve_agent(&self.cfg, &agent)?;
        let requested = JobLease::parse(&lease_map, lease_constraints.as_ref())?;
        requested.check_future(&self.ids.timestamp_at(now))?;
        let Some(parent) = self.jobs.get(parent_id) else {
            return Err(ErrorPayload::new(
                ErrorCode::JobNotFound,
                "parent job not found",
            ));
        };
        let lease = requested.subset_of(parent.lease())?;
        let session_id = parent.session_id().to_owned();
        let principal = parent.principal().to_owned();
        let trace_id = parent.trace_id();
        let active = self
            .sessions
            .get(&session_id)
            .map_or(0, |s| s.active_jobs());
        if active >= self.cfg.bounds.max_jobs_per_session || self.effects_full() {
            return Err(ErrorPayload::new(
                ErrorCode::InternalError,
                "too many unfinished jobs on this session",
            ));
        }
        if !self.make_room_for_job() {
            return Err(ErrorPayload::new(
                ErrorCode::InternalError,
                "too many jobs in the runtime",
            ));
        }
        let child_id = self.mint(now, IdKind::Job);
        // §10: the child's budget is reserved from the parent's counters.
        self.jobs
            .attach_child(parent_id, &child_id, lease.budget.as_ref())?;
        let body = DelegateBody {
            child_job_id: child_id.clone().into(),
            agent: resolved.clone(),
            lease: Some(lease_map),
            lease_constraints: lease_constraints.clone(),
            extra: Default::default(),
        };
        self.emit_event(now, parent_id, EventBody::Delegate(body));
        let nj = NewJob {
            job_id: child_id.clone(),
            conn: None,
            session_id,
            principal,
            request_id: None,
            trace_id,
            agent: resolved,
            input,
            lease,
            lease_constraints,
            idempotency: None,
            max_runtime_sec: None,
            parent_job_id: Some(parent_id.to_owned()),
            delegate_id: None,
        };
        self.admit(now, nj);
        Ok(child_id)
    }
}

impl Runtime {
    /// A job ended: every live descendant is cancelled, each with `job.result cancelled`
    /// and its credentials revoked (§10), children before their parents, so that what a
    /// grandchild did not spend reaches its parent before that parent settles with its own;
    /// then the job is detached from its parent (what it did not spend of its reservation
    /// goes back). Iterative: a deep chain of delegations does not grow the stack.
    pub(in crate::runtime) fn end_children(&mut self, now: Instant, job_id: &str) {
        // Pre-order over the live descendants; reversed, each comes after its descendants.
        let mut order = Vec::new();
        let mut todo = self.jobs.children(job_id);
        while let Some(child) = todo.pop() {
            todo.extend(self.jobs.children(&child));
            order.push(child);
        }
        for child in order.iter().rev() {
            if self.jobs.is_live(child) {
                self.end_one(now, child, FinalStatus::Cancelled);
                self.detach_from_parent(child);
            }
        }
        self.detach_from_parent(job_id);
    }

    /// Detaches an ended job from its parent, handing back what it left of its budget.
    fn detach_from_parent(&mut self, job_id: &str) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let Some(parent) = job.parent_job_id().map(str::to_owned) else {
            return;
        };
        let left = job.lease().remaining().cloned();
        self.jobs.detach_child(&parent, job_id, left.as_ref());
    }
}
