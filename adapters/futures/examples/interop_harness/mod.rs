//! The arcp-futures implementation of `arcp_interop::Harness` (shared by
//! `examples/interop.rs` and the tests): every call blocks the scenario's thread with
//! `async_io::block_on`, bounded by an `async_io::Timer`; the client's driver and the raw
//! links run on smol's global executor. WebSocket and stdio targets.
#![allow(dead_code)]

use arcp_futures::client::{Client, ClientError, JobHandle, ListJobsRequest, ResumeRetry};
use arcp_interop::adapt::{
    CALL_TIMEOUT, RAW_QUEUE, code_error, outcome, resume_state, submit_request, tap_callback,
};
use arcp_interop::{
    ClientError as IoError, ConnectRequest, Harness, Outcome, QueuedRaw, RawLink, RawOut,
    ScenarioClient, StdioRaw, SubmitSpec, Tap, Target,
};
use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::{FutureExt, SinkExt, StreamExt, select_biased};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
            code_error(&code, message)
        }
        other => IoError::Other(other.to_string()),
    }
}

/// Opens arcp-futures clients and raw WebSocket connections for the scenarios.
pub struct FuturesHarness;

impl Harness for FuturesHarness {
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
            .client_info(req.client_name.clone(), req.client_version.clone())
            .features(req.features.clone())
            // Handles are kept unread until `done` (the scenarios read the tap): room for
            // every event of the contract agents, so the client never stops reading.
            .event_capacity(4096)
            .frame_tap(tap_callback(tap));
        if let Some(r) = &req.resume {
            builder = builder.resume(resume_state(r));
        }
        let client = block_on(req.timeout, builder.connect(spawn))?;
        Ok(Box::new(FuturesClient {
            client,
            handles: Mutex::new(HashMap::new()),
        }))
    }

    fn open_raw(&self, target: &Target, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
        let url = match target {
            Target::WebSocket(url) => url,
            Target::Stdio(argv) => return StdioRaw::open(argv, tap),
        };
        let ws = block_on(
            Duration::from_secs(5),
            arcp_futures::client::open_ws(url, usize::MAX >> 1),
        )
        .map_err(|e| e.to_string())?;
        let (tx, rx) = async_channel::bounded(RAW_QUEUE);
        smol::spawn(raw_ws(ws, rx, Arc::clone(&tap))).detach();
        let send = move |o: RawOut| tx.try_send(o).map_err(|e| e.to_string());
        Ok(Arc::new(QueuedRaw::new(send, tap)))
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
        outcome(block_on(timeout, h.done())?)
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
