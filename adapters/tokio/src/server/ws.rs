//! The WebSocket transport (tokio-tungstenite 0.30).
//!
//! The accept loop only accepts TCP connections; each WebSocket handshake runs on the
//! connection's own task (bounded by a timeout), so an idle TCP connection never blocks other
//! accepts. The frame cap is mirrored into `WebSocketConfig::max_message_size` and
//! `max_frame_size`: an over-cap message never gets buffered, and the runtime decides the
//! outcome ([D35]: close 1009, no error frame). A text message that is not UTF-8 is a
//! transport error too: close 1007, no error frame, session resumable. Close codes come from
//! the runtime's `CloseReason` (1000 normally, 1009 over the cap, 1007 not UTF-8, 1008 slow
//! consumer or no hello in time); a request for another path than the served one is upgraded
//! and closed 1008. Once the server drains, every upgrade is refused 503. An upgrade from a
//! browser origin that is not allowed is refused 403 (see
//! the HTTP front, `http.rs`, which serves the connections instead when the port also serves
//! the dashboard or `/metrics`).
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::driver::{ConnPorts, Input, Outbound, Wake};
use arcp_proto::runtime::{ConnId, TransportKind};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// What every WebSocket connection task needs.
pub(crate) struct WsOptions {
    pub(crate) path: String,
    pub(crate) max_frame_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) outbound_capacity: usize,
    pub(crate) conn_ids: Arc<AtomicU64>,
    /// `wss://`: the TLS handshake runs first, under the same `handshake_timeout`.
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    /// Credentials may travel over its connections (TLS, loopback or vouched for).
    pub(crate) carries_credentials: bool,
    /// Which browser origins may upgrade.
    pub(crate) origins: super::http::OriginPolicy,
    /// The server drains ([`super::ServerHandle::drain`]): upgrades are refused 503.
    pub(crate) draining: Arc<AtomicBool>,
    /// Plain HTTP on this port too (dashboard, metrics): connections go through hyper.
    pub(crate) http: Option<Arc<super::http::HttpFront>>,
}

/// Accepts TCP connections until `stop` turns true; each one gets its own task.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    opts: Arc<WsOptions>,
    tx: mpsc::Sender<Input>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(connection(tcp, opts.clone(), tx.clone()));
                }
                // Out of descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

/// Bytes tungstenite reads per `read` call (a larger message grows the buffer as needed).
/// Every idle session keeps this much: inbound frames are small (a hello, a submit).
const READ_BUFFER_BYTES: usize = 1024;

/// The WebSocket config for a frame cap of `max` bytes.
pub(crate) fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        // tungstenite zero-fills its whole read buffer on every read: the 128 KiB default
        // made each idle session cost ~130 KiB of RSS; inbound frames are small (arcp bench).
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

async fn connection(tcp: TcpStream, opts: Arc<WsOptions>, tx: mpsc::Sender<Input>) {
    match opts.tls.clone() {
        Some(acceptor) => {
            // One deadline for both handshakes: what TLS used is taken from the upgrade's.
            let deadline = tokio::time::Instant::now() + opts.handshake_timeout;
            // Boxed: rustls' handshake state would otherwise size every connection's task,
            // plain ones included, for its whole life.
            let accept = Box::pin(acceptor.accept(tcp));
            let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, accept).await else {
                return;
            };
            // Boxed: a TLS stream's state (rustls' connection, its buffers) would otherwise
            // size every connection task's future, plain ones included (~9 KB per idle
            // session, measured with `arcp bench`).
            match opts.http.clone() {
                Some(front) => {
                    Box::pin(super::http::serve(stream, opts, front, tx, deadline)).await
                }
                None => Box::pin(upgrade(stream, opts, tx, deadline)).await,
            }
        }
        None => {
            let deadline = tokio::time::Instant::now() + opts.handshake_timeout;
            match opts.http.clone() {
                // Boxed for the same reason: hyper's connection state would size every
                // plain WebSocket connection's task.
                Some(front) => Box::pin(super::http::serve(tcp, opts, front, tx, deadline)).await,
                None => upgrade(tcp, opts, tx, deadline).await,
            }
        }
    }
}

async fn upgrade<S>(
    stream: S,
    opts: Arc<WsOptions>,
    tx: mpsc::Sender<Input>,
    deadline: tokio::time::Instant,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut path = String::new();
    // The closure's type is fixed by tungstenite's `Callback` (a large `ErrorResponse`).
    #[allow(clippy::result_large_err)]
    let cb = |req: &Request, resp: Response| {
        if opts.draining.load(Ordering::SeqCst) {
            let mut refused = ErrorResponse::new(Some(super::http::DRAINING.to_owned()));
            *refused.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Err(refused);
        }
        if !opts.origins.allows(req.headers()) {
            let mut refused = ErrorResponse::new(Some(super::http::FORBIDDEN.to_owned()));
            *refused.status_mut() = StatusCode::FORBIDDEN;
            return Err(refused);
        }
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    // Boxed: the handshake's state (tungstenite's machine, its config, an error response)
    // would otherwise size the connection's task for the session's whole life.
    let handshake = Box::pin(tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        cb,
        Some(ws_config(opts.max_frame_bytes)),
    ));
    let Ok(Ok(mut ws)) = tokio::time::timeout_at(deadline, handshake).await else {
        return;
    };
    if path != opts.path {
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::Policy,
                reason: "unknown path".into(),
            }))
            .await;
        return;
    }
    session(ws, &opts, tx).await;
}

/// Runs one WebSocket connection whose handshake is done (here or by an HTTP server that
/// handed over the upgraded IO), until it closes.
///
/// A plain function returning the reader's future: the stream is split and the writer task
/// spawned here, before any wait, so the reader's future (which an idle session keeps for its
/// whole life) holds neither the WebSocket stream nor an [`Input`] across a wait. (Held across
/// the first send, they made it ~1.4 KB; see README "Issue #22".)
pub(crate) fn session<'a, S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    opts: &'a WsOptions,
    tx: mpsc::Sender<Input>,
) -> impl std::future::Future<Output = ()> + Send + 'a
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = ConnId(opts.conn_ids.fetch_add(1, Ordering::Relaxed));
    let (out_tx, out_rx) = mpsc::channel(opts.outbound_capacity.max(1));
    let (kill_tx, kill_rx) = oneshot::channel();
    let (wake, stalled) = Wake::new(conn, tx.clone());
    let ports = ConnPorts {
        out: out_tx,
        kill: kill_tx,
        stalled,
    };
    let (sink, stream) = ws.split();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    // Writes nothing until the driver, told of the connection below, queues its frames; if
    // the driver is gone, `ports` is dropped with the send and the writer closes at once.
    tokio::spawn(write_loop(sink, out_rx, kill_rx, done_tx, wake));
    let carries_credentials = opts.carries_credentials;
    async move {
        let Ok(permit) = tx.reserve().await else {
            return;
        };
        permit.send(Input::Opened {
            conn,
            kind: TransportKind::WebSocket,
            carries_credentials,
            ports,
        });
        read_loop(stream, done_rx, conn, opts, tx).await;
    }
}

/// Feeds the connection's messages to the driver until it closes or the writer ends.
async fn read_loop<S>(
    mut stream: futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<S>>,
    mut done_rx: oneshot::Receiver<()>,
    conn: ConnId,
    opts: &WsOptions,
    tx: mpsc::Sender<Input>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    loop {
        let msg = tokio::select! {
            biased;
            _ = &mut done_rx => break,
            m = stream.next() => m,
        };
        let bytes = match msg {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(e))) => {
                // D35: the runtime answers with CloseConnection(FrameTooLarge) → 1009.
                let len = match e {
                    tokio_tungstenite::tungstenite::error::CapacityError::MessageTooLong {
                        size,
                        ..
                    } => size,
                    _ => opts.max_frame_bytes.saturating_add(1),
                };
                // Boxed, as below: the rare path's futures would size every reader.
                Box::pin(close_after(
                    &tx,
                    Input::Oversized { conn, len },
                    &mut done_rx,
                ))
                .await;
                break;
            }
            Some(Err(WsError::Utf8(_))) => {
                // A text message that is not UTF-8: the runtime closes 1007.
                Box::pin(close_after(&tx, Input::InvalidText { conn }, &mut done_rx)).await;
                break;
            }
            Some(Err(_)) => break,
        };
        // The bytes wait for room, not an `Input`: it is built once the queue has room.
        let Ok(permit) = tx.reserve().await else {
            break;
        };
        permit.send(Input::Frame { conn, bytes });
    }
    if let Ok(permit) = tx.reserve().await {
        permit.send(Input::Closed { conn });
    }
}

/// Tells the driver `input` (a transport error it closes the connection for), then waits
/// (bounded) for the writer to send the close.
async fn close_after(tx: &mpsc::Sender<Input>, input: Input, done_rx: &mut oneshot::Receiver<()>) {
    let _ = tx.send(input).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
}

/// The most frames a streaming writer buffers before it writes them out.
const MAX_UNFLUSHED: usize = 64;

/// Writes frames as they come (flushing whenever the queue runs empty), then the close.
async fn write_loop<S>(
    mut sink: S,
    mut out: mpsc::Receiver<Outbound>,
    kill: oneshot::Receiver<u16>,
    done: oneshot::Sender<()>,
    wake: Wake,
) where
    S: futures_util::Sink<Message, Error = WsError> + Unpin,
{
    let mut kill = Some(kill);
    // Frames fed since the last flush, and how many the last flush wrote.
    let mut unflushed = 0usize;
    let mut last_flush = 0usize;
    loop {
        // A stream's frames are usually queued already: taken without a wait.
        let item = match ready(&mut kill, &mut out) {
            Some(item) => item,
            None => tokio::select! {
                biased;
                Some(code) = killed(&mut kill) => Some(Outbound::Close(code)),
                o = out.recv() => o,
            },
        };
        wake.took(out.len(), out.max_capacity()).await;
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
                unflushed += 1;
                // Streaming (several frames in this write, or more than a pair in the last):
                // let the producers run once before paying for a write, since the next frames
                // are usually queued by then and go out in the same write. A lone frame (a
                // reply, an `accepted`) goes out at once, and a stream at least every
                // `MAX_UNFLUSHED` frames. A pair is no stream: a short job's `accepted` and
                // result often share a write, and counting that as streaming made every next
                // `accepted` wait for its job's run (the producers' turn) before being written.
                let due = if !out.is_empty() {
                    false
                } else if unflushed > 1 || last_flush > 2 {
                    tokio::task::yield_now().await;
                    out.is_empty()
                } else {
                    true
                };
                if due || unflushed >= MAX_UNFLUSHED {
                    if sink.flush().await.is_err() {
                        break;
                    }
                    last_flush = std::mem::take(&mut unflushed);
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
    let _ = done.send(());
}

/// The writer's next item when there is one without waiting (`Some(None)`: the queue is
/// closed and empty): a kill first, as in the wait.
fn ready(
    kill: &mut Option<oneshot::Receiver<u16>>,
    out: &mut mpsc::Receiver<Outbound>,
) -> Option<Option<Outbound>> {
    if let Some(k) = kill {
        match k.try_recv() {
            Ok(code) => {
                *kill = None;
                return Some(Some(Outbound::Close(code)));
            }
            Err(oneshot::error::TryRecvError::Closed) => *kill = None,
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
    }
    match out.try_recv() {
        Ok(item) => Some(Some(item)),
        Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
        Err(mpsc::error::TryRecvError::Empty) => None,
    }
}

/// Resolves with the kill code once; pending forever after (or when never killed).
async fn killed(k: &mut Option<oneshot::Receiver<u16>>) -> Option<u16> {
    match k {
        Some(rx) => {
            let r = rx.await.ok();
            *k = None;
            r
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle session keeps its connection task for its whole life: the task's future must
    /// not carry the TLS handshake's state, the WebSocket stream or an `Input` across a wait
    /// (it was 1,616 bytes with them; README "Issue #22" has the per-session heap).
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let opts = Arc::new(WsOptions {
            path: "/arcp".into(),
            max_frame_bytes: 1024,
            handshake_timeout: Duration::from_secs(1),
            outbound_capacity: 8,
            conn_ids: Arc::new(AtomicU64::new(0)),
            tls: None,
            carries_credentials: true,
            origins: super::super::http::OriginPolicy::new(false, &[]),
            draining: Arc::new(AtomicBool::new(false)),
            http: None,
        });
        let (tx, _rx) = mpsc::channel(1);
        let task = connection(tcp, opts, tx);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 768, "a connection task's future is {size} bytes");
        drop((task, client));
    }
}
