//! The tokio implementation of `arcp_interop::Harness` (shared by `examples/interop.rs` and
//! `tests/interop_serve.rs`): the scenario client is arcp-interop's, over arcp-tokio's
//! `Client`, each call blocking the scenario's thread on the runtime's handle; only the raw
//! WebSocket link is tokio code.
#![allow(dead_code)]

use arcp_interop::adapt::RAW_QUEUE;
use arcp_interop::{BlockOn, ClientHarness, QueuedRaw, RawLink, RawOut, Tap};
use arcp_tokio::client::TokioLink;
use futures_util::{SinkExt, StreamExt};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Runs a future on the runtime from the scenario's thread, bounded.
#[derive(Clone)]
pub struct TokioBlock(Arc<Runtime>);

impl BlockOn for TokioBlock {
    fn block_on<F>(&self, limit: Duration, f: F) -> Option<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        // The timer must be created inside the runtime's context.
        self.0
            .block_on(async move { tokio::time::timeout(limit, f).await })
            .ok()
    }
}

/// Opens tokio clients (arcp-interop's scenario client over arcp-tokio's `Client`) and raw
/// connections for the scenarios.
pub type TokioHarness = ClientHarness<TokioLink, TokioBlock, RawWs>;

/// Opens a bare WebSocket on the runtime.
pub type RawWs = fn(&TokioBlock, &str, Arc<Tap>) -> Result<Arc<dyn RawLink>, String>;

/// A harness on a fresh two-thread runtime (also returned, to run a server on).
pub fn harness() -> std::io::Result<(Arc<Runtime>, TokioHarness)> {
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
    );
    let h = ClientHarness::new(TokioBlock(Arc::clone(&rt)), open_raw_ws as RawWs);
    Ok((rt, h))
}

fn open_raw_ws(block: &TokioBlock, url: &str, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
    let rt = block.0.handle();
    let connect = tokio_tungstenite::connect_async(url);
    let (ws, _) = rt
        .block_on(async move { tokio::time::timeout(Duration::from_secs(5), connect).await })
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (tx, rx) = mpsc::channel(RAW_QUEUE);
    rt.spawn(raw_ws(ws, rx, Arc::clone(&tap)));
    let send = move |o: RawOut| tx.try_send(o).map_err(|e| e.to_string());
    Ok(Arc::new(QueuedRaw::new(send, tap)))
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
