//! What every adapter's [`Harness`](crate::Harness) shares: the conversions between the
//! scenario types and the core's client types, the frame tap bridge, and raw links that need
//! no runtime (a queue-fed link for an adapter's own WebSocket loop, a stdio link on std
//! threads). An adapter's harness keeps only its client calls and its WebSocket IO.

use crate::api::{ClientError, Outcome, RawLink, Resume, SubmitSpec};
use crate::tap::Tap;
use arcp_host::client::{FrameTap, StdioChild, StdioInbound, TapEvent};
use arcp_proto::client::{JobOutcome, ResultValue, ResumeState, SubmitRequest};
use arcp_proto::wire::{ErrorCode, LeaseConstraints, Timestamp, TraceId};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bound of a client call that has no explicit timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// Frames queued on a raw connection.
pub const RAW_QUEUE: usize = 64;

/// A §12 refusal or `job.error` as the scenarios see it.
pub fn code_error(code: &ErrorCode, message: String) -> ClientError {
    ClientError::Code {
        code: code.as_str().to_owned(),
        message,
    }
}

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

/// The core's submit request of a scenario's submit.
pub fn submit_request(spec: &SubmitSpec) -> Result<SubmitRequest, ClientError> {
    let bad = |e: String| ClientError::Other(format!("invalid submit: {e}"));
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

/// A job's outcome as the scenarios see it: `job.error` is a [`ClientError::Code`], a
/// refused streamed result an error.
pub fn outcome(o: JobOutcome) -> Result<Outcome, ClientError> {
    let (status, result) = match o {
        JobOutcome::Success { result, .. } => ("success", result),
        JobOutcome::Cancelled { .. } => ("cancelled", ResultValue::None),
        JobOutcome::TimedOut { .. } => ("timed_out", ResultValue::None),
        JobOutcome::Failed { code, message, .. } => return Err(code_error(&code, message)),
    };
    let (result, chunks) = match result {
        ResultValue::None => (None, None),
        ResultValue::Inline(v) => (Some(v), None),
        ResultValue::Streamed { data, .. } => (None, Some(data)),
        ResultValue::Refused { reason, .. } => {
            return Err(ClientError::Other(format!(
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
    use arcp_proto::client::JobOutcome;
    use serde_json::json;

    #[test]
    fn a_submit_spec_becomes_the_same_request() {
        let mut spec = SubmitSpec::new("echo", json!({"x": 1}));
        spec.lease_request = Some(json!({"fs.read": ["/tmp/**"]}));
        spec.idempotency_key = Some("k1".into());
        spec.max_runtime_sec = Some(30);
        let req = submit_request(&spec).unwrap();
        assert_eq!(req.agent, "echo");
        assert_eq!(req.input, json!({"x": 1}));
        assert_eq!(
            serde_json::to_value(&req.lease_request).unwrap(),
            json!({"fs.read": ["/tmp/**"]})
        );
        assert_eq!(req.idempotency_key.as_deref(), Some("k1"));
        assert_eq!(req.max_runtime_sec, Some(30));
        spec.expires_at = Some("yesterday".into());
        assert!(
            matches!(submit_request(&spec), Err(ClientError::Other(m)) if m.starts_with("invalid submit: "))
        );
    }

    #[test]
    fn outcomes_map_to_statuses_and_codes() {
        let ok = outcome(JobOutcome::Success {
            result: ResultValue::Inline(json!(7)),
            completed_at: None,
        });
        assert_eq!(
            ok,
            Ok(Outcome {
                final_status: "success".into(),
                result: Some(json!(7)),
                chunks: None
            })
        );
        let cancelled = outcome(JobOutcome::Cancelled { completed_at: None }).unwrap();
        assert_eq!(cancelled.final_status, "cancelled");
        assert_eq!(cancelled.result, None);
        let failed = outcome(JobOutcome::Failed {
            code: ErrorCode::BudgetExhausted,
            message: "spent".into(),
            retryable: false,
            details: None,
            completed_at: None,
        });
        assert_eq!(
            failed,
            Err(ClientError::Code {
                code: "BUDGET_EXHAUSTED".into(),
                message: "spent".into()
            })
        );
    }
}
