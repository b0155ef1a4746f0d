//! The client API conformance suite, written once and run against each adapter's client
//! (arcp-tokio, arcp-futures, arcp-blocking), each against a real in-process server of
//! that adapter: submit, exact event sequences and `done`; cancel from inside the event
//! loop; subscribe with history; `list_jobs`; `ack`; `close`; error codes (`code()`,
//! `retryable()`); result chunks; resume after a dropped transport.
//!
//! An adapter implements [`Conformance`] (how to connect) over its client (the async ones
//! through [`AsyncConformance`], driving each call with their `block_on`), then calls
//! [`run_all`] from a test.

use crate::adapt::BlockOn;
use crate::api::ClientError;
use arcp_client::{
    ApiError, AsyncLink, Client, ClientOptions, ErrorCode, JobEventItem, JobEvents, JobHandle,
    JobId, JobOutcome, JobStatus, Jobs, ListJobsRequest, ResultValue, SubmitRequest, Target,
};
use futures_core::Stream;
use serde_json::json;
use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

/// How long one call may take.
const LIMIT: Duration = Duration::from_secs(10);

/// Opens clients of one adapter.
pub trait Conformance {
    /// A client of `options` (the target is a `ws://` URL of the adapter's own server).
    fn connect(
        &self,
        options: ClientOptions,
    ) -> Result<Box<dyn ConformanceClient + '_>, ClientError>;
}

/// One client, through the adapter's public API.
pub trait ConformanceClient {
    /// `submit`.
    fn submit(&self, req: SubmitRequest) -> Result<Box<dyn ConformanceJob + '_>, ClientError>;
    /// `subscribe(job, history)`; also returns the subscription's `replayed()`.
    fn subscribe(
        &self,
        job_id: &JobId,
        history: bool,
    ) -> Result<(Box<dyn ConformanceJob + '_>, u64), ClientError>;
    /// `list_jobs`.
    fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError>;
    /// `ack`.
    fn ack(&self, seq: u64) -> Result<(), ClientError>;
    /// `drop_transport`.
    fn drop_transport(&self) -> Result<(), ClientError>;
    /// `close`.
    fn close(&self) -> Result<(), ClientError>;
    /// `latest_event_seq`.
    fn latest_event_seq(&self) -> u64;
    /// `welcomes`.
    fn welcomes(&self) -> u64;
}

/// One job handle: its event stream (or iterator) read while the handle stays usable.
pub trait ConformanceJob {
    /// `job_id()`.
    fn job_id(&self) -> JobId;
    /// The next item of `events()` (`None` at its end).
    fn next_event(&mut self) -> Option<JobEventItem>;
    /// `cancel()`, from inside the event loop.
    fn cancel(&self) -> Result<(), ClientError>;
    /// `done()`.
    fn done(self: Box<Self>) -> Result<JobOutcome, ClientError>;
}

/// A scenario: `Err` says what did not hold.
pub type Scenario = fn(&dyn Conformance, &str) -> Result<(), String>;

fn check(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.into()) }
}

fn eq<T: PartialEq + std::fmt::Debug>(got: T, want: T, what: &str) -> Result<(), String> {
    check(got == want, format!("{what}: got {got:?}, want {want:?}"))
}

fn options(url: &str, auto_resume: bool) -> ClientOptions {
    let mut o = ClientOptions::new(Target::WebSocket(url.to_owned()), "conformance", "1");
    o.token = "alice-token".into();
    o.auto_resume = auto_resume;
    o
}

fn e(err: ClientError) -> String {
    format!("unexpected error: {err}")
}

/// Every event to the end of the stream.
fn drain(job: &mut dyn ConformanceJob) -> Vec<JobEventItem> {
    std::iter::from_fn(|| job.next_event()).collect()
}

const CHATTY_KINDS: [&str; 8] = [
    "status",
    "log",
    "thought",
    "tool_call",
    "tool_result",
    "metric",
    "progress",
    "artifact_ref",
];

/// `chatty {count: 1}`: eight events seq 1..=8 in order, then success with its result.
fn submit_events_done(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    let mut job = client
        .submit(SubmitRequest::new("chatty", json!({"count": 1})))
        .map_err(e)?;
    check(job.job_id().starts_with("job_"), "a minted job id")?;
    let events = drain(&mut *job);
    let kinds: Vec<&str> = events.iter().map(JobEventItem::kind).collect();
    eq(kinds, CHATTY_KINDS.to_vec(), "event kinds")?;
    let seqs: Vec<u64> = events.iter().map(|e| e.event_seq).collect();
    eq(seqs, (1..=8).collect(), "event seqs")?;
    eq(
        events[6].body()["current"].clone(),
        json!(1),
        "progress body",
    )?;
    let out = job.done().map_err(e)?;
    eq(out.status(), JobStatus::Success, "status")?;
    eq(
        out.result(),
        Some(&ResultValue::Inline(json!({"rounds": 1, "events": 8}))),
        "result",
    )?;
    eq(out.event_seq(), 9, "terminal seq")?;
    eq(out.error(), None, "error")?;
    eq(client.latest_event_seq(), 9, "latest_event_seq")?;
    client.close().map_err(e)
}

/// A slow job cancelled from inside the loop reading its events ends `cancelled`.
fn cancel_from_event_loop(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    let mut job = client
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 30, "tick": 0.05}),
        ))
        .map_err(e)?;
    let mut seen = Vec::new();
    while let Some(ev) = job.next_event() {
        if seen.is_empty() {
            job.cancel().map_err(e)?;
        }
        seen.push(ev.kind().to_owned());
    }
    eq(
        seen.first().map(String::as_str),
        Some("status"),
        "first event",
    )?;
    let out = job.done().map_err(e)?;
    eq(out.status(), JobStatus::Cancelled, "status")?;
    eq(out.result(), None, "result")?;
    client.close().map_err(e)
}

/// Another session subscribes with history to an ended job: the eight events replayed in
/// order, then the same terminal.
fn subscribe_with_history(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let a = c.connect(options(url, false)).map_err(e)?;
    let job = a
        .submit(SubmitRequest::new("chatty", json!({"count": 1})))
        .map_err(e)?;
    let id = job.job_id();
    eq(
        job.done().map_err(e)?.status(),
        JobStatus::Success,
        "submitter's status",
    )?;
    let b = c.connect(options(url, false)).map_err(e)?;
    let (mut sub, replayed) = b.subscribe(&id, true).map_err(e)?;
    eq(sub.job_id(), id.clone(), "subscribed job")?;
    let kinds: Vec<String> = drain(&mut *sub)
        .iter()
        .map(|e| e.kind().to_owned())
        .collect();
    eq(
        kinds,
        CHATTY_KINDS.map(str::to_owned).to_vec(),
        "replayed kinds",
    )?;
    eq(replayed, 9, "replayed")?;
    let out = sub.done().map_err(e)?;
    eq(out.status(), JobStatus::Success, "status")?;
    eq(out.job_id(), &id, "terminal's job")?;
    a.close().map_err(e)?;
    b.close().map_err(e)
}

/// `list_jobs` shows a finished job with its status.
fn list_jobs(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    let job = client
        .submit(SubmitRequest::new("echo", json!({"x": 1})))
        .map_err(e)?;
    let id = job.job_id();
    job.done().map_err(e)?;
    let page = client.list_jobs(ListJobsRequest::default()).map_err(e)?;
    let found = page.jobs.iter().find(|j| j.job_id == id);
    eq(
        found.map(|j| j.status),
        Some(arcp_client::JobStatus::Success),
        "listed status",
    )?;
    eq(
        found.map(|j| j.agent.to_string().starts_with("echo@")),
        Some(true),
        "listed agent",
    )?;
    client.close().map_err(e)
}

/// `ack` of what was received is accepted; of more is refused before anything is sent.
fn ack(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    let job = client
        .submit(SubmitRequest::new("chatty", json!({"count": 1})))
        .map_err(e)?;
    job.done().map_err(e)?;
    client.ack(9).map_err(e)?;
    let err = client.ack(100).expect_err("ack beyond what was received");
    eq(
        err.clone(),
        ClientError::Api(ApiError::InvalidArgument(
            "cannot ack 100: only 9 delivered".into(),
        )),
        "ack refusal",
    )?;
    eq(
        (err.code(), err.retryable()),
        (None, false),
        "code, retryable",
    )?;
    client.close().map_err(e)
}

/// After `close`, calls fail with `Closed` (no code, not retryable).
fn close(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    client.close().map_err(e)?;
    let err = client
        .submit(SubmitRequest::new("echo", json!(1)))
        .map(|_| ())
        .expect_err("submit after close");
    eq(err.clone(), ClientError::Closed, "after close")?;
    eq(
        (err.code(), err.retryable()),
        (None, false),
        "code, retryable",
    )
}

/// A refused submit and a failed job carry the §12 code and `retryable`.
fn error_codes(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    let err = client
        .submit(SubmitRequest::new("no_such_agent", json!(1)))
        .map(|_| ())
        .expect_err("an unknown agent");
    eq(
        err.code(),
        Some(ErrorCode::AgentNotAvailable),
        "refusal code",
    )?;
    eq(err.retryable(), false, "refusal retryable")?;
    let job = client
        .submit(SubmitRequest::new("failing", json!({"message": "boom"})))
        .map_err(e)?;
    let id = job.job_id();
    let err = job.done().expect_err("a failed job");
    eq(
        err.clone(),
        ClientError::JobFailed {
            job_id: id,
            code: ErrorCode::InternalError,
            message: "boom".into(),
            retryable: true,
            details: None,
        },
        "job error",
    )?;
    eq(
        (err.code(), err.retryable()),
        (Some(ErrorCode::InternalError), true),
        "code, retryable",
    )?;
    let job = client
        .submit(SubmitRequest::new(
            "failing",
            json!({"code": "PERMISSION_DENIED"}),
        ))
        .map_err(e)?;
    let err = job.done().expect_err("a failed job");
    eq(
        (err.code(), err.retryable()),
        (Some(ErrorCode::PermissionDenied), false),
        "code, retryable",
    )?;
    client.close().map_err(e)
}

/// A streamed result is reassembled from its chunks ([D32]).
///
/// [D32]: arcp_proto::compat#d32--chunk-order
fn result_chunks(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let client = c.connect(options(url, false)).map_err(e)?;
    let job = client
        .submit(SubmitRequest::new(
            "chunked",
            json!({"data": "hello chunked world", "chunk_size": 4}),
        ))
        .map_err(e)?;
    let out = job.done().map_err(e)?;
    match out.result() {
        Some(ResultValue::Streamed { data, summary, .. }) => {
            eq(
                data.as_slice(),
                b"hello chunked world".as_slice(),
                "reassembled bytes",
            )?;
            eq(summary.as_deref(), Some("5 chunks"), "summary")
        }
        other => Err(format!("expected a streamed result, got {other:?}")),
    }?;
    client.close().map_err(e)
}

/// A transport dropped mid-job is resumed by the client itself; the handle's stream goes on
/// without a gap or a duplicate to the terminal.
fn resume_after_drop(c: &dyn Conformance, url: &str) -> Result<(), String> {
    let mut o = options(url, true);
    o.reconnect_delay = Duration::from_millis(20);
    let client = c.connect(o).map_err(e)?;
    let mut job = client
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 0.6, "tick": 0.1}),
        ))
        .map_err(e)?;
    let mut seqs = Vec::new();
    while let Some(ev) = job.next_event() {
        seqs.push(ev.event_seq);
        if seqs.len() == 2 {
            client.drop_transport().map_err(e)?;
        }
    }
    let n = u64::try_from(seqs.len()).unwrap_or(0);
    eq(seqs, (1..=n).collect(), "gap-free seqs across the resume")?;
    check(n >= 3, format!("events after the resume (got {n})"))?;
    eq(
        job.done().map_err(e)?.status(),
        JobStatus::Success,
        "status",
    )?;
    eq(client.welcomes(), 2, "welcomes")?;
    client.close().map_err(e)
}

/// Every scenario, by name.
pub const SCENARIOS: [(&str, Scenario); 9] = [
    ("submit_events_done", submit_events_done),
    ("cancel_from_event_loop", cancel_from_event_loop),
    ("subscribe_with_history", subscribe_with_history),
    ("list_jobs", list_jobs),
    ("ack", ack),
    ("close", close),
    ("error_codes", error_codes),
    ("result_chunks", result_chunks),
    ("resume_after_drop", resume_after_drop),
];

/// Runs every scenario against `url`; panics listing those that failed.
pub fn run_all(c: &dyn Conformance, url: &str) {
    let failed: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|(name, s)| s(c, url).err().map(|why| format!("{name}: {why}")))
        .collect();
    assert!(
        failed.is_empty(),
        "conformance failures:\n{}",
        failed.join("\n")
    );
}

/// The suite's view of an async adapter's client, each call run with `B`.
pub struct AsyncConformance<L: AsyncLink, B> {
    block: B,
    link: std::marker::PhantomData<fn() -> L>,
}

impl<L: AsyncLink, B: BlockOn> AsyncConformance<L, B> {
    /// The suite over `Client<L>`, run with `block`.
    pub fn new(block: B) -> Self {
        AsyncConformance {
            block,
            link: std::marker::PhantomData,
        }
    }

    fn run<T: Send>(
        &self,
        f: impl Future<Output = Result<T, ClientError>> + Send,
    ) -> Result<T, ClientError> {
        self.block
            .block_on(LIMIT, f)
            .unwrap_or(Err(ClientError::Timeout))
    }
}

use std::future::Future;

impl<L: AsyncLink, B: BlockOn> Conformance for AsyncConformance<L, B> {
    fn connect(
        &self,
        options: ClientOptions,
    ) -> Result<Box<dyn ConformanceClient + '_>, ClientError> {
        let client = self.run(Client::<L>::connect_with(options))?;
        Ok(Box::new(AsyncClientView {
            suite: self,
            client,
        }))
    }
}

struct AsyncClientView<'a, L: AsyncLink, B> {
    suite: &'a AsyncConformance<L, B>,
    client: Client<L>,
}

struct AsyncJobView<'a, L: AsyncLink, B> {
    suite: &'a AsyncConformance<L, B>,
    events: JobEvents<L>,
    handle: JobHandle<L>,
}

impl<'a, L: AsyncLink, B: BlockOn> AsyncClientView<'a, L, B> {
    fn job(&self, handle: JobHandle<L>) -> Box<dyn ConformanceJob + 'a> {
        Box::new(AsyncJobView {
            suite: self.suite,
            events: handle.events(),
            handle,
        })
    }
}

impl<L: AsyncLink, B: BlockOn> ConformanceClient for AsyncClientView<'_, L, B> {
    fn submit(&self, req: SubmitRequest) -> Result<Box<dyn ConformanceJob + '_>, ClientError> {
        let h = self.suite.run(self.client.submit(req))?;
        Ok(self.job(h))
    }

    fn subscribe(
        &self,
        job_id: &JobId,
        history: bool,
    ) -> Result<(Box<dyn ConformanceJob + '_>, u64), ClientError> {
        let sub = self.suite.run(self.client.subscribe(job_id, history))?;
        let replayed = sub.replayed();
        Ok((self.job(sub.handle), replayed))
    }

    fn list_jobs(&self, req: ListJobsRequest) -> Result<Jobs, ClientError> {
        self.suite.run(self.client.list_jobs(req))
    }

    fn ack(&self, seq: u64) -> Result<(), ClientError> {
        self.suite.run(self.client.ack(seq))
    }

    fn drop_transport(&self) -> Result<(), ClientError> {
        self.suite.run(self.client.drop_transport())
    }

    fn close(&self) -> Result<(), ClientError> {
        self.suite.run(self.client.close())
    }

    fn latest_event_seq(&self) -> u64 {
        self.client.latest_event_seq()
    }

    fn welcomes(&self) -> u64 {
        self.client.welcomes()
    }
}

impl<L: AsyncLink, B: BlockOn> ConformanceJob for AsyncJobView<'_, L, B> {
    fn job_id(&self) -> JobId {
        self.handle.job_id().clone()
    }

    fn next_event(&mut self) -> Option<JobEventItem> {
        let events = &mut self.events;
        let next = poll_fn(|cx| Pin::new(&mut *events).poll_next(cx));
        self.suite.block.block_on(LIMIT, next).flatten()
    }

    fn cancel(&self) -> Result<(), ClientError> {
        self.suite.run(self.handle.cancel())
    }

    fn done(self: Box<Self>) -> Result<JobOutcome, ClientError> {
        let this = *self;
        drop(this.events);
        this.suite.run(this.handle.done())
    }
}
