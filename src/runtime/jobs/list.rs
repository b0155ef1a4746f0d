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

/// A listed job: one held here, or (clustered) a remote job of a session held here or a
/// record of the shared store.
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
        self.list_merged(principal, policy, req, request_id, &[])
    }

    /// [`Jobs::list`] over the jobs held here and (clustered) `stored`, the shared store's
    /// records: a record of a job held here is left out (the held job wins); the others go
    /// in submission order (`submitted_at`, then job id) among the held jobs, which keep
    /// their own order.
    pub fn list_merged(
        &self,
        principal: &str,
        policy: &ObserverPolicy,
        req: ListJobs,
        request_id: String,
        stored: &[JobRecord],
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
            .merged(stored)
            .into_iter()
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

impl Jobs {
    /// The held jobs in order, with the records of `stored` not held here merged in by
    /// submission time.
    fn merged<'a>(&'a self, stored: &'a [JobRecord]) -> Vec<Listed<'a>> {
        let remote: Vec<&JobRecord> = self.remote_in_order().collect();
        let held: std::collections::HashSet<&str> =
            remote.iter().map(|r| r.job_id.as_str()).collect();
        let mut extra: Vec<&JobRecord> = stored
            .iter()
            .filter(|r| !self.map.contains_key(r.job_id.as_str()))
            .filter(|r| !held.contains(r.job_id.as_str()))
            .collect();
        if extra.is_empty() {
            return self
                .in_order()
                .map(Listed::Local)
                .chain(remote.into_iter().map(Listed::Remote))
                .collect();
        }
        // A remote job of a session held here is fresher than the store's record of it.
        extra.extend(remote);
        extra.sort_by(|a, b| {
            (&a.submitted_at, a.job_id.as_str()).cmp(&(&b.submitted_at, b.job_id.as_str()))
        });
        extra.dedup_by(|a, b| a.job_id == b.job_id);
        let mut out = Vec::with_capacity(self.map.len() + extra.len());
        let mut extra = extra.into_iter().peekable();
        for j in self.in_order() {
            while let Some(r) = extra.next_if(|r| r.submitted_at < j.submitted_at) {
                out.push(Listed::Remote(r));
            }
            out.push(Listed::Local(j));
        }
        out.extend(extra.map(Listed::Remote));
        out
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
