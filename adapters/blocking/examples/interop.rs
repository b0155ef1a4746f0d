//! The interop scenario runner with the blocking client: the 25 scenarios of
//! `../shared/interop/peer_client.py` (written once in `arcp-interop`), driven through
//! [`arcp_blocking::client::Client`] with a frame tap. Same CLI and output as arcp-tokio's:
//!
//! ```text
//! cargo run -p arcp-blocking --example interop -- (--url URL | --spawn-peer ws) [--python-peer]
//! ```
//!
//! `PASS name` / `FAIL name: reason` / `SKIP name: reason`, then `N passed, N failed`; exit
//! status 1 on any failure. This adapter has no stdio transport: `--stdio` targets fail.

use arcp_blocking::client::{
    Client, ClientError, FrameTap, JobOutcome, ListJobsRequest, RawConnection, ResultValue,
    ResumeState, SubmitRequest, TapEvent,
};
use arcp_interop::{
    ClientError as IoError, ConnectRequest, Harness, Outcome, RawLink, ScenarioClient, SubmitSpec,
    Tap, Target,
};
use arcp_proto::wire::{LeaseConstraints, Timestamp, TraceId};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

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
        req.trace_id = Some(TraceId::parse(t).map_err(|e| bad(e.0))?);
    }
    Ok(req)
}

struct BlockingHarness;

impl Harness for BlockingHarness {
    fn connect(
        &self,
        req: &ConnectRequest,
        tap: Arc<Tap>,
    ) -> Result<Box<dyn ScenarioClient>, IoError> {
        let Target::WebSocket(url) = &req.target else {
            return Err(IoError::Other(
                "arcp-blocking has no stdio transport".into(),
            ));
        };
        let mut builder = Client::builder(url.clone())
            .token(req.token.clone())
            .client_info(&req.client_name, &req.client_version)
            .features(req.features.clone())
            .connect_timeout(req.timeout)
            .frame_tap(tap_callback(tap));
        if let Some(r) = &req.resume {
            builder = builder.resume(ResumeState {
                session_id: r.session_id.clone(),
                resume_token: r.resume_token.clone(),
                last_event_seq: r.last_event_seq,
            });
        }
        Ok(Box::new(BlockingClient(
            builder.connect().map_err(convert)?,
        )))
    }

    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        let Target::WebSocket(url) = target else {
            return Err("arcp-blocking has no stdio transport".into());
        };
        let conn = RawConnection::open(url, Duration::from_secs(5), tap_callback(tap.clone()))
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Raw { conn, tap }))
    }
}

struct Raw {
    conn: Arc<RawConnection>,
    tap: Arc<Tap>,
}

impl RawLink for Raw {
    fn send_text(&self, text: &str) -> Result<(), String> {
        if self.tap.is_closed() {
            return Err("connection closed".into());
        }
        self.conn.send_text(text).map_err(|e| e.to_string())
    }

    fn close(&self) {
        self.conn.close();
    }

    fn abort(&self) {
        self.conn.abort();
    }
}

struct BlockingClient(Client);

impl ScenarioClient for BlockingClient {
    fn negotiated_features(&self) -> Vec<String> {
        self.0.features()
    }

    fn submit(&self, spec: &SubmitSpec) -> Result<String, IoError> {
        self.0.submit(submit_request(spec)?).map_err(convert)
    }

    fn done(&self, job_id: &str, timeout: Duration) -> Result<Outcome, IoError> {
        let (status, result) = match self.0.done(job_id, timeout).map_err(convert)? {
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
        self.0.cancel(job_id, reason).map_err(convert)
    }

    fn list_jobs(&self, payload: &Value) -> Result<Value, IoError> {
        let req: ListJobsRequest = serde_json::from_value(payload.clone())
            .map_err(|e| IoError::Other(format!("invalid list_jobs payload: {e}")))?;
        let jobs = self.0.list_jobs(req).map_err(convert)?;
        serde_json::to_value(jobs).map_err(|e| IoError::Other(e.to_string()))
    }

    fn subscribe(&self, job_id: &str, history: bool, from: Option<u64>) -> Result<(), IoError> {
        self.0.subscribe(job_id, history, from).map_err(convert)
    }

    fn unsubscribe(&self, job_id: &str) -> Result<(), IoError> {
        self.0.unsubscribe(job_id).map_err(convert)
    }

    fn ack(&self, last_processed_seq: u64) -> Result<(), IoError> {
        self.0.ack(last_processed_seq).map_err(convert)
    }

    fn ping(&self) -> Result<Duration, IoError> {
        self.0.ping().map_err(convert)
    }

    fn send_raw(&self, text: &str) -> Result<(), IoError> {
        self.0.send_raw(text).map_err(convert)
    }

    fn drop_transport(&self) {
        self.0.drop_transport();
    }

    fn close(&self) -> Result<(), IoError> {
        self.0.close().map_err(convert)
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(arcp_interop::main_with(Arc::new(BlockingHarness), &argv));
}
