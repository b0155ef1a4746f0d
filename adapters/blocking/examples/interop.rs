//! The interop scenario runner with the blocking client: the 25 scenarios of
//! `../shared/interop/peer_client.py` (written once in `arcp-interop`), driven through
//! [`arcp_blocking::client::Client`] with a frame tap. Same CLI and output as arcp-tokio's:
//!
//! ```text
//! cargo run -p arcp-blocking --example interop -- (--url URL | --stdio "COMMAND" | --spawn-peer ws|stdio) [--python-peer]
//! ```
//!
//! `PASS name` / `FAIL name: reason` / `SKIP name: reason`, then `N passed, N failed`; exit
//! status 1 on any failure. The conversions, the tap bridge and the stdio raw link are
//! `arcp_interop::adapt`'s; this file is the blocking client's calls.

use arcp_blocking::client::{Client, ClientError, ListJobsRequest, RawConnection, ResumeRetry};
use arcp_interop::adapt::{code_error, outcome, resume_state, submit_request, tap_callback};
use arcp_interop::{
    ClientError as IoError, ConnectRequest, Harness, Outcome, RawLink, ScenarioClient, StdioRaw,
    SubmitSpec, Tap, Target,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

fn convert(e: ClientError) -> IoError {
    match e {
        ClientError::Refused { code, message } | ClientError::JobFailed { code, message } => {
            code_error(&code, message)
        }
        other => IoError::Other(other.to_string()),
    }
}

struct BlockingHarness;

impl Harness for BlockingHarness {
    fn connect(
        &self,
        req: &ConnectRequest,
        tap: Arc<Tap>,
    ) -> Result<Box<dyn ScenarioClient>, IoError> {
        let builder = match &req.target {
            Target::WebSocket(url) => Client::builder(url.clone()),
            Target::Stdio(argv) => Client::stdio_builder(argv.clone()),
        };
        let mut builder = builder
            // One client is one transport (the scenarios retry a resume themselves).
            .resume_retry(ResumeRetry::never())
            .token(req.token.clone())
            .client_info(&req.client_name, &req.client_version)
            .features(req.features.clone())
            .connect_timeout(req.timeout)
            .frame_tap(tap_callback(tap));
        if let Some(r) = &req.resume {
            builder = builder.resume(resume_state(r));
        }
        Ok(Box::new(BlockingClient(
            builder.connect().map_err(convert)?,
        )))
    }

    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        let url = match target {
            Target::WebSocket(url) => url,
            Target::Stdio(argv) => return StdioRaw::open(argv, tap),
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
        outcome(self.0.done(job_id, timeout).map_err(convert)?)
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
