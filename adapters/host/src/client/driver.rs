//! [`ClientDriver`]: the client driver state every adapter shares, Sans-IO.
//!
//! The adapter feeds one input (a transport change, a frame, a due deadline, a command),
//! then drains [`ClientDriver::poll_output`] until it is empty (writing each
//! [`Output::Transmit`], answering each reply), and asks [`ClientDriver::poll_timeout`] last
//! (the core's driving contract). Time comes in as the host's monotonic `Instant`; the
//! driver never sleeps nor reads a clock itself, except the system time once per session
//! for its wall-clock anchor.

use super::{Clock, FrameTap, ResumeRetry, TapEvent};
use arcp_proto::client::{
    ApiError, ClientConfig, ClientEvent, ClientSession, ClientState, CloseReason, JobOutcome,
    ListJobsRequest, RequestError, RequestId, ResumeState, SeqSpace, SubmitRequest, WelcomeInfo,
};
use arcp_proto::wire::{Accepted, Entropy, ErrorPayload, JobEvent, Jobs, Subscribed};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The adapter's reply senders, one type per kind of request (a oneshot, a bounded
/// channel, a slot under a lock, …).
pub trait Replies {
    /// Answers a submit.
    type Submit;
    /// Answers a list_jobs.
    type List;
    /// Answers a subscribe.
    type Subscribe;
    /// Answers a ping.
    type Ping;
}

/// The reply of a request that failed.
pub enum Pending<R: Replies> {
    /// A submit.
    Submit(R::Submit),
    /// A list_jobs.
    List(R::List),
    /// A subscribe of this job.
    Subscribe(String, R::Subscribe),
    /// A ping.
    Ping(R::Ping),
}

/// One `job.event`, as a job's stream yields it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobEventItem {
    /// The job.
    pub job_id: String,
    /// Its `event_seq`.
    pub event_seq: u64,
    /// Which numbering `event_seq` is in.
    pub space: SeqSpace,
    /// Timestamp, kind and typed body.
    pub event: JobEvent,
}

/// What the adapter must do or deliver, in order.
pub enum Output<R: Replies> {
    /// Write this frame on the transport (already reported to the tap).
    Transmit(Vec<u8>),
    /// The session opened or resumed.
    Welcome(Box<WelcomeInfo>),
    /// The runtime refused the hello for good; the session is closed.
    Refused(ErrorPayload),
    /// The runtime refused the resume while the session was still attached (WIRE.md §6):
    /// close the transport, wait this long, open a new one and call
    /// [`ClientDriver::connected`] (the session resumes from the same state).
    RetryResume(Duration),
    /// `job.accepted` for a pending submit.
    Accepted {
        /// The submit's reply.
        reply: R::Submit,
        /// The job.
        job_id: String,
        /// The whole payload.
        accepted: Box<Accepted>,
    },
    /// `session.jobs` for a pending list_jobs.
    Jobs {
        /// The list's reply.
        reply: R::List,
        /// The page.
        jobs: Jobs,
    },
    /// `job.subscribed` for a pending subscribe.
    Subscribed {
        /// The subscribe's reply.
        reply: R::Subscribe,
        /// The job.
        job_id: String,
        /// The payload.
        subscribed: Box<Subscribed>,
    },
    /// The pong of a pending ping.
    Pong {
        /// The ping's reply.
        reply: R::Ping,
        /// The round trip.
        rtt: Duration,
    },
    /// A pending request failed.
    Failed {
        /// Its reply.
        reply: Pending<R>,
        /// Why.
        error: RequestError,
    },
    /// A request the driver keeps no reply for failed (e.g. a `job.cancel` the adapter
    /// tracks itself).
    Unmatched {
        /// The request.
        request_id: RequestId,
        /// Why.
        error: RequestError,
    },
    /// One job event (of a submitted or subscribed job, or unrouted).
    Event(JobEventItem),
    /// A job's terminal frame.
    Terminal {
        /// The job.
        job_id: String,
        /// Its sequence number.
        event_seq: u64,
        /// Which numbering `event_seq` is in.
        space: SeqSpace,
        /// How it ended.
        outcome: JobOutcome,
    },
    /// Close the transport now, then call [`ClientDriver::disconnected`].
    CloseTransport(CloseReason),
    /// The session is closed for good; every pending reply has been failed before this.
    Closed(CloseReason),
}

/// Makes the entropy of a (re)built session.
pub type EntropySource = Box<dyn Fn() -> Box<dyn Entropy + Send> + Send + Sync>;

/// The client driver state: the session, pending replies, resume retry, frame tap.
pub struct ClientDriver<R: Replies> {
    session: ClientSession,
    config: ClientConfig,
    clock: Clock,
    entropy: EntropySource,
    retry: ResumeRetry,
    tap: Option<FrameTap>,
    /// What the current transport's hello resumes, kept for a retry.
    resuming: Option<ResumeState>,
    submits: HashMap<RequestId, R::Submit>,
    lists: HashMap<RequestId, R::List>,
    subs: HashMap<RequestId, (String, R::Subscribe)>,
    pings: HashMap<String, R::Ping>,
    /// Failures decided outside the session (pings on a drop), delivered before its events.
    failed: Vec<Output<R>>,
    /// The latest instant an input brought (the wall anchor of a rebuilt session).
    last_now: Instant,
}

impl<R: Replies> std::fmt::Debug for ClientDriver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDriver")
            .field("session", &self.session)
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl<R: Replies> ClientDriver<R> {
    /// A driver of a new session (or one resuming `resume`), with core time 0 at `origin`.
    pub fn new(
        config: ClientConfig,
        resume: Option<ResumeState>,
        origin: Instant,
        entropy: EntropySource,
    ) -> Self {
        let clock = Clock::new(origin);
        let wall = clock.wall(origin);
        let session = match resume {
            Some(r) => ClientSession::with_resume(config.clone(), wall, entropy(), r),
            None => ClientSession::new(config.clone(), wall, entropy()),
        };
        ClientDriver {
            session,
            config,
            clock,
            entropy,
            retry: ResumeRetry::default(),
            tap: None,
            resuming: None,
            submits: HashMap::new(),
            lists: HashMap::new(),
            subs: HashMap::new(),
            pings: HashMap::new(),
            failed: Vec::new(),
            last_now: origin,
        }
    }

    /// Sets the retry policy of a resume refused while attached ([`ResumeRetry::never`] to
    /// surface the first refusal).
    pub fn with_retry(mut self, retry: ResumeRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Reports every frame, and the transport's end, to `tap`.
    pub fn with_tap(mut self, tap: Option<FrameTap>) -> Self {
        self.tap = tap;
        self
    }

    /// The session (getters).
    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// The session, for commands with no reply to keep (cancel, unsubscribe, ack, close).
    pub fn session_mut(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// The clock mapping host instants to the core's.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Replies waiting for an answer.
    pub fn pending(&self) -> usize {
        self.submits.len() + self.lists.len() + self.subs.len() + self.pings.len()
    }

    /// The job of a pending subscribe, if any is pending for it.
    pub fn subscribing(&self, job_id: &str) -> bool {
        self.subs.values().any(|(j, _)| j == job_id)
    }

    /// The frame tap, for frames the adapter writes itself (`send_raw`).
    pub fn tap(&self, ev: TapEvent<'_>) {
        if let Some(t) = &self.tap {
            t(ev);
        }
    }

    // ----- inputs -----

    /// A transport is up: the hello (a resume when there is a session) is queued.
    pub fn connected(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        self.resuming = self.session.resume_state();
        self.session.handle_connected(self.clock.core(now));
    }

    /// The transport is gone (reported to the tap with `why`). Pending requests and pings
    /// fail with [`RequestError::ConnectionLost`].
    pub fn disconnected(&mut self, now: Instant, why: &str) {
        self.last_now = self.last_now.max(now);
        self.tap(TapEvent::Closed(why));
        self.session.handle_disconnected(self.clock.core(now));
        for (_, reply) in self.pings.drain() {
            self.failed.push(Output::Failed {
                reply: Pending::Ping(reply),
                error: RequestError::ConnectionLost,
            });
        }
    }

    /// One inbound frame (reported to the tap first).
    pub fn feed_frame(&mut self, now: Instant, bytes: &[u8]) {
        self.last_now = self.last_now.max(now);
        self.tap(TapEvent::Received(bytes));
        self.session.handle_frame(self.clock.core(now), bytes);
    }

    /// The host's timer fired: runs the core's timeout when it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        let now = self.clock.core(now);
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
    }

    /// The core's next deadline as a host instant (ask after draining).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout().map(|t| self.clock.host(t))
    }

    // ----- commands with a reply -----

    /// `job.submit`; the reply comes back as [`Output::Accepted`] or [`Output::Failed`],
    /// or at once with the refusal.
    pub fn submit(
        &mut self,
        now: Instant,
        req: SubmitRequest,
        reply: R::Submit,
    ) -> Result<(), (ApiError, R::Submit)> {
        match self.session.submit(self.clock.core(now), req) {
            Ok(id) => {
                self.submits.insert(id, reply);
                Ok(())
            }
            Err(e) => Err((e, reply)),
        }
    }

    /// `session.list_jobs`; answered by [`Output::Jobs`] or [`Output::Failed`].
    pub fn list_jobs(
        &mut self,
        now: Instant,
        req: ListJobsRequest,
        reply: R::List,
    ) -> Result<(), (ApiError, R::List)> {
        match self.session.list_jobs(self.clock.core(now), req) {
            Ok(id) => {
                self.lists.insert(id, reply);
                Ok(())
            }
            Err(e) => Err((e, reply)),
        }
    }

    /// `job.subscribe`; answered by [`Output::Subscribed`] or [`Output::Failed`].
    pub fn subscribe(
        &mut self,
        now: Instant,
        job_id: &str,
        history: bool,
        from_event_seq: Option<u64>,
        reply: R::Subscribe,
    ) -> Result<(), (ApiError, R::Subscribe)> {
        let now = self.clock.core(now);
        match self.session.subscribe(now, job_id, history, from_event_seq) {
            Ok(id) => {
                self.subs.insert(id, (job_id.to_owned(), reply));
                Ok(())
            }
            Err(e) => Err((e, reply)),
        }
    }

    /// Fails the pending subscribe of `job_id` (e.g. its replay overflowed), returning its
    /// reply; the job is unsubscribed.
    pub fn abandon_subscribe(&mut self, now: Instant, job_id: &str) -> Option<R::Subscribe> {
        let key = self
            .subs
            .iter()
            .find(|(_, (j, _))| j == job_id)
            .map(|(k, _)| k.clone())?;
        let (_, reply) = self.subs.remove(&key)?;
        let _ = self.session.unsubscribe(self.clock.core(now), job_id);
        Some(reply)
    }

    /// `session.ping`; answered by [`Output::Pong`] or [`Output::Failed`].
    pub fn ping(&mut self, now: Instant, reply: R::Ping) -> Result<(), (ApiError, R::Ping)> {
        match self.session.ping(self.clock.core(now)) {
            Ok(nonce) => {
                self.pings.insert(nonce, reply);
                Ok(())
            }
            Err(e) => Err((e, reply)),
        }
    }

    // ----- outputs -----

    /// The next thing to do: transmits first, then failures, then the session's events.
    pub fn poll_output(&mut self) -> Option<Output<R>> {
        loop {
            if let Some(frame) = self.session.poll_transmit() {
                let bytes = frame.encode();
                self.tap(TapEvent::Sent(&bytes));
                return Some(Output::Transmit(bytes));
            }
            if !self.failed.is_empty() {
                return Some(self.failed.remove(0));
            }
            let ev = self.session.poll_event()?;
            if let Some(out) = self.on_event(ev) {
                return Some(out);
            }
        }
    }

    fn on_event(&mut self, ev: ClientEvent) -> Option<Output<R>> {
        match ev {
            ClientEvent::Welcome(info) => {
                self.retry.reset();
                Some(Output::Welcome(info))
            }
            ClientEvent::HandshakeFailed { error, resuming } => {
                let state = self.resuming.clone().filter(|_| resuming);
                match (state, self.retry.next_delay(&error, resuming)) {
                    (Some(state), Some(delay)) => {
                        // Whatever was asked during the handshake is not answered.
                        self.fail_all(RequestError::ConnectionLost);
                        // The refused session is closed: a fresh one resumes the same state
                        // (its own events, a Closed, are dropped with it).
                        let wall = self.clock.wall(self.last_now);
                        self.session = ClientSession::with_resume(
                            self.config.clone(),
                            wall,
                            (self.entropy)(),
                            state,
                        );
                        Some(Output::RetryResume(delay))
                    }
                    _ => Some(Output::Refused(error)),
                }
            }
            ClientEvent::Accepted {
                request_id,
                job_id,
                accepted,
            } => {
                let reply = request_id.and_then(|r| self.submits.remove(&r))?;
                Some(Output::Accepted {
                    reply,
                    job_id,
                    accepted,
                })
            }
            ClientEvent::Jobs { request_id, jobs } => {
                let reply = request_id.and_then(|r| self.lists.remove(&r))?;
                Some(Output::Jobs { reply, jobs })
            }
            ClientEvent::Subscribed {
                request_id,
                subscribed,
            } => {
                let (job_id, reply) = request_id.and_then(|r| self.subs.remove(&r))?;
                Some(Output::Subscribed {
                    reply,
                    job_id,
                    subscribed,
                })
            }
            ClientEvent::Pong { nonce, rtt } => {
                let reply = self.pings.remove(&nonce)?;
                Some(Output::Pong {
                    reply,
                    rtt: rtt.unwrap_or_default(),
                })
            }
            ClientEvent::RequestFailed {
                request_id, error, ..
            } => {
                let reply = if let Some(r) = self.submits.remove(&request_id) {
                    Pending::Submit(r)
                } else if let Some(r) = self.lists.remove(&request_id) {
                    Pending::List(r)
                } else if let Some((job, r)) = self.subs.remove(&request_id) {
                    Pending::Subscribe(job, r)
                } else {
                    return Some(Output::Unmatched { request_id, error });
                };
                Some(Output::Failed { reply, error })
            }
            ClientEvent::JobEvent {
                job_id,
                event_seq,
                space,
                event,
            } => Some(Output::Event(JobEventItem {
                job_id,
                event_seq,
                space,
                event,
            })),
            ClientEvent::Terminal {
                job_id,
                event_seq,
                space,
                outcome,
            } => Some(Output::Terminal {
                job_id,
                event_seq,
                space,
                outcome,
            }),
            ClientEvent::CloseTransport(why) => Some(Output::CloseTransport(why)),
            ClientEvent::Closed(why) => {
                self.fail_all(RequestError::SessionClosed);
                self.failed.push(Output::Closed(why));
                Some(self.failed.remove(0))
            }
            // Surfaced by the core for hosts that log; the replies and streams see their
            // effect.
            _ => None,
        }
    }

    /// Fails every pending reply with `error` (queued as [`Output::Failed`]).
    pub fn fail_all(&mut self, error: RequestError) {
        let mut out: Vec<Output<R>> = Vec::new();
        let fail = |reply, out: &mut Vec<Output<R>>| {
            out.push(Output::Failed {
                reply,
                error: error.clone(),
            });
        };
        for (_, r) in self.submits.drain() {
            fail(Pending::Submit(r), &mut out);
        }
        for (_, r) in self.lists.drain() {
            fail(Pending::List(r), &mut out);
        }
        for (_, (job, r)) in self.subs.drain() {
            fail(Pending::Subscribe(job, r), &mut out);
        }
        for (_, r) in self.pings.drain() {
            fail(Pending::Ping(r), &mut out);
        }
        self.failed.extend(out);
    }

    /// `true` once the session is closed for good.
    pub fn is_closed(&self) -> bool {
        self.session.state() == ClientState::Closed
    }
}
