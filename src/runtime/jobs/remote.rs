//! Remote jobs (clustered runtimes only): jobs of sessions held here that run on other nodes.
//! A claim registers them; their frames arrive forwarded and are stamped here, which moves
//! their state. Nothing runs them here: they are only listed (`session.list_jobs`) and
//! cancelled (the cancel is routed to their node).

use super::{Jobs, err, not_found};
use crate::runtime::config::ObserverPolicy;
use crate::runtime::effect::JobRecord;
use crate::wire::{ErrorCode, ErrorPayload, JobStatus, JobSummary, Message};

/// The status a terminal `message` ends a job with (`None`: not a terminal).
fn terminal_status(message: &Message) -> Option<JobStatus> {
    match message {
        Message::Result(r) => Some(r.final_status.status()),
        Message::JobError(_) => Some(JobStatus::Error),
        _ => None,
    }
}

/// A remote job's `session.jobs` entry (§6.6).
pub(in crate::runtime) fn remote_summary(r: &JobRecord) -> JobSummary {
    JobSummary {
        job_id: r.job_id.clone(),
        agent: r.agent.to_string(),
        status: r.status,
        submitted_at: Some(r.submitted_at.clone()),
        parent_job_id: r.parent_job_id.clone(),
        delegate_id: r.delegate_id.clone(),
        trace_id: r.trace_id,
        created_at: Some(r.submitted_at.clone()),
        lease: Some(r.lease.clone()),
        last_event_seq: Some(r.last_event_seq),
    }
}

impl Jobs {
    /// Registers (or refreshes) remote job `r`; `true` when it is new here and unfinished
    /// (it takes a job slot of its session). A job known locally is never remote.
    pub fn add_remote(&mut self, r: JobRecord) -> bool {
        let id = String::from(r.job_id.clone());
        if self.map.contains_key(&id) {
            return false;
        }
        let unfinished = !r.status.is_terminal();
        match self.remote.map.get_mut(&id) {
            Some(known) => {
                // A later claim may still see it running: never resurrect an ended job.
                if !known.status.is_terminal() {
                    *known = r;
                }
                false
            }
            None => {
                self.remote.order.push_back(id.clone());
                self.remote.map.insert(id, r);
                self.trim_remote();
                unfinished
            }
        }
    }

    /// Remote jobs in registration order.
    pub fn remote_in_order(&self) -> impl Iterator<Item = &JobRecord> {
        self.remote
            .order
            .iter()
            .filter_map(|id| self.remote.map.get(id))
    }

    /// A forwarded frame of remote job `id` was stamped at `seq` (0: not stamped) carrying
    /// `message`; `true` when it ended the job just now (its session's slot is released).
    pub fn remote_frame(&mut self, id: &str, seq: u64, message: &Message) -> bool {
        let Some(r) = self.remote.map.get_mut(id) else {
            return false;
        };
        if seq > 0 {
            r.last_event_seq = seq;
        }
        let Some(status) = terminal_status(message) else {
            return false;
        };
        if r.status.is_terminal() {
            return false;
        }
        r.status = status;
        r.terminal = Some(message.clone());
        self.trim_remote();
        true
    }

    /// Forgets every remote job of session `sid` (another node holds it now).
    pub fn forget_remote_session(&mut self, sid: &str) {
        let map = &mut self.remote.map;
        self.remote.order.retain(|id| {
            let drop = map.get(id).is_some_and(|r| r.session_id.as_str() == sid);
            if drop {
                map.remove(id);
            }
            !drop
        });
    }

    /// `job.cancel` of remote job `id` by session `sid` of `principal`, with the same
    /// answers as for a local job ([D7], [D37]): `None` when `id` is not a remote job,
    /// `Some(Ok(true))` to route the cancel, `Some(Ok(false))` when it already ended.
    ///
    /// [D7]: crate::compat#d7--who-may-cancel
    /// [D37]: crate::compat#d37--existence-leak
    pub fn may_cancel_remote(
        &self,
        id: &str,
        principal: &str,
        sid: &str,
        policy: &ObserverPolicy,
    ) -> Option<Result<bool, ErrorPayload>> {
        let r = self.remote.map.get(id)?;
        Some(if !policy.may_observe(principal, &r.principal) {
            Err(not_found(id))
        } else if r.session_id.as_str() != sid {
            Err(err(
                ErrorCode::PermissionDenied,
                "only the submitting session may cancel this job",
            ))
        } else {
            Ok(!r.status.is_terminal())
        })
    }

    /// Forgets the oldest ended remote jobs past `max_retained_jobs`.
    fn trim_remote(&mut self) {
        let map = &mut self.remote.map;
        let mut over = map.len().saturating_sub(self.max_retained);
        if over == 0 {
            return;
        }
        self.remote.order.retain(|id| {
            let drop = over > 0 && map.get(id).is_none_or(|r| r.status.is_terminal());
            if drop {
                map.remove(id);
                over -= 1;
            }
            !drop
        });
    }
}
