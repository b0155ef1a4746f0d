//! The blocking client's transports and its reader thread: a WebSocket (tungstenite, a
//! reading and a writing session on one socket) or a child on stdio (arcp-host's
//! [`StdioChild`]). The reader feeds each frame, or the due deadline, to the shared driver
//! under the lock, then drains it; its wait is derived from `poll_timeout`.

use super::{ClientError, Core, Inner, MAX_READ_WAIT};
use crate::socket::Shared;
use arcp_host::client::{StdioChild, StdioInbound};
use std::ffi::OsString;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

/// Lines read from a child and not yet fed.
const STDIO_QUEUE: usize = 64;

/// Where a client connects.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    WebSocket(String),
    Stdio(Vec<OsString>),
}

/// The socket address of a `ws://HOST:PORT/PATH` URL.
pub(crate) fn resolve(url: &str) -> Result<std::net::SocketAddr, ClientError> {
    let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
    let uri: tungstenite::http::Uri = url.parse().map_err(|e| io(&e))?;
    let host = uri
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| io(&e))?
        .next()
        .ok_or_else(|| ClientError::Io(format!("cannot resolve {host}")))
}

/// The writing half.
pub(crate) enum Writer {
    Ws(Box<Mutex<WebSocket<Shared>>>, TcpStream),
    Stdio(Mutex<StdioChild>),
}

/// The reading half, handed to the reader thread.
pub(crate) enum Reader {
    Ws(Box<WebSocket<Shared>>, TcpStream),
    Stdio(Receiver<StdioInbound>),
}

/// What one bounded read brought.
enum Read {
    Frame(Vec<u8>),
    Idle,
    Ended(String),
}

impl Writer {
    pub(crate) fn send(&self, text: &[u8]) -> Result<(), String> {
        match self {
            Writer::Ws(w, _) => {
                let mut w = w.lock().map_err(|_| "poisoned".to_owned())?;
                let text = String::from_utf8_lossy(text).into_owned();
                w.send(Message::Text(text.into()))
                    .map_err(|e| e.to_string())
            }
            Writer::Stdio(c) => {
                let mut c = c.lock().map_err(|_| "poisoned".to_owned())?;
                c.send(text).map_err(|e| e.to_string())
            }
        }
    }

    /// Ends the transport now (the reader then reports the end).
    pub(crate) fn shutdown(&self) {
        match self {
            Writer::Ws(_, tcp) => {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Writer::Stdio(c) => {
                if let Ok(mut c) = c.lock() {
                    c.kill();
                }
            }
        }
    }

    /// The polite close: a WebSocket close handshake, or the child's stdin closed.
    pub(crate) fn close(&self) {
        match self {
            Writer::Ws(w, _) => {
                if let Ok(mut w) = w.lock() {
                    let _ = w.close(None);
                    let _ = w.flush();
                }
            }
            Writer::Stdio(c) => {
                if let Ok(mut c) = c.lock() {
                    c.close_stdin();
                }
            }
        }
    }
}

/// Opens the transport: TCP + WebSocket upgrade, or the child process.
pub(crate) fn open(
    target: &Target,
    max_frame_bytes: usize,
    timeout: Duration,
) -> Result<(Writer, Reader), ClientError> {
    let io = |e: &dyn std::fmt::Display| ClientError::Io(e.to_string());
    match target {
        Target::WebSocket(url) => {
            let addr = resolve(url)?;
            let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| io(&e))?;
            let _ = tcp.set_nodelay(true);
            tcp.set_read_timeout(Some(timeout)).map_err(|e| io(&e))?;
            let shared = Shared::new(&tcp).map_err(|e| io(&e))?;
            let cfg = WebSocketConfig::default()
                .max_message_size(Some(max_frame_bytes))
                .max_frame_size(Some(max_frame_bytes));
            let (reader, _) =
                tungstenite::client::client_with_config(url.as_str(), shared, Some(cfg))
                    .map_err(|e| io(&e))?;
            let twin = reader.get_ref().twin().map_err(|e| io(&e))?;
            let writer = WebSocket::from_raw_socket(twin, Role::Client, Some(cfg));
            let tcp2 = tcp.try_clone().map_err(|e| io(&e))?;
            Ok((
                Writer::Ws(Box::new(Mutex::new(writer)), tcp),
                Reader::Ws(Box::new(reader), tcp2),
            ))
        }
        Target::Stdio(argv) => {
            let (tx, rx) = sync_channel(STDIO_QUEUE);
            let child = StdioChild::spawn(argv, max_frame_bytes, move |i| tx.send(i).is_ok())
                .map_err(|e| ClientError::Io(format!("cannot spawn: {e}")))?;
            Ok((Writer::Stdio(Mutex::new(child)), Reader::Stdio(rx)))
        }
    }
}

impl Reader {
    /// One read, waiting at most `wait`.
    fn read(&mut self, wait: Duration) -> Read {
        match self {
            Reader::Ws(ws, tcp) => {
                let _ = tcp.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
                match ws.read() {
                    Ok(Message::Text(t)) => Read::Frame(t.as_bytes().to_vec()),
                    Ok(Message::Binary(b)) => Read::Frame(b.to_vec()),
                    Ok(Message::Close(f)) => {
                        let _ = ws.flush();
                        Read::Ended(format!("closed by the runtime: {f:?}"))
                    }
                    Ok(_) => Read::Idle,
                    Err(tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        Read::Idle
                    }
                    Err(e) => Read::Ended(format!("transport ended: {e}")),
                }
            }
            Reader::Stdio(rx) => match rx.recv_timeout(wait) {
                Ok(StdioInbound::Frame(f)) => Read::Frame(f),
                // D35: the one transport of this client ends.
                Ok(StdioInbound::TooLarge) => Read::Ended("inbound frame over the size cap".into()),
                Ok(StdioInbound::Closed(why)) => Read::Ended(why),
                Err(RecvTimeoutError::Timeout) => Read::Idle,
                Err(RecvTimeoutError::Disconnected) => Read::Ended("child reader ended".into()),
            },
        }
    }
}

/// The reader thread: feeds frames and due deadlines until the transport ends.
pub(crate) fn read_loop(inner: &Inner, mut reader: Reader) {
    let why = loop {
        let wait = {
            let core = inner.lock();
            core.driver.poll_timeout().map_or(MAX_READ_WAIT, |d| {
                d.saturating_duration_since(Instant::now())
                    .min(MAX_READ_WAIT)
            })
        };
        let read = reader.read(wait);
        let mut core = inner.lock();
        let now = Instant::now();
        match read {
            Read::Frame(f) => core.driver.feed_frame(now, &f),
            Read::Idle => {}
            Read::Ended(why) => break why,
        }
        core.driver.handle_timeout(now);
        inner.pump(&mut core);
    };
    let mut core: std::sync::MutexGuard<'_, Core> = inner.lock();
    core.driver.disconnected(Instant::now(), &why);
    inner.end(&mut core, &why);
    inner.pump(&mut core);
}
