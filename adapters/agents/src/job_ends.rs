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
    /// The end is kept after its waiters saw it (in `order`, counted in `bytes`); a
    /// top-level job's end is not (see [`JobEnds::record_ended`]).
    kept: bool,
    /// What this entry counts in `Inner::bytes`.
    size: usize,
}

/// Bytes counted for one kept end besides its result: the entry, its id and bookkeeping.
const ENTRY_OVERHEAD: usize = 128;

/// Default byte bound of [`JobEnds::new`]: 16 MiB.
pub const DEFAULT_MAX_JOB_END_BYTES: usize = 16 << 20;

/// The bytes one kept end counts: [`ENTRY_OVERHEAD`], the id and the result's JSON length.
fn end_size(job_id: &JobId, end: &JobEnd) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    if let Some(v) = &end.result {
        // Serializing a Value cannot fail; a failure would only undercount.
        let _ = serde_json::to_writer(&mut c, v);
    }
    ENTRY_OVERHEAD + job_id.len() + c.0
}

#[derive(Debug, Default)]
struct Inner {
    max_entries: usize,
    max_bytes: usize,
    /// Bytes of the kept ends (see [`end_size`]).
    bytes: usize,
    entries: HashMap<JobId, Entry>,
    /// Kept ends of delegated children, by parent: forgotten when the parent ends.
    children: HashMap<JobId, Vec<JobId>>,
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

    /// Forgets the oldest unclaimed ends until at most `max_entries` unclaimed ones are left
    /// and the kept ends fit `max_bytes`, the newest unclaimed one always kept (the oldest are almost always unclaimed, so this is
    /// O(1) per recorded end, not a scan).
    fn evict(&mut self) {
        let mut unclaimed = self.order.len().saturating_sub(self.claimed);
        while unclaimed > self.max_entries || (self.bytes > self.max_bytes && unclaimed > 1) {
            let Some(pos) = self.order.iter().position(|id| self.unclaimed(id)) else {
                break;
            };
            if let Some(id) = self.order.remove(pos) {
                self.drop_entry(&id);
            }
            unclaimed -= 1;
        }
    }

    /// Removes `id`'s entry (not from `order`), uncounting its bytes.
    fn drop_entry(&mut self, id: &JobId) {
        if let Some(e) = self.entries.remove(id) {
            self.bytes = self.bytes.saturating_sub(e.size);
        }
    }

    /// Forgets the unclaimed kept ends of `parent`'s children (its agent has ended, so
    /// nothing waits for them any more).
    fn forget_children(&mut self, parent: &JobId) {
        let Some(kids) = self.children.remove(parent) else {
            return;
        };
        let gone: Vec<JobId> = kids.into_iter().filter(|k| self.unclaimed(k)).collect();
        if gone.is_empty() {
            return;
        }
        for k in &gone {
            self.drop_entry(k);
        }
        self.order.retain(|id| !gone.contains(id));
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records job ends and wakes waiters. Cloning shares the record.
///
/// Bounds: at most `max_entries` recorded ends that no pending wait has claimed are kept,
/// and at most `max_bytes` of them (each counts 128 bytes, its id and its result's JSON
/// length); recording one more forgets the oldest unclaimed ends until both fit. The
/// adapters record with [`JobEnds::record_ended`], which keeps only delegated children's
/// ends, until their parent ends. A later `wait` for a forgotten job
/// stays pending (as for a job that has not ended), so callers wait on children they have
/// just started, as the delegating context does. An end claimed by a wait registered before
/// it was recorded is never forgotten before that wait has seen it (these extra entries are
/// bounded by the number of live waits).
#[derive(Debug, Clone)]
pub struct JobEnds {
    inner: Arc<Mutex<Inner>>,
}

impl JobEnds {
    /// An empty record keeping at most `max_entries` ends (at least 1) and
    /// [`DEFAULT_MAX_JOB_END_BYTES`].
    pub fn new(max_entries: usize) -> Self {
        Self::with_max_bytes(max_entries, DEFAULT_MAX_JOB_END_BYTES)
    }

    /// An empty record keeping at most `max_entries` ends (at least 1) and `max_bytes` of
    /// them (at least one end is kept whatever its size).
    pub fn with_max_bytes(max_entries: usize, max_bytes: usize) -> Self {
        JobEnds {
            inner: Arc::new(Mutex::new(Inner {
                max_entries: max_entries.max(1),
                max_bytes,
                ..Inner::default()
            })),
        }
    }

    /// Records how `job_id` ended, keeps it, and wakes its waiters. A second record for the
    /// same job is ignored (a job ends once).
    pub fn record(&self, job_id: &JobId, end: JobEnd) {
        self.record_inner(job_id, end, true, None);
    }

    /// Records how `job_id`, delegated by `parent` (`None`: submitted by a client), ended,
    /// as the adapters do for every `RuntimeEvent::JobEnded`:
    ///
    /// - its pending waits resolve;
    /// - a delegated child's end is kept (within the bounds) for its parent's agent to wait
    ///   on, until the parent itself ends;
    /// - a client-submitted job's end is not kept once its pending waits have seen it: its
    ///   result went to the client (held once, by the runtime's session ring), and only
    ///   agents wait, on children they delegated. A later wait for it stays pending;
    /// - the kept ends of `job_id`'s own children that no wait claimed are forgotten.
    pub fn record_ended(&self, job_id: &JobId, parent: Option<&JobId>, end: JobEnd) {
        self.record_inner(job_id, end, parent.is_some(), parent);
    }

    fn record_inner(&self, job_id: &JobId, end: JobEnd, keep: bool, parent: Option<&JobId>) {
        let mut wake = Vec::new();
        {
            let mut g = lock(&self.inner);
            g.forget_children(job_id);
            if !keep && !g.entries.contains_key(job_id) {
                // Not kept and nobody waits on it (a client's job, usually): nothing to
                // record, and no entry to make and remove again.
                return;
            }
            let entry = g.entries.entry(job_id.clone()).or_default();
            if entry.end.is_some() {
                return;
            }
            // Waiters stay registered until they have polled the end, so their entry is
            // never forgotten under them.
            wake.extend(entry.waiters.iter().map(|(_, w)| w.clone()));
            if !keep {
                if entry.waiters.is_empty() {
                    g.entries.remove(job_id);
                } else {
                    entry.end = Some(end);
                }
            } else {
                let size = end_size(job_id, &end);
                entry.end = Some(end);
                entry.kept = true;
                entry.size = size;
                let claimed = entry.claimed();
                g.bytes = g.bytes.saturating_add(size);
                g.claim_changed(false, claimed);
                g.order.push_back(job_id.clone());
                if let Some(p) = parent {
                    g.children
                        .entry(p.clone())
                        .or_default()
                        .push(job_id.clone());
                }
                g.evict();
            }
        }
        for w in wake {
            w.wake();
        }
    }

    /// Bytes of the kept ends (see the type's bounds).
    pub fn bytes(&self) -> usize {
        lock(&self.inner).bytes
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
            if !entry.kept {
                // Not kept: gone once every wait registered before the end has seen it.
                entry.waiters.retain(|(i, _)| *i != id);
                if entry.waiters.is_empty() {
                    g.entries.remove(&self.job_id);
                }
                drop(g);
                self.id = None;
                return Poll::Ready(end);
            }
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
                (
                    (!e.kept || e.end.is_none()) && e.waiters.is_empty(),
                    was && e.kept,
                    e.claimed() && e.kept,
                )
            }
            None => (false, false, false),
        };
        g.claim_changed(was, now);
        if remove {
            g.entries.remove(&self.job_id);
        }
    }
}
