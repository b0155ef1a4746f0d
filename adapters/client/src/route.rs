//! Per-job event routing: the sinks of the jobs the application holds a handle for, the
//! bounded stash of items waiting for room, and the unrouted sink.

use crate::{ClientError, JobEventItem, JobOutcome, StreamItem};
use arcp_proto::wire::JobId;
use std::collections::{HashMap, VecDeque};

/// Why a bounded queue refused an item (the item comes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySend<T> {
    /// The queue is full.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// The sending half of an adapter's bounded queue (tokio `mpsc`, `async_channel`, std
/// `sync_channel`, …).
pub trait BoundedSender<T> {
    /// Queues `item` now or gives it back.
    fn try_send(&self, item: T) -> Result<(), TrySend<T>>;
}

/// Where one job's events and its end go: the adapter's bounded event queue and its
/// one-shot for the terminal.
pub trait JobSink: BoundedSender<JobEventItem> {
    /// The job ended (`Ok`, whatever the outcome), or the session closed first (`Err`).
    fn finish(self, end: Result<JobOutcome, ClientError>);
}

/// A sink that discards (for a driver with no unrouted stream).
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl BoundedSender<StreamItem> for Discard {
    fn try_send(&self, _item: StreamItem) -> Result<(), TrySend<StreamItem>> {
        Ok(())
    }
}

/// The item the adapter must wait room for before the driver reads on.
#[derive(Debug)]
pub enum Blocked<'a, J, U> {
    /// A job's event queue is full.
    Job(&'a J, &'a JobEventItem),
    /// The unrouted stream is full.
    Unrouted(&'a U, &'a StreamItem),
}

struct Route<J> {
    sink: Option<J>,
    /// The events receiver is gone: events are discarded, the end still delivered.
    deaf: bool,
    /// A subscription not yet answered by `job.subscribed` ([D9]: the reference replays
    /// before it answers).
    ///
    /// [D9]: arcp_proto::compat#d9--job-subscribed
    subscribing: bool,
}

/// Routing and the stash.
pub(crate) struct Router<J, U> {
    routes: HashMap<JobId, Route<J>>,
    unrouted: Option<U>,
    stash: VecDeque<StreamItem>,
    max: usize,
    blocked: bool,
}

impl<J: JobSink, U: BoundedSender<StreamItem>> Router<J, U> {
    pub(crate) fn new(max: usize, unrouted: Option<U>) -> Self {
        Router {
            routes: HashMap::new(),
            unrouted,
            stash: VecDeque::new(),
            max: max.max(1),
            blocked: false,
        }
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(crate) fn buffered(&self) -> usize {
        self.stash.len()
    }

    pub(crate) fn has_route(&self, job: &str) -> bool {
        self.routes.contains_key(job)
    }

    pub(crate) fn can_read(&self) -> bool {
        self.stash.len() < self.max
    }

    pub(crate) fn add(&mut self, job: &JobId, sink: J, subscribing: bool) {
        self.routes.insert(
            job.clone(),
            Route {
                sink: Some(sink),
                deaf: false,
                subscribing,
            },
        );
    }

    /// `job.subscribed` arrived: the route is a plain one now (or gone, if its terminal was
    /// replayed before the answer).
    pub(crate) fn subscribed(&mut self, job: &str) {
        if let Some(r) = self.routes.get_mut(job) {
            r.subscribing = false;
            if r.sink.is_none() {
                self.routes.remove(job);
            }
        }
    }

    /// Removes a job's route and its stashed items (unsubscribe, failed subscribe).
    pub(crate) fn remove(&mut self, job: &str) -> Option<J> {
        self.stash.retain(|i| i.job_id() != job);
        self.blocked = false;
        self.routes.remove(job).and_then(|r| r.sink)
    }

    pub(crate) fn push(&mut self, item: StreamItem) {
        self.stash.push_back(item);
        self.deliver();
    }

    /// Moves stashed items into their queues until one is full.
    pub(crate) fn deliver(&mut self) {
        self.blocked = false;
        while let Some(item) = self.stash.pop_front() {
            let job = item.job_id().clone();
            let Some(route) = self.routes.get_mut(&job) else {
                let Some(tx) = &self.unrouted else { continue };
                match tx.try_send(item) {
                    Ok(()) => continue,
                    Err(TrySend::Full(item)) => {
                        self.stash.push_front(item);
                        self.blocked = true;
                        return;
                    }
                    Err(TrySend::Closed(_)) => {
                        self.unrouted = None;
                        continue;
                    }
                }
            };
            match item {
                StreamItem::Event(ev) => {
                    let Some(sink) = route.sink.as_ref().filter(|_| !route.deaf) else {
                        continue;
                    };
                    match sink.try_send(ev) {
                        Ok(()) => {}
                        Err(TrySend::Full(ev)) => {
                            self.stash.push_front(StreamItem::Event(ev));
                            self.blocked = true;
                            return;
                        }
                        // The stream was dropped (or `done` called): discard its events.
                        Err(TrySend::Closed(_)) => route.deaf = true,
                    }
                }
                StreamItem::Terminal(outcome) => {
                    if let Some(sink) = route.sink.take() {
                        sink.finish(Ok(outcome));
                    }
                    if !route.subscribing {
                        self.routes.remove(&job);
                    }
                }
            }
        }
    }

    /// The front item waits for room in its queue.
    pub(crate) fn blocked(&self) -> Option<Blocked<'_, J, U>> {
        if !self.blocked {
            return None;
        }
        let item = self.stash.front()?;
        match (self.routes.get(item.job_id()), item) {
            (Some(r), StreamItem::Event(ev)) => r.sink.as_ref().map(|s| Blocked::Job(s, ev)),
            (None, _) => self.unrouted.as_ref().map(|u| Blocked::Unrouted(u, item)),
            _ => None,
        }
    }

    /// The adapter delivered the front item itself (or found its receiver gone).
    pub(crate) fn front_sent(&mut self) {
        if self.blocked {
            self.stash.pop_front();
        }
        self.deliver();
    }

    /// A subscription whose replay fills its queue and the whole stash before
    /// `job.subscribed` arrives (the reference sends it after the replay, [D9]) could never
    /// be handed out: its job, to be failed with `Overflow` and unsubscribed.
    ///
    /// [D9]: arcp_proto::compat#d9--job-subscribed
    pub(crate) fn overflowed_subscription(&self) -> Option<JobId> {
        if !self.blocked || self.stash.len() < self.max {
            return None;
        }
        let job = self.stash.front()?.job_id();
        self.routes
            .get(job)
            .filter(|r| r.subscribing)
            .map(|_| job.clone())
    }

    /// The session closed: what fits is delivered, the rest dropped, every job ended with
    /// `err`.
    pub(crate) fn close(&mut self, err: &ClientError) {
        self.deliver();
        self.stash.clear();
        self.blocked = false;
        for (_, r) in self.routes.drain() {
            if let Some(s) = r.sink {
                s.finish(Err(err.clone()));
            }
        }
    }
}
