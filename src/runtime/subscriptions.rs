//! The subscriptions part (§7.6, [D9], [D10]): which sessions follow which jobs, both ways. The
//! submitting session is never in here: a job's own session always gets its frames.
//!
//! Only live jobs have subscribers: the parent ends a job's subscriptions at its terminal
//! frame ([`Subscriptions::end_job`]) and a session's when its resume window elapses
//! ([`Subscriptions::end_session`]).
//!
//! A clustered runtime also follows jobs that run on other nodes ([`RemoteFollow`]): those
//! count against the session's subscriptions like any other, but no local job emits to them
//! (they are not among a job's [`Subscriptions::subscribers`]): their frames are read from
//! the shared store.
//!
//! [D9]: crate::compat#d9--job-subscribed
//! [D10]: crate::compat#d10--subscribed-events

use super::effect::{ConnId, JobRecord};
use super::fxhash::FxHashMap;
use crate::wire::{ListJobs, Subscribe};

/// (Clustered) a session's subscription to a job running on another node: where and from
/// which seq its frames are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RemoteFollow {
    /// The job's submitting session, whose log holds its frames.
    pub job_session: String,
    /// The last seq delivered, in the submitting session's numbering.
    pub after_seq: u64,
    /// A rotated credential's value reaches the subscriber (the submitting principal, with
    /// `provisioned_credentials`).
    pub keep_secrets: bool,
    /// Set by [`Subscriptions::follow_remote`]: a read answered for an earlier follow of the
    /// same pair is ignored.
    pub generation: u64,
    /// A read of its frames is outstanding.
    pub reading: bool,
}

/// (Clustered) a request waiting for the shared store: a `job.subscribe` (its lookup, then
/// its history) or a `job.cancel` of a job not held here, or a `session.list_jobs`.
#[derive(Debug)]
pub(super) struct RemoteRequest {
    /// The connection it came on.
    pub conn: ConnId,
    /// Its session.
    pub session_id: String,
    /// Its `request_id`.
    pub request_id: String,
    /// What it asks.
    pub ask: RemoteAsk,
}

/// What a [`RemoteRequest`] asks.
#[derive(Debug)]
pub(super) enum RemoteAsk {
    /// `job.subscribe`, waiting for the job's record.
    Subscribe(Subscribe),
    /// `job.subscribe` with history, waiting for the history (the record found).
    History(Subscribe, Box<JobRecord>),
    /// `job.cancel` of this job, waiting for its record.
    Cancel(String),
    /// `session.list_jobs`, waiting for the stored records.
    List(ListJobs),
}

/// Session ↔ job subscriptions, in subscription order on both sides.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    /// Job → subscribed sessions.
    by_job: FxHashMap<String, Vec<String>>,
    /// Session → jobs it subscribed to.
    by_session: FxHashMap<String, Vec<String>>,
    /// (Clustered) (session, job) → its follow of a job running on another node.
    remote: FxHashMap<(String, String), RemoteFollow>,
    /// The last [`RemoteFollow::generation`] given.
    generation: u64,
}

impl Subscriptions {
    /// The sessions subscribed to `job_id`, in subscription order. With no subscription at
    /// all (the usual case) this hashes nothing.
    #[inline]
    pub fn subscribers(&self, job_id: &str) -> &[String] {
        if self.by_job.is_empty() {
            return &[];
        }
        self.by_job.get(job_id).map_or(&[], Vec::as_slice)
    }

    /// `true` when session `sid` is subscribed to `job_id`.
    pub fn contains(&self, sid: &str, job_id: &str) -> bool {
        self.by_session
            .get(sid)
            .is_some_and(|jobs| jobs.iter().any(|j| j == job_id))
    }

    /// How many jobs session `sid` is subscribed to (bound `max_subscriptions_per_session`).
    pub fn count(&self, sid: &str) -> usize {
        self.by_session.get(sid).map_or(0, Vec::len)
    }

    /// Subscribes `sid` to `job_id`; `false` when it already was.
    pub fn add(&mut self, sid: &str, job_id: &str) -> bool {
        if self.contains(sid, job_id) {
            return false;
        }
        self.by_job
            .entry(job_id.to_owned())
            .or_default()
            .push(sid.to_owned());
        self.by_session
            .entry(sid.to_owned())
            .or_default()
            .push(job_id.to_owned());
        true
    }

    /// `job.unsubscribe`: `sid` stops following `job_id` (nothing when it did not).
    pub fn remove(&mut self, sid: &str, job_id: &str) {
        remove_from(&mut self.by_session, sid, job_id);
        remove_from(&mut self.by_job, job_id, sid);
        if !self.remote.is_empty() {
            self.remote.remove(&(sid.to_owned(), job_id.to_owned()));
        }
    }

    /// (Clustered) subscribes `sid` to `job_id`, a job running on another node, read from
    /// `follow.after_seq` on; `false` (nothing changes) when it already was subscribed.
    /// Returns with the follow's generation set.
    pub fn follow_remote(&mut self, sid: &str, job_id: &str, mut follow: RemoteFollow) -> bool {
        if self.contains(sid, job_id) {
            return false;
        }
        self.by_session
            .entry(sid.to_owned())
            .or_default()
            .push(job_id.to_owned());
        self.generation = self.generation.wrapping_add(1);
        follow.generation = self.generation;
        self.remote
            .insert((sid.to_owned(), job_id.to_owned()), follow);
        true
    }

    /// (Clustered) `sid`'s follow of remote job `job_id`, if it still holds one.
    pub fn remote_follow(&mut self, sid: &str, job_id: &str) -> Option<&mut RemoteFollow> {
        if self.remote.is_empty() {
            return None;
        }
        self.remote.get_mut(&(sid.to_owned(), job_id.to_owned()))
    }

    /// The job ended (or was forgotten): every subscription to it ends.
    #[inline]
    pub fn end_job(&mut self, job_id: &str) {
        if self.by_job.is_empty() {
            return;
        }
        for sid in self.by_job.remove(job_id).unwrap_or_default() {
            remove_from(&mut self.by_session, &sid, job_id);
        }
    }

    /// The session is gone (its resume window elapsed): every subscription it held ends.
    pub fn end_session(&mut self, sid: &str) {
        for job in self.by_session.remove(sid).unwrap_or_default() {
            remove_from(&mut self.by_job, &job, sid);
            if !self.remote.is_empty() {
                self.remote.remove(&(sid.to_owned(), job));
            }
        }
    }
}

/// Removes `value` from `map[key]`, and the key once its list is empty.
fn remove_from(map: &mut FxHashMap<String, Vec<String>>, key: &str, value: &str) {
    if let Some(list) = map.get_mut(key) {
        list.retain(|v| v != value);
        if list.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(s: &Subscriptions, job: &str) -> Vec<String> {
        s.subscribers(job).to_vec()
    }

    #[test]
    fn add_is_idempotent_and_kept_in_order_both_ways() {
        let mut s = Subscriptions::default();
        assert_eq!(s.subscribers("job_1"), &[] as &[String]);
        assert!(s.add("sess_b", "job_1"));
        assert!(s.add("sess_a", "job_1"));
        assert!(!s.add("sess_b", "job_1"));
        assert!(s.add("sess_b", "job_2"));
        assert_eq!(subs(&s, "job_1"), vec!["sess_b", "sess_a"]);
        assert_eq!(s.count("sess_b"), 2);
        assert!(s.contains("sess_b", "job_2"));
        assert!(!s.contains("sess_a", "job_2"));
    }

    #[test]
    fn unsubscribe_removes_one_pair_only() {
        let mut s = Subscriptions::default();
        s.add("sess_a", "job_1");
        s.add("sess_b", "job_1");
        s.remove("sess_a", "job_1");
        s.remove("sess_a", "job_9");
        assert_eq!(subs(&s, "job_1"), vec!["sess_b"]);
        assert_eq!(s.count("sess_a"), 0);
        s.remove("sess_b", "job_1");
        assert!(s.by_job.is_empty() && s.by_session.is_empty());
    }

    #[test]
    fn a_job_end_frees_every_subscriber_slot() {
        let mut s = Subscriptions::default();
        s.add("sess_a", "job_1");
        s.add("sess_a", "job_2");
        s.add("sess_b", "job_1");
        s.end_job("job_1");
        assert_eq!(subs(&s, "job_1"), Vec::<String>::new());
        assert_eq!((s.count("sess_a"), s.count("sess_b")), (1, 0));
        assert_eq!(subs(&s, "job_2"), vec!["sess_a"]);
    }

    fn follow(after_seq: u64) -> RemoteFollow {
        RemoteFollow {
            job_session: "sess_owner".into(),
            after_seq,
            keep_secrets: false,
            generation: 0,
            reading: false,
        }
    }

    #[test]
    fn a_remote_follow_counts_but_gets_no_local_frames() {
        let mut s = Subscriptions::default();
        assert!(s.follow_remote("sess_a", "job_r", follow(4)));
        assert!(!s.follow_remote("sess_a", "job_r", follow(9)));
        assert_eq!(subs(&s, "job_r"), Vec::<String>::new());
        assert_eq!(s.count("sess_a"), 1);
        assert!(s.contains("sess_a", "job_r"));
        let f = s.remote_follow("sess_a", "job_r").cloned();
        assert_eq!(f.map(|f| (f.after_seq, f.generation)), Some((4, 1)));
        s.remove("sess_a", "job_r");
        assert_eq!(s.remote_follow("sess_a", "job_r"), None);
        assert!(s.follow_remote("sess_a", "job_r", follow(0)));
        assert_eq!(
            s.remote_follow("sess_a", "job_r").map(|f| f.generation),
            Some(2)
        );
        s.end_session("sess_a");
        assert_eq!(s.remote_follow("sess_a", "job_r"), None);
        assert_eq!(s.count("sess_a"), 0);
        assert!(s.remote.is_empty() && s.by_session.is_empty());
    }

    #[test]
    fn a_session_end_leaves_other_subscribers() {
        let mut s = Subscriptions::default();
        s.add("sess_a", "job_1");
        s.add("sess_b", "job_1");
        s.add("sess_a", "job_2");
        s.end_session("sess_a");
        assert_eq!(subs(&s, "job_1"), vec!["sess_b"]);
        assert_eq!(subs(&s, "job_2"), Vec::<String>::new());
        assert_eq!(s.count("sess_a"), 0);
    }
}
