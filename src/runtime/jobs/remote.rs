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
                    let seq = known.last_event_seq.max(r.last_event_seq);
                    *known = r;
                    known.last_event_seq = seq;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::Bounds;
    use crate::wire::{AgentRef, FinalStatus, JobResult, LeaseMap, Timestamp};

    fn record(id: &str, session: &str, status: JobStatus) -> JobRecord {
        JobRecord {
            job_id: id.into(),
            session_id: session.into(),
            principal: "alice".into(),
            agent: AgentRef::new("slow", Some("1.0.0".into())),
            status,
            submitted_at: Timestamp::from_unix_micros(1_795_483_825_000_000),
            last_event_seq: 3,
            lease: LeaseMap::default(),
            lease_constraints: None,
            trace_id: None,
            parent_job_id: None,
            delegate_id: None,
            accepted: None,
            terminal: None,
        }
    }

    fn cancelled() -> Message {
        Message::Result(JobResult {
            final_status: FinalStatus::Cancelled,
            result: None,
            result_id: None,
            result_size: None,
            summary: None,
            completed_at: None,
        })
    }

    fn jobs(max_retained: usize) -> Jobs {
        Jobs::new(&Bounds {
            max_retained_jobs: max_retained,
            ..Bounds::default()
        })
    }

    fn ids(jobs: &Jobs) -> Vec<(String, JobStatus, u64)> {
        jobs.remote_in_order()
            .map(|r| (r.job_id.to_string(), r.status, r.last_event_seq))
            .collect()
    }

    #[test]
    fn remote_jobs_register_once_end_once_and_never_resurrect() {
        let mut j = jobs(10);
        assert!(j.add_remote(record("job_1", "sess_1", JobStatus::Running)));
        assert!(!j.add_remote(record("job_1", "sess_1", JobStatus::Running)));
        assert!(!j.add_remote(record("job_2", "sess_1", JobStatus::Success)));
        assert!(!j.remote_frame(
            "job_1",
            7,
            &Message::Pong(crate::wire::Pong {
                ping_nonce: "n".into(),
                received_at: Timestamp::from_unix_micros(0),
            })
        ));
        assert!(j.remote_frame("job_1", 8, &cancelled()));
        assert!(!j.remote_frame("job_1", 9, &cancelled()));
        assert!(!j.remote_frame("job_9", 1, &cancelled()));
        // A later claim still listing it as running changes nothing.
        assert!(!j.add_remote(record("job_1", "sess_1", JobStatus::Running)));
        assert_eq!(
            ids(&j),
            vec![
                ("job_1".to_owned(), JobStatus::Cancelled, 9),
                ("job_2".to_owned(), JobStatus::Success, 3),
            ]
        );
    }

    #[test]
    fn remote_cancel_answers_like_a_local_one_and_sessions_forget_theirs() {
        let mut j = jobs(2);
        j.add_remote(record("job_1", "sess_1", JobStatus::Running));
        j.add_remote(record("job_2", "sess_2", JobStatus::Success));
        let policy = ObserverPolicy::default();
        let v = |j: &Jobs, id: &str, p: &str, s: &str| {
            j.may_cancel_remote(id, p, s, &policy)
                .map(|r| r.map_err(|e| (e.code, e.message)))
        };
        assert_eq!(v(&j, "job_1", "alice", "sess_1"), Some(Ok(true)));
        assert_eq!(v(&j, "job_2", "alice", "sess_2"), Some(Ok(false)));
        assert_eq!(
            v(&j, "job_1", "alice", "sess_2"),
            Some(Err((
                ErrorCode::PermissionDenied,
                "only the submitting session may cancel this job".to_owned()
            )))
        );
        assert_eq!(
            v(&j, "job_1", "bob", "sess_1"),
            Some(Err((
                ErrorCode::JobNotFound,
                "job \"job_1\" not found".to_owned()
            )))
        );
        assert_eq!(v(&j, "job_9", "alice", "sess_1"), None);
        // Over `max_retained_jobs` (2) the oldest ended one goes.
        j.add_remote(record("job_3", "sess_1", JobStatus::Running));
        assert_eq!(
            ids(&j).into_iter().map(|r| r.0).collect::<Vec<_>>(),
            vec!["job_1".to_owned(), "job_3".to_owned()]
        );
        j.forget_remote_session("sess_1");
        assert_eq!(ids(&j), Vec::new());
    }
}
