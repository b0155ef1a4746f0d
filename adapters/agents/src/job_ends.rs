//! [`JobEnds`]: a bounded record of how jobs ended, with waiters, for adapters implementing
//! [`crate::JobHost::wait_job`]. Fed from `RuntimeEvent::JobEnded` (see
//! [`crate::JobEnd::from_runtime_event`]).

use crate::host::{BoxFuture, JobEnd};
use arcp_proto::wire::JobId;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct Entry {
    end: Option<JobEnd>,
    /// One per live, pending wait future.
    waiters: Vec<(u64, Waker)>,
}

#[derive(Debug, Default)]
struct Inner {
    max_entries: usize,
    entries: HashMap<JobId, Entry>,
    /// Recorded ends, oldest first (the eviction order).
    order: VecDeque<JobId>,
    /// Recorded ends in `order` that a pending wait has claimed (see [`Entry::claimed`]), so
    /// eviction needs no scan to count the unclaimed ones.
    claimed: usize,
    next_waiter: u64,
}

impl Entry {
    /// A recorded end that a pending wait still has to see.
    fn claimed(&self) -> bool {
        self.end.is_some() && !self.waiters.is_empty()
    }
}

impl Inner {
    /// An end nobody is waiting for.
    fn unclaimed(&self, id: &str) -> bool {
        self.entries.get(id).is_none_or(|e| e.waiters.is_empty())
    }

    /// Keeps `claimed` in step after an entry changed from `was` claimed to `now`.
    fn claim_changed(&mut self, was: bool, now: bool) {
        match (was, now) {
            (false, true) => self.claimed += 1,
            (true, false) => self.claimed = self.claimed.saturating_sub(1),
            _ => {}
        }
    }

    /// Forgets the oldest unclaimed ends until at most `max_entries` are left (the oldest are
    /// almost always unclaimed, so this is O(1) per recorded end, not a scan).
    fn evict(&mut self) {
        let mut unclaimed = self.order.len().saturating_sub(self.claimed);
        while unclaimed > self.max_entries {
            let Some(pos) = self.order.iter().position(|id| self.unclaimed(id)) else {
                break;
            };
            if let Some(id) = self.order.remove(pos) {
                self.entries.remove(&id);
            }
            unclaimed -= 1;
        }
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records job ends and wakes waiters. Cloning shares the record.
///
/// Bound: at most `max_entries` recorded ends that no pending wait has claimed are kept;
/// recording one more forgets the oldest unclaimed end. A later `wait` for a forgotten job
/// stays pending (as for a job that has not ended), so callers wait on children they have
/// just started, as the delegating context does. An end claimed by a wait registered before
/// it was recorded is never forgotten before that wait has seen it (these extra entries are
/// bounded by the number of live waits).
#[derive(Debug, Clone)]
pub struct JobEnds {
    inner: Arc<Mutex<Inner>>,
}

impl JobEnds {
    /// An empty record keeping at most `max_entries` ends (at least 1).
    pub fn new(max_entries: usize) -> Self {
        JobEnds {
            inner: Arc::new(Mutex::new(Inner {
                max_entries: max_entries.max(1),
                ..Inner::default()
            })),
        }
    }

    /// Records how `job_id` ended and wakes its waiters. A second record for the same job
    /// is ignored (a job ends once).
    pub fn record(&self, job_id: &JobId, end: JobEnd) {
        let mut wake = Vec::new();
        {
            let mut g = lock(&self.inner);
            let entry = g.entries.entry(job_id.clone()).or_default();
            if entry.end.is_some() {
                return;
            }
            entry.end = Some(end);
            let claimed = entry.claimed();
            // Waiters stay registered until they have polled the end, so their entry is
            // never forgotten under them.
            wake.extend(entry.waiters.iter().map(|(_, w)| w.clone()));
            g.claim_changed(false, claimed);
            g.order.push_back(job_id.clone());
            g.evict();
        }
        for w in wake {
            w.wake();
        }
    }

    /// How `job_id` ended, if recorded and not forgotten.
    pub fn get(&self, job_id: &JobId) -> Option<JobEnd> {
        lock(&self.inner).entries.get(job_id)?.end.clone()
    }

    /// Recorded ends currently kept.
    pub fn len(&self) -> usize {
        lock(&self.inner).order.len()
    }

    /// `true` when no end is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves with how `job_id` ended (at once when already recorded).
    pub fn wait(&self, job_id: &JobId) -> BoxFuture<'static, JobEnd> {
        Box::pin(Wait {
            inner: self.inner.clone(),
            job_id: job_id.clone(),
            id: None,
        })
    }
}

struct Wait {
    inner: Arc<Mutex<Inner>>,
    job_id: JobId,
    id: Option<u64>,
}

impl Future for Wait {
    type Output = JobEnd;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JobEnd> {
        let inner = self.inner.clone();
        let mut g = lock(&inner);
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = g.next_waiter;
                g.next_waiter = g.next_waiter.wrapping_add(1);
                id
            }
        };
        let entry = g.entries.entry(self.job_id.clone()).or_default();
        if let Some(end) = &entry.end {
            let end = end.clone();
            let was = entry.claimed();
            entry.waiters.retain(|(i, _)| *i != id);
            let now = entry.claimed();
            g.claim_changed(was, now);
            g.evict();
            drop(g);
            self.id = None;
            return Poll::Ready(end);
        }
        match entry.waiters.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(cx.waker()),
            None => entry.waiters.push((id, cx.waker().clone())),
        }
        drop(g);
        self.id = Some(id);
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        let Some(id) = self.id else {
            return;
        };
        let mut g = lock(&self.inner);
        let (remove, was, now) = match g.entries.get_mut(&self.job_id) {
            Some(e) => {
                let was = e.claimed();
                e.waiters.retain(|(i, _)| *i != id);
                (e.end.is_none() && e.waiters.is_empty(), was, e.claimed())
            }
            None => (false, false, false),
        };
        g.claim_changed(was, now);
        if remove {
            g.entries.remove(&self.job_id);
        }
    }
}
