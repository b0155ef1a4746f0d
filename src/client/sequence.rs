//! `event_seq` tracking: the session's gap-free numbering (spec §8.3), the per-subscription
//! numbering of the reference ([D10]), and the one-resume rule for gaps.
//!
//! [D10]: crate::compat#d10--subscribed-events

use super::event::SeqSpace;
use std::collections::{HashMap, HashSet, VecDeque};

/// How a subscribed job's frames are numbered; learned from its first frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubNumbering {
    Unknown,
    /// In the session's numbering ([D10], spec).
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    Session,
    /// Restarting at 1 after `job.subscribed` ([D10], reference); the last seen.
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    Own(u64),
}

/// What to do with a frame's `event_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// In order: deliver.
    Deliver(SeqSpace),
    /// A gap after the one allowed resume: report it, then deliver.
    DeliverAfterGap { expected: u64 },
    /// Already delivered, after the one allowed resume: drop.
    Duplicate,
    /// A gap or duplicate: the session is broken; drop, close, resume.
    Broken { expected: u64 },
}

#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    last: u64,
    /// Set once a sequence fault has caused a resume; later faults are surfaced instead, so
    /// a non-conforming runtime cannot make the client resume forever.
    fault_resumed: bool,
    subs: HashMap<String, SubNumbering>,
}

impl Sequencer {
    pub fn new(last: u64) -> Self {
        Sequencer {
            last,
            ..Sequencer::default()
        }
    }

    /// The highest session `event_seq` delivered.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// A new session (not a resume): numbering starts again.
    pub fn reset(&mut self) {
        self.last = 0;
        self.fault_resumed = false;
        self.subs.clear();
    }

    pub fn subscriptions(&self) -> usize {
        self.subs.len()
    }

    pub fn is_subscribed(&self, job_id: &str) -> bool {
        self.subs.contains_key(job_id)
    }

    pub fn subscribe(&mut self, job_id: &str) {
        self.subs.insert(job_id.to_owned(), SubNumbering::Unknown);
    }

    pub fn unsubscribe(&mut self, job_id: &str) -> bool {
        self.subs.remove(job_id).is_some()
    }

    /// Checks `seq` of a frame of `job_id`. `can_resume` is false when there is nothing to
    /// resume with.
    pub fn check(&mut self, job_id: Option<&str>, seq: u64, can_resume: bool) -> Verdict {
        let expected = self.last.saturating_add(1);
        let sub = job_id.and_then(|j| self.subs.get_mut(j));
        if seq == expected {
            self.last = seq;
            if let Some(n) = sub
                && *n == SubNumbering::Unknown
            {
                *n = SubNumbering::Session;
            }
            return Verdict::Deliver(SeqSpace::Session);
        }
        if let Some(n) = sub {
            // D10: the reference renumbers a subscribed job from 1; check it on its own.
            match *n {
                SubNumbering::Unknown if seq == 1 => {
                    *n = SubNumbering::Own(1);
                    return Verdict::Deliver(SeqSpace::Subscription);
                }
                SubNumbering::Own(l) if seq == l.saturating_add(1) => {
                    *n = SubNumbering::Own(seq);
                    return Verdict::Deliver(SeqSpace::Subscription);
                }
                _ => {}
            }
        }
        if !self.fault_resumed && can_resume {
            self.fault_resumed = true;
            return Verdict::Broken { expected };
        }
        if seq < expected {
            Verdict::Duplicate
        } else {
            self.last = seq;
            Verdict::DeliverAfterGap { expected }
        }
    }
}

/// Jobs whose terminal was delivered, oldest first, bounded.
#[derive(Debug)]
pub(crate) struct EndedJobs {
    cap: usize,
    order: VecDeque<String>,
    set: HashSet<String>,
    /// Subscriptions whose replayed history starts at this session seq: the job's frames
    /// below it are its earlier stream (possibly its terminal, still on its way when the
    /// `job.subscribed` was sent), from it on the replay, which may end the job again.
    replays: Vec<(String, u64)>,
}

impl EndedJobs {
    pub fn new(cap: usize) -> Self {
        EndedJobs {
            cap,
            order: VecDeque::new(),
            set: HashSet::new(),
            replays: Vec::new(),
        }
    }

    pub fn contains(&self, job_id: &str) -> bool {
        self.set.contains(job_id)
    }

    pub fn insert(&mut self, job_id: &str) {
        if self.cap == 0 || self.set.contains(job_id) {
            return;
        }
        while self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(job_id.to_owned());
        self.set.insert(job_id.to_owned());
    }

    /// The job may legitimately end again ([D27] resubmit, or a new subscription).
    ///
    /// [D27]: crate::compat#d27--idempotent-resubmit
    pub fn rearm(&mut self, job_id: &str) {
        if self.set.remove(job_id) {
            self.order.retain(|j| j != job_id);
        }
    }

    /// A `job.subscribed` replays `job_id`'s history from session seq `first` on: the job
    /// re-arms when that frame arrives ([`EndedJobs::reached`]). At most `cap` are
    /// remembered (the oldest is dropped); several subscriptions to one job each have theirs.
    pub fn rearm_from(&mut self, job_id: &str, first: u64) {
        if self.cap == 0 {
            return;
        }
        if self.replays.len() >= self.cap {
            self.replays.remove(0);
        }
        self.replays.push((job_id.to_owned(), first));
    }

    /// A frame of `job_id` with session seq `seq` arrived: a replay of the job starting at
    /// or before it re-arms the job; replays of other jobs that should have started by now
    /// did not come (truncated or lost) and are forgotten.
    pub fn reached(&mut self, job_id: &str, seq: u64) {
        if self.replays.is_empty() {
            return;
        }
        let mut rearm = false;
        self.replays.retain(|(j, first)| {
            if *first > seq {
                return true;
            }
            rearm |= j == job_id;
            false
        });
        if rearm {
            self.rearm(job_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_resume_then_surface() {
        let mut s = Sequencer::new(0);
        assert_eq!(
            s.check(Some("j"), 1, true),
            Verdict::Deliver(SeqSpace::Session)
        );
        assert_eq!(s.check(Some("j"), 3, true), Verdict::Broken { expected: 2 });
        assert_eq!(s.last(), 1);
        assert_eq!(
            s.check(Some("j"), 3, true),
            Verdict::DeliverAfterGap { expected: 2 }
        );
        assert_eq!(s.check(Some("j"), 3, true), Verdict::Duplicate);
        assert_eq!(s.last(), 3);
    }

    #[test]
    fn subscription_numbering_restarts_at_one() {
        let mut s = Sequencer::new(5);
        s.subscribe("sub");
        assert_eq!(
            s.check(Some("sub"), 1, true),
            Verdict::Deliver(SeqSpace::Subscription)
        );
        assert_eq!(
            s.check(Some("own"), 6, true),
            Verdict::Deliver(SeqSpace::Session)
        );
        assert_eq!(
            s.check(Some("sub"), 2, true),
            Verdict::Deliver(SeqSpace::Subscription)
        );
        assert_eq!(s.last(), 6);
        // A subscription numbered in the session's space stays there.
        s.subscribe("spec");
        assert_eq!(
            s.check(Some("spec"), 7, true),
            Verdict::Deliver(SeqSpace::Session)
        );
        assert_eq!(s.check(Some("spec"), 1, false), Verdict::Duplicate);
    }
}
