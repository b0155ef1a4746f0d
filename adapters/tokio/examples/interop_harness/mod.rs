//! The tokio implementation of `arcp_interop::Harness` (shared by `examples/interop.rs` and
//! `tests/interop_serve.rs`): every call blocks the scenario's thread on the runtime's
//! handle, bounded by a timeout.
#![allow(dead_code)]

use arcp_interop::adapt::{
    CALL_TIMEOUT, RAW_QUEUE, code_error, outcome, resume_state, submit_request, tap_callback,
};
use arcp_interop::{
    ClientError as IoError, ConnectRequest, Harness, Outcome, QueuedRaw, RawLink, RawOut,
    ScenarioClient, StdioRaw, SubmitSpec, Tap, Target,
};
use arcp_tokio::client::{Client, ClientError, JobHandle, ListJobsRequest, ResumeRetry};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn block_on<T>(
    rt: &Handle,
    limit: Duration,
    f: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, IoError> {
    // The timer must be created inside the runtime's context.
    match rt.block_on(async move { tokio::time::timeout(limit, f).await }) {
        Ok(r) => r.map_err(convert),
        Err(_) => Err(IoError::Other(format!(
            "timed out after {}s",
            limit.as_secs_f64()
        ))),
    }
}

fn convert(e: ClientError) -> IoError {
    match e {
        ClientError::Refused { code, message, .. }
        | ClientError::JobFailed { code, message, .. } => code_error(&code, message),
        other => IoError::Other(other.to_string()),
    }
}

/// Opens tokio clients and raw connections for the scenarios.
pub struct TokioHarness {
    /// The runtime every client runs on.
    pub rt: Runtime,
}

impl TokioHarness {
    /// A harness on a fresh two-thread runtime.
    pub fn new() -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        Ok(TokioHarness { rt })
    }
}

impl Harness for TokioHarness {
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
            .token(req.token.clone())
            .client_info(req.client_name.clone(), req.client_version.clone())
            .features(req.features.clone())
            .auto_resume(false)
            // One client is one transport (the scenarios retry a resume themselves).
            .resume_retry(ResumeRetry::never())
            // Handles are kept unread until `done` (the scenarios read the tap): room for
            // every event of the contract agents, so the client never stops reading.
            .event_capacity(4096)
            .frame_tap(tap_callback(tap));
        if let Some(r) = &req.resume {
            builder = builder.resume(resume_state(r));
        }
        let rt = self.rt.handle().clone();
        let client = block_on(&rt, req.timeout, builder.connect())?;
        Ok(Box::new(TokioClient {
            client,
            rt,
            handles: Mutex::new(HashMap::new()),
        }))
    }

    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        let url = match target {
            Target::WebSocket(url) => url,
            Target::Stdio(argv) => return StdioRaw::open(argv, tap),
        };
        let rt = self.rt.handle();
        let connect = tokio_tungstenite::connect_async(url.as_str());
        let (ws, _) = rt
            .block_on(async move { tokio::time::timeout(Duration::from_secs(5), connect).await })
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel(RAW_QUEUE);
        rt.spawn(raw_ws(ws, rx, Arc::clone(&tap)));
        let send = move |o: RawOut| tx.try_send(o).map_err(|e| e.to_string());
        Ok(Arc::new(QueuedRaw::new(send, tap)))
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_ws(ws: Ws, mut rx: mpsc::Receiver<RawOut>, tap: Arc<Tap>) {
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(RawOut::Text(t)) => {
                    if sink.send(WsMessage::text(t)).await.is_err() {
                        tap.closed("send failed");
                        return;
                    }
                }
                Some(RawOut::Close) | None => {
                    let _ = tokio::time::timeout(Duration::from_secs(3), sink.close()).await;
                    // Wait for the peer's close so the tap sees the end.
                    let _ = tokio::time::timeout(Duration::from_secs(3), async {
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
                Some(RawOut::Abort) => {
                    tap.closed("aborted");
                    return;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(WsMessage::Text(t))) => tap.r2c(t.as_str()),
                Some(Ok(WsMessage::Binary(b))) => tap.r2c(&String::from_utf8_lossy(&b)),
                Some(Ok(WsMessage::Close(f))) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                    tap.closed(&format!("closed by the runtime: {f:?}"));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tap.closed(&format!("reader error: {e}"));
                    return;
                }
                None => {
                    tap.closed("connection ended");
                    return;
                }
            },
        }
    }
}

struct TokioClient {
    client: Client,
    rt: Handle,
    handles: Mutex<HashMap<String, JobHandle>>,
}

impl TokioClient {
    fn keep(&self, h: JobHandle) {
        if let Ok(mut m) = self.handles.lock() {
            m.insert(h.job_id().to_owned(), h);
        }
    }
}

impl ScenarioClient for TokioClient {
    fn negotiated_features(&self) -> Vec<String> {
        self.client.features()
    }

    fn submit(&self, spec: &SubmitSpec) -> Result<String, IoError> {
        let req = submit_request(spec)?;
        let h = block_on(&self.rt, CALL_TIMEOUT, self.client.submit(req))?;
        let id = h.job_id().to_owned();
        self.keep(h);
        Ok(id)
    }

    fn done(&self, job_id: &str, timeout: Duration) -> Result<Outcome, IoError> {
        let h = self.handles.lock().ok().and_then(|mut m| m.remove(job_id));
        let Some(h) = h else {
            return Err(IoError::Other(format!("no handle for {job_id}")));
        };
        outcome(block_on(&self.rt, timeout, h.done())?)
    }

    fn cancel(&self, job_id: &str, reason: &str) -> Result<(), IoError> {
        block_on(
            &self.rt,
            CALL_TIMEOUT,
            self.client.cancel_with_reason(job_id, reason),
        )
    }

    fn list_jobs(&self, payload: &Value) -> Result<Value, IoError> {
        let req: ListJobsRequest = serde_json::from_value(payload.clone())
            .map_err(|e| IoError::Other(format!("invalid list_jobs payload: {e}")))?;
        let jobs = block_on(&self.rt, CALL_TIMEOUT, self.client.list_jobs(req))?;
        serde_json::to_value(jobs).map_err(|e| IoError::Other(e.to_string()))
    }

    fn subscribe(
        &self,
        job_id: &str,
        history: bool,
        from_event_seq: Option<u64>,
    ) -> Result<(), IoError> {
        let sub = block_on(
            &self.rt,
            CALL_TIMEOUT,
            self.client.subscribe(job_id, history, from_event_seq),
        )?;
        self.keep(sub.handle);
        Ok(())
    }

    fn unsubscribe(&self, job_id: &str) -> Result<(), IoError> {
        block_on(&self.rt, CALL_TIMEOUT, self.client.unsubscribe(job_id))
    }

    fn ack(&self, last_processed_seq: u64) -> Result<(), IoError> {
        block_on(&self.rt, CALL_TIMEOUT, self.client.ack(last_processed_seq))
    }

    fn ping(&self) -> Result<Duration, IoError> {
        block_on(&self.rt, CALL_TIMEOUT, self.client.ping())
    }

    fn send_raw(&self, text: &str) -> Result<(), IoError> {
        block_on(
            &self.rt,
            CALL_TIMEOUT,
            self.client.send_raw(text.as_bytes().to_vec()),
        )
    }

    fn drop_transport(&self) {
        let _ = block_on(&self.rt, CALL_TIMEOUT, self.client.drop_transport());
    }

    fn close(&self) -> Result<(), IoError> {
        if let Ok(mut m) = self.handles.lock() {
            m.clear();
        }
        block_on(&self.rt, Duration::from_secs(5), self.client.close())
    }
}
