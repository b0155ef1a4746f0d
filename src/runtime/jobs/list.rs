//! `session.list_jobs` → `session.jobs` (§6.6, D11): every job the principal may see, in
//! submission order, filtered, paged with an opaque cursor.

use super::Jobs;
use crate::runtime::config::ObserverPolicy;
use crate::wire::{AgentRef, ErrorCode, ErrorPayload, JobSummary, Jobs as JobsPage, ListJobs};

/// Default page size.
const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
const MAX_LIMIT: u32 = 1000;

impl Jobs {
    /// The page `req` asks for, as `principal` may see it; `Err` when the limit is out of
    /// range (the caller adds the request id).
    pub fn list(
        &self,
        principal: &str,
        policy: &ObserverPolicy,
        req: ListJobs,
        request_id: String,
    ) -> Result<JobsPage, ErrorPayload> {
        let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )
            .with_request_id(request_id));
        }
        let filter = req.filter.unwrap_or_default();
        // The cursor is an offset into the filtered list; anything else restarts at 0.
        let start: usize = req
            .cursor
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let matching: Vec<_> = self
            .in_order()
            .filter(|j| policy.may_observe(principal, j.principal()))
            .filter(|j| {
                filter
                    .status
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|x| x == j.status().as_str()))
            })
            .filter(|j| {
                filter
                    .agent
                    .as_ref()
                    .is_none_or(|a| agent_matches(a, j.agent()))
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
            .map(|j| j.summary())
            .collect();
        let end = start.saturating_add(page.len());
        let next_cursor = (end < matching.len()).then(|| end.to_string());
        Ok(JobsPage {
            request_id: Some(request_id.into()),
            jobs: page,
            next_cursor,
        })
    }
}

/// `filter.agent` (§6.6): `name@version` matches that version only; a bare `name` matches
/// the agent at every version.
fn agent_matches(filter: &str, agent: &AgentRef) -> bool {
    match filter.split_once('@') {
        Some(_) => filter == agent.to_string(),
        None => filter == agent.name,
    }
}
