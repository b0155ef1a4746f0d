//! The arcp-futures implementation of `arcp_interop::Harness` (shared by
//! `examples/interop.rs` and the tests): the scenario client is arcp-interop's, over
//! arcp-futures' `Client`, each call blocking the scenario's thread with `async_io::block_on`
//! bounded by an `async_io::Timer`; the client's driver and the raw links run on smol's
//! global executor. WebSocket and stdio targets.
#![allow(dead_code)]

use arcp_futures::client::FuturesLink;
use arcp_interop::adapt::RAW_QUEUE;
use arcp_interop::{BlockOn, ClientHarness, QueuedRaw, RawLink, RawOut, Tap};
use async_tungstenite::tungstenite::Message as WsMessage;
use futures_util::{FutureExt, SinkExt, StreamExt, select_biased};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs a future with `async_io::block_on` from the scenario's thread, bounded.
#[derive(Clone)]
pub struct FuturesBlock;

impl BlockOn for FuturesBlock {
    fn block_on<F>(&self, limit: Duration, f: F) -> Option<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        async_io::block_on(with_timeout(limit, f))
    }
}

/// Opens arcp-futures clients (arcp-interop's scenario client over arcp-futures' `Client`)
/// and raw WebSocket connections for the scenarios.
pub type FuturesHarness = ClientHarness<FuturesLink, FuturesBlock, RawWs>;

/// Opens a bare WebSocket on smol.
pub type RawWs = fn(&FuturesBlock, &str, Arc<Tap>) -> Result<Arc<dyn RawLink>, String>;

/// The harness.
pub fn harness() -> FuturesHarness {
    ClientHarness::new(FuturesBlock, open_raw_ws)
}

fn open_raw_ws(block: &FuturesBlock, url: &str, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
    let ws = block
        .block_on(
            Duration::from_secs(5),
            arcp_futures::client::open_ws(url, usize::MAX >> 1),
        )
        .ok_or("timed out")?
        .map_err(|e| e.to_string())?;
    let (tx, rx) = async_channel::bounded(RAW_QUEUE);
    smol::spawn(raw_ws(ws, rx, Arc::clone(&tap))).detach();
    let send = move |o: RawOut| tx.try_send(o).map_err(|e| e.to_string());
    Ok(Arc::new(QueuedRaw::new(send, tap)))
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
