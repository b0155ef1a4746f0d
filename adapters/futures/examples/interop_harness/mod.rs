//! The arcp-futures implementation of `arcp_interop::Harness` (shared by
//! `examples/interop.rs` and the tests): every call blocks the scenario's thread with
//! `async_io::block_on`, bounded by an `async_io::Timer`; the client's driver and the raw
//! links run on smol's global executor. WebSocket targets only.
#![allow(dead_code)]

use arcp_futures::client::{
    Client, ClientError, FrameTap, JobHandle, JobOutcome, LeaseConstraints, ListJobsRequest,
    ResultValue, ResumeState, SubmitRequest, TapEvent, Timestamp,
};
use arcp_interop::{
    ClientError as IoError, ConnectRequest, Harness, Outcome, RawLink, ScenarioClient, SubmitSpec,
    Tap, Target,
};
use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::{FutureExt, SinkExt, StreamExt, select_biased};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bound of a client call that has no explicit timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Frames queued on a raw connection.
const RAW_QUEUE: usize = 64;

fn spawn(f: arcp_futures::server::BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

fn block_on<T>(
    limit: Duration,
    f: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, IoError> {
    async_io::block_on(async move {
        select_biased! {
            r = f.fuse() => r.map_err(convert),
            _ = FutureExt::fuse(async_io::Timer::after(limit)) => Err(IoError::Other(format!(
                "timed out after {}s",
                limit.as_secs_f64()
            ))),
        }
    })
}

fn convert(e: ClientError) -> IoError {
    match e {
        ClientError::Refused { code, message } | ClientError::JobFailed { code, message } => {
            IoError::Code {
                code: code.as_str().to_owned(),
                message,
            }
        }
        other => IoError::Other(other.to_string()),
    }
}

fn tap_callback(tap: Arc<Tap>) -> FrameTap {
    Arc::new(move |ev: TapEvent<'_>| match ev {
        TapEvent::Sent(b) => tap.c2r(&String::from_utf8_lossy(b)),
        TapEvent::Received(b) => tap.r2c(&String::from_utf8_lossy(b)),
        TapEvent::Closed(why) => tap.closed(why),
    })
}

fn submit_request(spec: &SubmitSpec) -> Result<SubmitRequest, IoError> {
    let bad = |e: String| IoError::Other(format!("invalid submit: {e}"));
    let mut req = SubmitRequest::new(spec.agent.clone(), spec.input.clone());
    if let Some(lease) = &spec.lease_request {
        req.lease_request =
            serde_json::from_value(lease.clone()).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(exp) = &spec.expires_at {
        req.lease_constraints = Some(LeaseConstraints {
            expires_at: Some(Timestamp::parse(exp).map_err(|e| bad(e.to_string()))?),
            ..LeaseConstraints::default()
        });
    }
    req.idempotency_key = spec.idempotency_key.clone();
    req.max_runtime_sec = spec.max_runtime_sec;
    if let Some(t) = &spec.trace_id {
        req.trace_id = Some(arcp_proto::wire::TraceId::parse(t).map_err(|e| bad(e.0))?);
    }
    Ok(req)
}

/// Opens arcp-futures clients and raw WebSocket connections for the scenarios.
pub struct FuturesHarness;

impl Harness for FuturesHarness {
    fn connect(
        &self,
        req: &ConnectRequest,
        tap: Arc<Tap>,
    ) -> Result<Box<dyn ScenarioClient>, IoError> {
        let Target::WebSocket(url) = &req.target else {
            return Err(IoError::Other("arcp-futures speaks WebSocket only".into()));
        };
        let mut builder = Client::builder(url.clone())
            .token(req.token.clone())
            .client_info(req.client_name.clone(), req.client_version.clone())
            .features(req.features.clone())
            // Handles are kept unread until `done` (the scenarios read the tap): room for
            // every event of the contract agents, so the client never stops reading.
            .event_capacity(4096)
            .frame_tap(tap_callback(tap));
        if let Some(r) = &req.resume {
            builder = builder.resume(ResumeState {
                session_id: r.session_id.clone(),
                resume_token: r.resume_token.clone(),
                last_event_seq: r.last_event_seq,
            });
        }
        let client = block_on(req.timeout, builder.connect(spawn))?;
        Ok(Box::new(FuturesClient {
            client,
            handles: Mutex::new(HashMap::new()),
        }))
    }

    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        let Target::WebSocket(url) = target else {
            return Err("arcp-futures speaks WebSocket only".into());
        };
        let ws = block_on(
            Duration::from_secs(5),
            arcp_futures::client::open_ws(url, usize::MAX >> 1),
        )
        .map_err(|e| e.to_string())?;
        let (tx, rx) = async_channel::bounded(RAW_QUEUE);
        smol::spawn(raw_ws(ws, rx, Arc::clone(&tap))).detach();
        Ok(Arc::new(FuturesRaw { tx, tap }))
    }
}

enum RawOut {
    Text(String),
    Close,
    Abort,
}

struct FuturesRaw {
    tx: async_channel::Sender<RawOut>,
    tap: Arc<Tap>,
}

impl RawLink for FuturesRaw {
    fn send_text(&self, text: &str) -> Result<(), String> {
        if self.tap.is_closed() {
            return Err("connection closed".into());
        }
        self.tap.c2r(text);
        self.tx
            .try_send(RawOut::Text(text.to_owned()))
            .map_err(|e| e.to_string())
    }

    fn close(&self) {
        let _ = self.tx.try_send(RawOut::Close);
    }

    fn abort(&self) {
        let _ = self.tx.try_send(RawOut::Abort);
    }
}

async fn with_timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
    select_biased! {
        r = f.fuse() => Some(r),
        _ = FutureExt::fuse(async_io::Timer::after(d)) => None,
    }
}

async fn raw_ws(ws: arcp_futures::client::Ws, rx: async_channel::Receiver<RawOut>, tap: Arc<Tap>) {
    let (mut sink, mut stream) = StreamExt::split(ws);
    loop {
        let step = select_biased! {
            out = rx.recv().fuse() => Ok(out.ok()),
            msg = stream.next().fuse() => Err(msg),
        };
        match step {
            Ok(Some(RawOut::Text(t))) => {
                if sink.send(WsMessage::text(t)).await.is_err() {
                    tap.closed("send failed");
                    return;
                }
            }
            Ok(Some(RawOut::Close) | None) => {
                let _ = with_timeout(Duration::from_secs(3), sink.close()).await;
                // Wait for the peer's close so the tap sees the end.
                let _ = with_timeout(Duration::from_secs(3), async {
                    while let Some(Ok(m)) = stream.next().await {
                        if let WsMessage::Text(t) = m {
                            tap.r2c(t.as_str());
                        }
                    }
                })
                .await;
                tap.closed("closed");
                return;
            }
            Ok(Some(RawOut::Abort)) => {
                tap.closed("aborted");
                return;
            }
            Err(Some(Ok(WsMessage::Text(t)))) => tap.r2c(t.as_str()),
            Err(Some(Ok(WsMessage::Binary(b)))) => tap.r2c(&String::from_utf8_lossy(&b)),
            Err(Some(Ok(WsMessage::Close(f)))) => {
                let _ = with_timeout(Duration::from_secs(1), sink.close()).await;
                tap.closed(&format!("closed by the runtime: {f:?}"));
                return;
            }
            Err(Some(Ok(_))) => {}
            Err(Some(Err(e))) => {
                tap.closed(&format!("reader error: {e}"));
                return;
            }
            Err(None) => {
                tap.closed("connection ended");
                return;
            }
        }
    }
}

struct FuturesClient {
    client: Client,
    handles: Mutex<HashMap<String, JobHandle>>,
}

impl FuturesClient {
    fn keep(&self, h: JobHandle) {
        if let Ok(mut m) = self.handles.lock() {
            m.insert(h.job_id().to_owned(), h);
        }
    }
}

impl ScenarioClient for FuturesClient {
    fn negotiated_features(&self) -> Vec<String> {
        self.client.features()
    }

    fn submit(&self, spec: &SubmitSpec) -> Result<String, IoError> {
        let req = submit_request(spec)?;
        let h = block_on(CALL_TIMEOUT, self.client.submit(req))?;
        let id = h.job_id().to_owned();
        self.keep(h);
        Ok(id)
    }

    fn done(&self, job_id: &str, timeout: Duration) -> Result<Outcome, IoError> {
        let h = self.handles.lock().ok().and_then(|mut m| m.remove(job_id));
        let Some(h) = h else {
            return Err(IoError::Other(format!("no handle for {job_id}")));
        };
        let (status, result) = match block_on(timeout, h.done())? {
            JobOutcome::Success { result, .. } => ("success", result),
            JobOutcome::Cancelled { .. } => ("cancelled", ResultValue::None),
            JobOutcome::TimedOut { .. } => ("timed_out", ResultValue::None),
            JobOutcome::Failed { code, message, .. } => {
                return Err(IoError::Code {
                    code: code.as_str().to_owned(),
                    message,
                });
            }
        };
        let (result, chunks) = match result {
            ResultValue::None => (None, None),
            ResultValue::Inline(v) => (Some(v), None),
            ResultValue::Streamed { data, .. } => (None, Some(data)),
            ResultValue::Refused { reason, .. } => {
                return Err(IoError::Other(format!(
                    "streamed result refused: {reason:?}"
                )));
            }
        };
        Ok(Outcome {
            final_status: status.to_owned(),
            result,
            chunks,
        })
    }

    fn cancel(&self, job_id: &str, reason: &str) -> Result<(), IoError> {
        block_on(CALL_TIMEOUT, self.client.cancel(job_id, reason))
    }

    fn list_jobs(&self, payload: &Value) -> Result<Value, IoError> {
        let req: ListJobsRequest = serde_json::from_value(payload.clone())
            .map_err(|e| IoError::Other(format!("invalid list_jobs payload: {e}")))?;
        let jobs = block_on(CALL_TIMEOUT, self.client.list_jobs(req))?;
        serde_json::to_value(jobs).map_err(|e| IoError::Other(e.to_string()))
    }

    fn subscribe(
        &self,
        job_id: &str,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<(), IoError> {
        let h = block_on(
            CALL_TIMEOUT,
            self.client.subscribe(job_id, history, from_event_seq),
        )?;
        self.keep(h);
        Ok(())
    }

    fn unsubscribe(&self, job_id: &str) -> Result<(), IoError> {
        block_on(CALL_TIMEOUT, self.client.unsubscribe(job_id))
    }

    fn ack(&self, last_processed_seq: u64) -> Result<(), IoError> {
        block_on(CALL_TIMEOUT, self.client.ack(last_processed_seq))
    }

    fn ping(&self) -> Result<Duration, IoError> {
        block_on(CALL_TIMEOUT, self.client.ping())
    }

    fn send_raw(&self, text: &str) -> Result<(), IoError> {
        block_on(CALL_TIMEOUT, self.client.send_raw(text.as_bytes().to_vec()))
    }

    fn drop_transport(&self) {
        let _ = block_on(CALL_TIMEOUT, self.client.drop_transport());
    }

    fn close(&self) -> Result<(), IoError> {
        if let Ok(mut m) = self.handles.lock() {
            m.clear();
        }
        block_on(Duration::from_secs(5), self.client.close())
    }
}
