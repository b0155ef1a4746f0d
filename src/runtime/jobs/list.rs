//! `session.list_jobs` → `session.jobs` (§6.6, [D11]): every job the principal may see, in
//! submission order, filtered, paged with an opaque cursor.
//!
//! [D11]: crate::compat#d11--job-list-entries

use super::remote::remote_summary;
use super::{Job, Jobs};
use crate::runtime::config::ObserverPolicy;
use crate::runtime::effect::JobRecord;
use crate::wire::{
    AgentRef, ErrorCode, ErrorPayload, JobStatus, JobSummary, Jobs as JobsPage, ListJobs, Timestamp,
};

/// A listed job: one running here, or (clustered) a remote job of a session held here.
enum Listed<'a> {
    Local(&'a Job),
    Remote(&'a JobRecord),
}

impl Listed<'_> {
    fn principal(&self) -> &str {
        match self {
            Listed::Local(j) => j.principal(),
            Listed::Remote(r) => &r.principal,
        }
    }

    fn status(&self) -> JobStatus {
        match self {
            Listed::Local(j) => j.status(),
            Listed::Remote(r) => r.status,
        }
    }

    fn agent(&self) -> &AgentRef {
        match self {
            Listed::Local(j) => j.agent(),
            Listed::Remote(r) => &r.agent,
        }
    }

    fn submitted_at(&self) -> &Timestamp {
        match self {
            Listed::Local(j) => &j.submitted_at,
            Listed::Remote(r) => &r.submitted_at,
        }
    }

    fn summary(&self) -> JobSummary {
        match self {
            Listed::Local(j) => j.summary(),
            Listed::Remote(r) => remote_summary(r),
        }
    }
}

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
        let local = self.in_order().map(Listed::Local);
        let remote = self.remote_in_order().map(Listed::Remote);
        let matching: Vec<_> = local
            .chain(remote)
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
                    .is_none_or(|t| j.submitted_at() > t)
            })
            .collect();
        let page: Vec<JobSummary> = matching
            .iter()
            .skip(start)
            .take(limit as usize)
            .map(Listed::summary)
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
