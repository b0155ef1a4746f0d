//! The WebSocket transport (async-tungstenite 0.35 = tungstenite 0.30, over futures-io on
//! `async_io::Async` sockets).
//!
//! As in arcp-tokio: the accept loop only accepts TCP connections; each handshake runs on the
//! connection's own task, bounded by a timeout. The frame cap is mirrored into
//! `max_message_size`/`max_frame_size`: an over-cap message is never buffered and the runtime
//! decides the outcome ([D35]: close 1009, no error frame). A text message that is not
//! UTF-8 is closed 1007 (no error frame, session resumable). A request for another path
//! than the served one is upgraded and closed 1008.
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::Spawner;
use super::driver::{ConnPorts, Input, Outbound, Wake};
use crate::ws_config;
use arcp_proto::runtime::{ConnId, TransportKind};
use async_channel::{Receiver, Sender};
use async_io::{Async, Timer};
use async_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use async_tungstenite::tungstenite::handshake::server::{Request, Response};
use async_tungstenite::tungstenite::protocol::frame::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Message, Utf8Bytes};
use futures_util::{FutureExt, SinkExt, StreamExt, select_biased};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What every WebSocket connection task needs.
pub(crate) struct WsOptions {
    pub(crate) path: String,
    pub(crate) max_frame_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) outbound_capacity: usize,
    pub(crate) conn_ids: AtomicU64,
    pub(crate) spawn: Spawner,
    /// Credentials may travel over its connections (loopback or vouched for; no TLS here).
    pub(crate) carries_credentials: bool,
}

/// Accepts TCP connections until `stop` fires or closes; each one gets its own task.
pub(crate) async fn accept_loop(
    listener: Async<TcpListener>,
    opts: Arc<WsOptions>,
    tx: Sender<Input>,
    stop: Receiver<()>,
) {
    loop {
        let accepted = select_biased! {
            _ = stop.recv().fuse() => return,
            r = listener.accept().fuse() => r,
        };
        match accepted {
            Ok((tcp, _)) => {
                let _ = tcp.get_ref().set_nodelay(true);
                (opts.spawn)(Box::pin(connection(tcp, opts.clone(), tx.clone())));
            }
            // Out of descriptors and the like: back off instead of spinning.
            Err(_) => {
                Timer::after(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn connection(tcp: Async<TcpStream>, opts: Arc<WsOptions>, tx: Sender<Input>) {
    let mut path = String::new();
    // The closure's type is fixed by tungstenite's `Callback` (a large `ErrorResponse`).
    #[allow(clippy::result_large_err)]
    let cb = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let handshake = async_tungstenite::accept_hdr_async_with_config(
        tcp,
        cb,
        Some(ws_config(opts.max_frame_bytes)),
    );
    let ws = select_biased! {
        r = handshake.fuse() => match r { Ok(ws) => ws, Err(_) => return },
        _ = FutureExt::fuse(Timer::after(opts.handshake_timeout)) => return,
    };
    let mut ws = ws;
    if path != opts.path {
        let frame = CloseFrame {
            code: CloseCode::Policy,
            reason: "unknown path".into(),
        };
        let _ = ws.close(Some(frame)).await;
        return;
    }
    let conn = ConnId(opts.conn_ids.fetch_add(1, Ordering::Relaxed));
    let (out_tx, out_rx) = async_channel::bounded(opts.outbound_capacity.max(1));
    let (kill_tx, kill_rx) = async_channel::bounded(1);
    let (wake, stalled) = Wake::new(conn, tx.clone());
    let opened = Input::Opened {
        conn,
        kind: TransportKind::WebSocket,
        carries_credentials: opts.carries_credentials,
        ports: ConnPorts {
            out: out_tx,
            kill: kill_tx,
            stalled,
        },
    };
    if tx.send(opened).await.is_err() {
        return;
    }
    let (sink, mut stream) = ws.split();
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    (opts.spawn)(Box::pin(write_loop(sink, out_rx, kill_rx, done_tx, wake)));
    loop {
        let msg = select_biased! {
            _ = done_rx.recv().fuse() => break,
            m = stream.next().fuse() => m,
        };
        let input = match msg {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(t))) => Input::Frame {
                conn,
                bytes: t.as_bytes().to_vec(),
            },
            Some(Ok(Message::Binary(b))) => Input::Frame {
                conn,
                bytes: b.to_vec(),
            },
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(e))) => {
                // D35: the runtime answers with CloseConnection(FrameTooLarge) → 1009.
                let len = match e {
                    CapacityError::MessageTooLong { size, .. } => size,
                    _ => opts.max_frame_bytes.saturating_add(1),
                };
                let _ = tx.send(Input::Oversized { conn, len }).await;
                // Wait (bounded) for the writer to send the close.
                select_biased! {
                    _ = done_rx.recv().fuse() => {},
                    _ = FutureExt::fuse(Timer::after(Duration::from_secs(5))) => {},
                }
                break;
            }
            Some(Err(WsError::Utf8(_))) => {
                // A text message that is not UTF-8: the runtime closes 1007.
                let _ = tx.send(Input::InvalidText { conn }).await;
                select_biased! {
                    _ = done_rx.recv().fuse() => {},
                    _ = FutureExt::fuse(Timer::after(Duration::from_secs(5))) => {},
                }
                break;
            }
            Some(Err(_)) => break,
        };
        if tx.send(input).await.is_err() {
            break;
        }
    }
    let _ = tx.send(Input::Closed { conn }).await;
}

/// Writes frames as they come (flushing whenever the queue runs empty), then the close.
async fn write_loop<S>(
    mut sink: S,
    out: Receiver<Outbound>,
    kill: Receiver<u16>,
    done: Sender<()>,
    wake: Wake,
) where
    S: futures_util::Sink<Message, Error = WsError> + Unpin,
{
    loop {
        let item = select_biased! {
            code = kill.recv().fuse() => match code {
                Ok(code) => Some(Outbound::Close(code)),
                // The driver forgot the connection: what is queued is still written.
                Err(_) => out.recv().await.ok(),
            },
            o = out.recv().fuse() => o.ok(),
        };
        wake.took().await;
        match item {
            None => {
                let _ = sink.close().await;
                break;
            }
            Some(Outbound::Frame(bytes)) => {
                // The core's bytes, shared, not copied; its JSON is always UTF-8.
                let Ok(text) = Utf8Bytes::try_from(bytes) else {
                    continue;
                };
                if sink.feed(Message::Text(text)).await.is_err() {
                    break;
                }
                if out.is_empty() && sink.flush().await.is_err() {
                    break;
                }
            }
            Some(Outbound::Close(code)) => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: "".into(),
                };
                let _ = sink.send(Message::Close(Some(frame))).await;
                let _ = sink.close().await;
                break;
            }
        }
    }
    let _ = done.try_send(());
}
