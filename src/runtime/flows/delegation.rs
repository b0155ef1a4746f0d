//! Delegation (§10, [D28]): an agent's delegate request and `job.submit` with `parent_job_id`
//! are both checked against the parent lease (subset, remaining budget, expiry); a child runs
//! on the parent's session with the parent's principal.
//!
//! [D28]: crate::compat#d28--delegation

use crate::lease::Operation;
use crate::runtime::Runtime;
use crate::runtime::jobs::lease::JobLease;
use crate::runtime::jobs::{NewJob, resolve_agent};
use crate::time::Instant;
use crate::wire::{
    AgentRef, DelegateBody, ErrorCode, ErrorPayload, EventBody, IdKind, LeaseConstraints, LeaseMap,
};
use serde_json::Value;

impl Runtime {
    /// An agent's delegate request: `agent.delegate` authorized on the child agent's name,
    /// then the subset check, then the `delegate` event on the parent and the child job on
    /// the same session (spec §10).
    pub(in crate::runtime) fn delegate(
        &mut self,
        now: Instant,
        parent_id: &str,
        agent: AgentRef,
        input: Value,
        lease_map: LeaseMap,
        lease_constraints: Option<LeaseConstraints>,
    ) -> Result<String, ErrorPayload> {
        self.authorize_job(
            now,
            parent_id,
            &Operation::new("agent.delegate", agent.name.clone()),
        )?;
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
