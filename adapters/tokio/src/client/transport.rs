//! The client's transports: WebSocket (tokio-tungstenite 0.30) and stdio to a child process
//! (NDJSON over its stdin/stdout, framed by [`LineFramer`]).
//!
//! A transport moves whole envelopes as bytes; every protocol decision stays in the core.
//! `recv` is cancel-safe, so the driver can `select!` on it.

use arcp_client::{ClientError, Inbound, Target};
use arcp_proto::wire::LineFramer;
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// How long opening a transport (TCP + WebSocket upgrade) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close may take before the transport is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Bytes read from a child's stdout per read call.
const READ_CHUNK: usize = 64 * 1024;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One open transport.
pub(crate) enum Transport {
    WebSocket(Box<Ws>),
    Stdio(Box<StdioLink>),
}

/// A line-framed byte stream pair: a child's stdin/stdout, or an in-memory pipe.
pub(crate) struct StdioLink {
    /// The child process (`None` for an in-memory pipe).
    child: Option<Child>,
    stdin: Box<dyn AsyncWrite + Send + Unpin>,
    stdout: Box<dyn AsyncRead + Send + Unpin>,
    framer: LineFramer,
    /// Complete lines read but not yet returned (at most one read's worth).
    lines: VecDeque<Result<Vec<u8>, ()>>,
    buf: Vec<u8>,
}

impl Transport {
    /// Opens a transport to `target`; inbound frames are capped at `max_frame_bytes`.
    /// `wss://` URLs are verified with `tls` (a `ws://` URL ignores it).
    pub(crate) async fn open(
        target: &Target,
        max_frame_bytes: usize,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Self, ClientError> {
        match target {
            Target::WebSocket(url) => {
                // The frame cap is mirrored into the WebSocket config (D35): tungstenite then
                // refuses a larger message itself.
                let config = WebSocketConfig::default()
                    .max_message_size(Some(max_frame_bytes))
                    .max_frame_size(Some(max_frame_bytes));
                let connector = match tls {
                    Some(cfg) => Connector::Rustls(cfg.clone()),
                    None => Connector::Plain,
                };
                let connect = tokio_tungstenite::connect_async_tls_with_config(
                    url.as_str(),
                    Some(config),
                    true,
                    Some(connector),
                );
                match tokio::time::timeout(OPEN_TIMEOUT, connect).await {
                    Ok(Ok((ws, _response))) => Ok(Transport::WebSocket(Box::new(ws))),
                    Ok(Err(e)) => Err(ClientError::transport_from(
                        format!("cannot connect to {url}: {e}"),
                        e,
                    )),
                    Err(_) => Err(ClientError::transport(format!(
                        "cannot connect to {url}: timed out"
                    ))),
                }
            }
            Target::Stdio(argv) => {
                let Some((program, args)) = argv.split_first() else {
                    return Err(ClientError::transport("empty stdio command"));
                };
                let mut child = Command::new(program)
                    .args(args)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(|e| {
                        let what = format!("cannot spawn {}: {e}", program.to_string_lossy());
                        ClientError::transport_from(what, e)
                    })?;
                let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
                    return Err(ClientError::transport("child has no stdin/stdout"));
                };
                Ok(Transport::Stdio(Box::new(StdioLink {
                    child: Some(child),
                    stdin: Box::new(stdin),
                    stdout: Box::new(stdout),
                    framer: LineFramer::new(max_frame_bytes),
                    lines: VecDeque::new(),
                    buf: vec![0; READ_CHUNK],
                })))
            }
        }
    }

    /// The client end of an in-memory pipe whose other end a server serves (one envelope
    /// per line, as over stdio).
    pub(crate) fn memory(stream: DuplexStream, max_frame_bytes: usize) -> Self {
        let (read, write) = tokio::io::split(stream);
        Transport::Stdio(Box::new(StdioLink {
            child: None,
            stdin: Box::new(write),
            stdout: Box::new(read),
            framer: LineFramer::new(max_frame_bytes),
            lines: VecDeque::new(),
            buf: vec![0; READ_CHUNK],
        }))
    }

    /// Sends one encoded envelope.
    pub(crate) async fn send(&mut self, frame: Vec<u8>) -> Result<(), String> {
        match self {
            Transport::WebSocket(ws) => {
                let text = String::from_utf8(frame).map_err(|e| e.to_string())?;
                ws.send(WsMessage::text(text))
                    .await
                    .map_err(|e| e.to_string())
            }
            Transport::Stdio(link) => {
                let mut line = frame;
                line.push(b'\n');
                link.stdin
                    .write_all(&line)
                    .await
                    .map_err(|e| e.to_string())?;
                link.stdin.flush().await.map_err(|e| e.to_string())
            }
        }
    }

    /// The next inbound envelope. Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Inbound {
        match self {
            Transport::WebSocket(ws) => loop {
                match ws.next().await {
                    None => return Inbound::Closed("connection closed".into()),
                    Some(Ok(WsMessage::Text(t))) => return Inbound::Frame(t.as_bytes().to_vec()),
                    Some(Ok(WsMessage::Binary(b))) => return Inbound::Frame(b.to_vec()),
                    Some(Ok(WsMessage::Close(_))) => {
                        return Inbound::Closed("closed by the runtime".into());
                    }
                    // Pings are answered by tungstenite; pongs and raw frames carry nothing.
                    Some(Ok(_)) => {}
                    Some(Err(tungstenite::Error::Capacity(_))) => return Inbound::TooLarge,
                    Some(Err(e)) => return Inbound::Closed(e.to_string()),
                }
            },
            Transport::Stdio(link) => loop {
                if let Some(line) = link.lines.pop_front() {
                    return line.map_or(Inbound::TooLarge, Inbound::Frame);
                }
                // `read` is cancel-safe: nothing is consumed unless it completes.
                let n = match link.stdout.read(&mut link.buf).await {
                    Ok(0) => return Inbound::Closed("child closed its stdout".into()),
                    Ok(n) => n,
                    Err(e) => return Inbound::Closed(e.to_string()),
                };
                let StdioLink {
                    framer, lines, buf, ..
                } = &mut **link;
                framer.feed(&buf[..n], |line| {
                    lines.push_back(line.map(<[u8]>::to_vec).map_err(|_| ()));
                });
            },
        }
    }

    /// Closes the transport (a WebSocket close handshake, or the child's stdin then the
    /// child), bounded by a short timeout.
    pub(crate) async fn close(self) {
        match self {
            Transport::WebSocket(mut ws) => {
                // Path-qualified: with futures-sink's `alloc` on (feature unification), `Box<Ws>`
                // is itself a `Sink` and `ws.close` would resolve to `SinkExt::close`.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, WebSocketStream::close(&mut ws, None))
                    .await;
            }
            Transport::Stdio(link) => {
                let StdioLink {
                    child, mut stdin, ..
                } = *link;
                let Some(mut child) = child else {
                    // An in-memory pipe: shutting the write half down is the peer's EOF.
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stdin.shutdown()).await;
                    return;
                };
                drop(stdin);
                if tokio::time::timeout(CLOSE_TIMEOUT, child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
    }
}
