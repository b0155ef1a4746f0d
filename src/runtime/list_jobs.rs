//! `session.list_jobs` → `session.jobs` (§6.6, D11): every job the principal may see, in
//! submission order, filtered, paged with an opaque cursor.

use super::Runtime;
use super::effect::ConnId;
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorPayload, JobSummary, Jobs, ListJobs, Message};

/// Default page size.
const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
const MAX_LIMIT: u32 = 1000;

impl Runtime {
    pub(super) fn list_jobs(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        req: ListJobs,
    ) {
        let Some(principal) = self.sessions.get(sid).map(|s| s.principal().to_owned()) else {
            return;
        };
        let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            let e = ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )
            .with_request_id(request_id);
            self.send_error(now, conn, e);
            return;
        }
        let filter = req.filter.unwrap_or_default();
        // The cursor is an offset into the filtered list; anything else restarts at 0.
        let start: usize = req
            .cursor
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let policy = &self.cfg.observer_policy;
        let matching: Vec<&super::jobs::Job> = self
            .job_order
            .iter()
            .filter_map(|id| self.jobs.get(id))
            .filter(|j| policy.may_observe(&principal, &j.principal))
            .filter(|j| {
                filter
                    .status
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x == j.status.as_str()))
            })
            .filter(|j| {
                filter
                    .agent
                    .as_ref()
                    .is_none_or(|a| *a == j.agent.to_string())
            })
            .filter(|j| {
                filter
                    .created_after
                    .as_ref()
                    .is_none_or(|t| j.submitted_at > *t)
            })
            .collect();
        let page: Vec<JobSummary> = matching
            .iter()
            .skip(start)
            .take(limit as usize)
            .map(|j| JobSummary {
                job_id: j.id.clone(),
                agent: j.agent.to_string(),
                status: j.status,
                submitted_at: Some(j.submitted_at.clone()),
                parent_job_id: j.parent_job_id.clone(),
                delegate_id: j.delegate_id.clone(),
                trace_id: j.trace_id,
                created_at: Some(j.submitted_at.clone()),
                lease: Some(j.lease.map.clone()),
                last_event_seq: Some(j.last_event_seq),
            })
            .collect();
        let end = start.saturating_add(page.len());
        let next_cursor = (end < matching.len()).then(|| end.to_string());
        let jobs = Jobs {
            request_id: Some(request_id),
            jobs: page,
            next_cursor,
        };
        let f = self.envelope(now, conn, Message::Jobs(jobs));
        self.transmit(conn, f);
    }
}
