//! What every adapter's [`Harness`](crate::Harness) shares: the conversions between the
//! scenario types and the core's client types, the frame tap bridge, and raw links that need
//! no runtime (a queue-fed link for an adapter's own WebSocket loop, a stdio link on std
//! threads). An adapter's harness keeps only its client calls and its WebSocket IO.

use crate::api::{
    ClientError, ConnectRequest, Outcome, RawLink, Resume, ScenarioClient, SubmitSpec, Target,
};
use crate::tap::Tap;
use arcp_client::{
    ApiError, AsyncLink, Client, ClientOptions, FrameTap, JobHandle, JobOutcome, ListJobsRequest,
    ResultValue, ResumeRetry, ResumeState, StdioChild, StdioInbound, SubmitRequest, TapEvent,
    Target as ClientTarget,
};
use arcp_proto::wire::{Feature, FeatureSet, JobId, Timestamp, TraceId};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bound of a client call that has no explicit timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Frames queued on a raw connection.
pub const RAW_QUEUE: usize = 64;

/// Reports a client's frames and transport end to a scenario [`Tap`].
pub fn tap_callback(tap: Arc<Tap>) -> FrameTap {
    Arc::new(move |ev: TapEvent<'_>| match ev {
        TapEvent::Sent(b) => tap.c2r(&String::from_utf8_lossy(b)),
        TapEvent::Received(b) => tap.r2c(&String::from_utf8_lossy(b)),
        TapEvent::Closed(why) => tap.closed(why),
    })
}

/// The core's resume state of a scenario's resume.
pub fn resume_state(r: &Resume) -> ResumeState {
    ResumeState {
        session_id: r.session_id.clone(),
        resume_token: r.resume_token.clone(),
        last_event_seq: r.last_event_seq,
    }
}

/// The client options of a scenario's connect, as every adapter's client takes them: one
/// client is one transport (no automatic resume, a refused resume surfaces at once), and
/// room in each handle for every event of the contract agents (handles are kept unread
/// until `done`; the scenarios read the tap), so the client never stops reading.
pub fn connect_options(req: &ConnectRequest, tap: Arc<Tap>) -> ClientOptions {
    let target = match &req.target {
        Target::WebSocket(url) => ClientTarget::WebSocket(url.clone()),
        Target::Stdio(argv) => ClientTarget::Stdio(argv.iter().map(Into::into).collect()),
    };
    let mut o = ClientOptions::new(target, &req.client_name, &req.client_version);
    o.token = req.token.clone();
    // Known names as features; any other (the scenarios' `x-bogus.feature`) is sent
    // verbatim after them.
    o.features = FeatureSet::from_names(&req.features);
    o.extra_features = req
        .features
        .iter()
        .filter(|n| Feature::parse(n).is_none())
        .cloned()
        .collect();
    o.auto_resume = false;
    o.resume_retry = ResumeRetry::never();
    o.event_capacity = 4096;
    o.connect_timeout = req.timeout;
    o.resume = req.resume.as_ref().map(resume_state);
    o.tap = Some(tap_callback(tap));
    o
}

/// The client's submit request of a scenario's submit.
pub fn submit_request(spec: &SubmitSpec) -> Result<SubmitRequest, ClientError> {
    let bad =
        |e: String| ClientError::Api(ApiError::InvalidArgument(format!("invalid submit: {e}")));
    let mut req = SubmitRequest::new(spec.agent.clone(), spec.input.clone());
    if let Some(lease) = &spec.lease_request {
        req = req
            .lease_request(serde_json::from_value(lease.clone()).map_err(|e| bad(e.to_string()))?);
    }
    if let Some(exp) = &spec.expires_at {
        req = req.expires_at(Timestamp::parse(exp).map_err(|e| bad(e.to_string()))?);
    }
    if let Some(k) = &spec.idempotency_key {
        req = req.idempotency_key(k.clone());
    }
    if let Some(s) = spec.max_runtime_sec {
        req = req.max_runtime_sec(s);
    }
    if let Some(t) = &spec.trace_id {
        req = req.trace_id(TraceId::parse(t).map_err(|e| bad(e.0))?);
    }
    Ok(req)
}

/// A job's end as the scenarios see it: `job.error` is [`ClientError::JobFailed`], a
/// refused streamed result an error.
pub fn outcome(o: Result<JobOutcome, ClientError>) -> Result<Outcome, ClientError> {
    let o = o?;
    let status = match o.status() {
        arcp_client::JobStatus::Cancelled => "cancelled",
        arcp_client::JobStatus::TimedOut => "timed_out",
        _ => "success",
    };
    let (result, chunks) = match o.result() {
        None | Some(ResultValue::None) => (None, None),
        Some(ResultValue::Inline(v)) => (Some(v.clone()), None),
        Some(ResultValue::Streamed { data, .. }) => (None, Some(data.clone())),
        Some(ResultValue::Refused { reason, .. }) => {
            return Err(ClientError::Api(ApiError::InvalidArgument(format!(
                "streamed result refused: {reason:?}"
            ))));
        }
    };
    Ok(Outcome {
        final_status: status.to_owned(),
        result,
        chunks,
    })
}

/// How an async adapter runs one future to its end from the scenario's thread, bounded.
pub trait BlockOn: Send + Sync + 'static {
    /// Runs `f`; `None` when `limit` passed first.
    fn block_on<F>(&self, limit: Duration, f: F) -> Option<F::Output>
    where
        F: Future + Send,
        F::Output: Send;
}

/// The [`Harness`](crate::Harness) of an adapter whose client is arcp-client's async API:
/// `block` runs each call from the scenario's thread, `raw_ws` opens a bare WebSocket (stdio
/// raw links are [`StdioRaw`]'s).
pub struct ClientHarness<L, B, W> {
    block: B,
    raw_ws: W,
    link: std::marker::PhantomData<fn() -> L>,
}

impl<L, B, W> ClientHarness<L, B, W>
where
    L: AsyncLink,
    B: BlockOn + Clone,
    W: Fn(&B, &str, Arc<Tap>) -> Result<Arc<dyn RawLink>, String> + Send + Sync + 'static,
{
    /// A harness running calls with `block`, raw WebSockets with `raw_ws`.
    pub fn new(block: B, raw_ws: W) -> Self {
        ClientHarness {
            block,
            raw_ws,
            link: std::marker::PhantomData,
        }
    }
}

impl<L, B, W> crate::Harness for ClientHarness<L, B, W>
where
    L: AsyncLink,
    B: BlockOn + Clone,
    W: Fn(&B, &str, Arc<Tap>) -> Result<Arc<dyn RawLink>, String> + Send + Sync + 'static,
{
    fn connect(
        &self,
        req: &ConnectRequest,
        tap: Arc<Tap>,
    ) -> Result<Box<dyn ScenarioClient>, ClientError> {
        connect_async::<L, B>(self.block.clone(), req, tap)
    }

    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        match target {
            Target::WebSocket(url) => (self.raw_ws)(&self.block, url, tap),
            Target::Stdio(argv) => StdioRaw::open(argv, tap),
        }
    }
}

/// The [`ScenarioClient`] of every async adapter: its [`Client`], driven from the scenario's
/// thread through `B`.
pub struct AsyncScenario<L: AsyncLink, B> {
    client: Client<L>,
    block: B,
    handles: Mutex<HashMap<JobId, JobHandle<L>>>,
}

/// Opens an async adapter's client for a scenario (see [`connect_options`]).
pub fn connect_async<L: AsyncLink, B: BlockOn>(
    block: B,
    req: &ConnectRequest,
    tap: Arc<Tap>,
) -> Result<Box<dyn ScenarioClient>, ClientError> {
    let options = connect_options(req, tap);
    let client = block
        .block_on(req.timeout, Client::<L>::connect_with(options))
        .unwrap_or(Err(ClientError::Timeout))?;
    Ok(Box::new(AsyncScenario {
        client,
        block,
        handles: Mutex::new(HashMap::new()),
    }))
}

impl<L: AsyncLink, B: BlockOn> AsyncScenario<L, B> {
    fn run<T: Send>(
        &self,
        limit: Duration,
        f: impl Future<Output = Result<T, ClientError>> + Send,
    ) -> Result<T, ClientError> {
        self.block
            .block_on(limit, f)
            .unwrap_or(Err(ClientError::Timeout))
    }

    fn keep(&self, h: JobHandle<L>) {
        if let Ok(mut m) = self.handles.lock() {
            m.insert(h.job_id().clone(), h);
        }
    }
}

impl<L: AsyncLink, B: BlockOn> ScenarioClient for AsyncScenario<L, B> {
    fn negotiated_features(&self) -> FeatureSet {
        self.client.features()
    }

    fn submit(&self, spec: &SubmitSpec) -> Result<JobId, ClientError> {
        let req = submit_request(spec)?;
        let h = self.run(CALL_TIMEOUT, self.client.submit(req))?;
        let id = h.job_id().clone();
        self.keep(h);
        Ok(id)
    }

    fn done(&self, job_id: &JobId, timeout: Duration) -> Result<Outcome, ClientError> {
        let h = self.handles.lock().ok().and_then(|mut m| m.remove(job_id));
        let Some(h) = h else {
            return Err(ClientError::Api(ApiError::InvalidArgument(format!(
                "no handle for {job_id}"
            ))));
        };
        outcome(
            self.block
                .block_on(timeout, h.done())
                .unwrap_or(Err(ClientError::Timeout)),
        )
    }

    fn cancel(&self, job_id: &JobId, reason: &str) -> Result<(), ClientError> {
        self.run(CALL_TIMEOUT, self.client.cancel_with_reason(job_id, reason))
    }

    fn list_jobs(&self, payload: &Value) -> Result<Value, ClientError> {
        let req: ListJobsRequest = serde_json::from_value(payload.clone()).map_err(|e| {
            ClientError::Api(ApiError::InvalidArgument(format!(
                "invalid list_jobs payload: {e}"
            )))
        })?;
        let jobs = self.run(CALL_TIMEOUT, self.client.list_jobs(req))?;
        serde_json::to_value(jobs).map_err(|e| ClientError::transport(e.to_string()))
    }

    fn subscribe(
        &self,
        job_id: &JobId,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<(), ClientError> {
        let sub = self.run(
            CALL_TIMEOUT,
            self.client.subscribe_from(job_id, history, from_event_seq),
        )?;
        self.keep(sub.handle);
        Ok(())
    }

    fn unsubscribe(&self, job_id: &JobId) -> Result<(), ClientError> {
        self.run(CALL_TIMEOUT, self.client.unsubscribe(job_id))
    }

    fn ack(&self, last_processed_seq: u64) -> Result<(), ClientError> {
        self.run(CALL_TIMEOUT, self.client.ack(last_processed_seq))
    }

    fn ping(&self) -> Result<Duration, ClientError> {
        self.run(CALL_TIMEOUT, self.client.ping())
    }

    fn send_raw(&self, text: &str) -> Result<(), ClientError> {
        self.run(CALL_TIMEOUT, self.client.send_raw(text.as_bytes().to_vec()))
    }

    fn drop_transport(&self) {
        let _ = self.run(CALL_TIMEOUT, self.client.drop_transport());
    }

    fn close(&self) -> Result<(), ClientError> {
        if let Ok(mut m) = self.handles.lock() {
            m.clear();
        }
        self.run(Duration::from_secs(5), self.client.close())
    }
}

/// What a raw link asks its adapter's connection loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawOut {
    /// Write this frame.
    Text(String),
    /// Close gracefully.
    Close,
    /// Drop without a close handshake.
    Abort,
}

/// A raw link whose frames go to the adapter's connection loop through a bounded queue
/// (`send` is the queue's non-blocking `try_send`).
pub struct QueuedRaw<F> {
    send: F,
    tap: Arc<Tap>,
}

impl<F: Fn(RawOut) -> Result<(), String> + Send + Sync> QueuedRaw<F> {
    /// A link feeding `send`, recording into `tap`.
    pub fn new(send: F, tap: Arc<Tap>) -> Self {
        QueuedRaw { send, tap }
    }
}

impl<F: Fn(RawOut) -> Result<(), String> + Send + Sync> RawLink for QueuedRaw<F> {
    fn send_text(&self, text: &str) -> Result<(), String> {
        if self.tap.is_closed() {
            return Err("connection closed".into());
        }
        self.tap.c2r(text);
        (self.send)(RawOut::Text(text.to_owned()))
    }

    fn close(&self) {
        let _ = (self.send)(RawOut::Close);
    }

    fn abort(&self) {
        let _ = (self.send)(RawOut::Abort);
    }
}

/// A raw link to a child on stdio, on std threads (any adapter).
pub struct StdioRaw {
    child: Mutex<StdioChild>,
    tap: Arc<Tap>,
}

impl StdioRaw {
    /// Spawns `argv`; every line it writes goes to `tap`, then its end.
    pub fn open(argv: &[String], tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        let t = Arc::clone(&tap);
        let child = StdioChild::spawn(argv, usize::MAX >> 1, move |i| {
            match i {
                StdioInbound::Frame(f) => t.r2c(&String::from_utf8_lossy(&f)),
                StdioInbound::TooLarge => {}
                StdioInbound::Closed(_) => t.closed("eof"),
            }
            true
        })
        .map_err(|e| format!("cannot spawn {}: {e}", argv.first().map_or("", |s| s)))?;
        Ok(Arc::new(StdioRaw {
            child: Mutex::new(child),
            tap,
        }))
    }
}

impl RawLink for StdioRaw {
    fn send_text(&self, text: &str) -> Result<(), String> {
        if self.tap.is_closed() {
            return Err("connection closed".into());
        }
        self.tap.c2r(text);
        let mut c = self.child.lock().map_err(|_| "poisoned".to_owned())?;
        c.send(text.as_bytes()).map_err(|e| e.to_string())
    }

    fn close(&self) {
        if let Ok(mut c) = self.child.lock() {
            c.close_stdin();
        }
    }

    fn abort(&self) {
        if let Ok(mut c) = self.child.lock() {
            c.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcp_client::SeqSpace;
    use arcp_proto::client::JobOutcome as Core;
    use arcp_proto::wire::ErrorCode;
    use serde_json::json;

    #[test]
    fn a_submit_spec_becomes_the_same_request() {
        let mut spec = SubmitSpec::new("echo", json!({"x": 1}));
        spec.lease_request = Some(json!({"fs.read": ["/tmp/**"]}));
        spec.idempotency_key = Some("k1".into());
        spec.max_runtime_sec = Some(30);
        let req = submit_request(&spec).unwrap().into_core();
        assert_eq!(req.agent, "echo");
        assert_eq!(req.input, json!({"x": 1}));
        assert_eq!(
            serde_json::to_value(&req.lease_request).unwrap(),
            json!({"fs.read": ["/tmp/**"]})
        );
        assert_eq!(req.idempotency_key.as_deref(), Some("k1"));
        assert_eq!(req.max_runtime_sec, Some(30));
        spec.expires_at = Some("yesterday".into());
        assert!(matches!(
            submit_request(&spec),
            Err(ClientError::Api(ApiError::InvalidArgument(m))) if m.starts_with("invalid submit: ")
        ));
    }

    fn end(o: Core) -> Result<JobOutcome, ClientError> {
        JobOutcome::new("job_1".into(), 3, SeqSpace::Session, o).into_result()
    }

    #[test]
    fn outcomes_map_to_statuses_and_codes() {
        let ok = outcome(end(Core::Success {
            result: ResultValue::Inline(json!(7)),
            completed_at: None,
        }));
        assert_eq!(
            ok,
            Ok(Outcome {
                final_status: "success".into(),
                result: Some(json!(7)),
                chunks: None
            })
        );
        let cancelled = outcome(end(Core::Cancelled { completed_at: None })).unwrap();
        assert_eq!(cancelled.final_status, "cancelled");
        assert_eq!(cancelled.result, None);
        let failed = outcome(end(Core::Failed {
            code: ErrorCode::BudgetExhausted,
            message: "spent".into(),
            retryable: false,
            details: None,
            completed_at: None,
        }));
        assert_eq!(
            failed,
            Err(ClientError::JobFailed {
                job_id: "job_1".into(),
                code: ErrorCode::BudgetExhausted,
                message: "spent".into(),
                retryable: false,
                details: None
            })
        );
    }
}
