//! The WebSocket transport (tungstenite 0.30, synchronous API), two threads per connection.
//!
//! The accept thread only accepts TCP connections; each connection's handshake runs on its
//! own reader thread (bounded by the socket's read timeout), so an idle TCP connection never
//! blocks other accepts. After the handshake, the reader thread blocks in `read` and a writer
//! thread blocks on the connection's bounded queue: two tungstenite sessions over clones of
//! one socket, whose writes go through one lock ([`Shared`]), so the reader's automatic pongs
//! and close replies never interleave with a frame being written.
//!
//! The frame cap is mirrored into `max_message_size` and `max_frame_size`: an over-cap
//! message never gets buffered, and the runtime decides the outcome ([D35]: close 1009,
//! no error frame). A text message that is not UTF-8 is closed 1007 (no error frame, session
//! resumable). Close codes come from the runtime's `CloseReason`; a request for another path
//! than the served one is upgraded and closed 1008.
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::driver::{ConnPorts, Input, Outbound, Wake};
use crate::socket::Shared;
use arcp_proto::runtime::{ConnId, TransportKind};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;
use tungstenite::error::{CapacityError, Error as WsError};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes, WebSocket};

/// What every connection needs.
#[derive(Debug)]
pub(crate) struct WsOptions {
    pub(crate) path: String,
    pub(crate) max_frame_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) outbound_capacity: usize,
    pub(crate) conn_ids: AtomicU64,
    /// Credentials may travel over its connections (loopback or vouched for; no TLS here).
    pub(crate) carries_credentials: bool,
}

/// The WebSocket config for a frame cap of `max` bytes.
pub(crate) fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Accepts TCP connections until `stop` is set (and the listener is poked awake).
pub(crate) fn accept_loop(
    listener: TcpListener,
    opts: Arc<WsOptions>,
    tx: SyncSender<Input>,
    stop: Arc<AtomicBool>,
) {
    for tcp in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match tcp {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let (opts, tx) = (opts.clone(), tx.clone());
                let _ = std::thread::Builder::new()
                    .name("arcp-ws-read".into())
                    .spawn(move || connection(tcp, &opts, &tx));
            }
            // Out of descriptors and the like: back off instead of spinning.
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn connection(tcp: TcpStream, opts: &WsOptions, tx: &SyncSender<Input>) {
    let Ok(shared) = Shared::new(&tcp) else {
        return;
    };
    let _ = tcp.set_read_timeout(Some(opts.handshake_timeout.max(Duration::from_millis(1))));
    let mut path = String::new();
    // The closure's type is fixed by tungstenite's `Callback` (a large `ErrorResponse`).
    #[allow(clippy::result_large_err)]
    let cb = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let cfg = ws_config(opts.max_frame_bytes);
    let Ok(mut ws) = tungstenite::accept_hdr_with_config(shared, cb, Some(cfg)) else {
        return;
    };
    if path != opts.path {
        let _ = ws.close(Some(CloseFrame {
            code: CloseCode::Policy,
            reason: "unknown path".into(),
        }));
        let _ = ws.flush();
        return;
    }
    let _ = tcp.set_read_timeout(None);
    let Ok(twin) = ws.get_ref().twin() else {
        return;
    };
    let writer = WebSocket::from_raw_socket(twin, Role::Server, Some(cfg));
    let conn = ConnId(opts.conn_ids.fetch_add(1, Ordering::Relaxed));
    let (out_tx, out_rx) = sync_channel(opts.outbound_capacity.max(1));
    let Ok(ports_tcp) = tcp.try_clone() else {
        return;
    };
    let (wake, stalled) = Wake::new(conn, tx.clone());
    let ports = ConnPorts {
        out: out_tx,
        tcp: Some(ports_tcp),
        stalled,
    };
    let kind = TransportKind::WebSocket;
    let opened = Input::Opened {
        conn,
        kind,
        carries_credentials: opts.carries_credentials,
        ports,
    };
    if tx.send(opened).is_err() {
        return;
    }
    let wtcp = tcp.try_clone().ok();
    let spawned = std::thread::Builder::new()
        .name("arcp-ws-write".into())
        .spawn(move || write_loop(writer, out_rx, wtcp, &wake));
    if spawned.is_err() {
        let _ = tx.send(Input::Closed { conn });
        return;
    }
    loop {
        let input = match ws.read() {
            Ok(Message::Text(t)) => Input::Frame {
                conn,
                bytes: t.as_bytes().to_vec(),
            },
            Ok(Message::Binary(b)) => Input::Frame {
                conn,
                bytes: b.to_vec(),
            },
            Ok(Message::Close(_)) => {
                // Sends the queued close reply.
                let _ = ws.flush();
                break;
            }
            Ok(_) => continue,
            Err(WsError::Capacity(e)) => {
                // D35: the runtime answers with CloseConnection(FrameTooLarge) → 1009.
                let len = match e {
                    CapacityError::MessageTooLong { size, .. } => size,
                    _ => opts.max_frame_bytes.saturating_add(1),
                };
                let _ = tx.send(Input::Oversized { conn, len });
                // Give the writer a bounded moment to send the close before reporting.
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                while ws.read().is_ok() {}
                break;
            }
            Err(WsError::Utf8(_)) => {
                // A text message that is not UTF-8: the runtime closes 1007.
                let _ = tx.send(Input::InvalidText { conn });
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                while ws.read().is_ok() {}
                break;
            }
            Err(_) => break,
        };
        if tx.send(input).is_err() {
            break;
        }
    }
    let _ = tx.send(Input::Closed { conn });
}

/// Writes frames as they come (flushing whenever the queue runs empty), then the close.
fn write_loop(
    mut ws: WebSocket<Shared>,
    out: Receiver<Outbound>,
    tcp: Option<TcpStream>,
    wake: &Wake,
) {
    let mut next = out.recv();
    loop {
        wake.took();
        match next {
            Err(_) => break,
            Ok(Outbound::Frame(bytes)) => {
                // The core's bytes, shared, not copied; its JSON is always UTF-8.
                if let Ok(text) = Utf8Bytes::try_from(bytes)
                    && ws.write(Message::Text(text)).is_err()
                {
                    break;
                }
                next = match out.try_recv() {
                    Ok(o) => Ok(o),
                    Err(_) => {
                        if ws.flush().is_err() {
                            break;
                        }
                        out.recv()
                    }
                };
            }
            Ok(Outbound::Close(code)) => {
                let _ = ws.close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: "".into(),
                }));
                let _ = ws.flush();
                // The reader waits (bounded) for the peer's close reply, then ends.
                if let Some(t) = &tcp {
                    let _ = t.set_read_timeout(Some(Duration::from_secs(2)));
                }
                return;
            }
        }
    }
    if let Some(t) = tcp {
        let _ = t.shutdown(Shutdown::Both);
    }
}
