//! The blocking client's transports: a WebSocket (tungstenite, a reading and a writing
//! session on one socket) or a child on stdio (arcp-client's [`StdioChild`]). A reader
//! thread per transport does the blocking reads and hands each envelope to the driver task
//! through a bounded queue (while the task does not read, the queue fills and the reader
//! waits: back-pressure); writes are blocking writes on the driver's thread.

use crate::exec;
use crate::socket::Shared;
use arcp_client::channel::ChannelTransport;
use arcp_client::{ClientError, Inbound, StdioChild, StdioInbound, Target, Wait};
use async_channel::{Receiver, Sender};
use std::future::Future;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

/// Envelopes read and not yet taken by the driver task.
const INBOUND_QUEUE: usize = 64;

/// The socket address of a `ws://HOST:PORT/PATH` URL.
pub(crate) fn resolve(url: &str) -> Result<SocketAddr, ClientError> {
    let uri: tungstenite::http::Uri = url
        .parse()
        .map_err(|e| ClientError::transport_from(format!("bad URL {url}"), e))?;
    let host = uri
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| ClientError::transport_from(format!("cannot resolve {host}"), e))?
        .next()
        .ok_or_else(|| ClientError::transport(format!("cannot resolve {host}")))
}

/// The writing half.
enum Writer {
    Ws(Box<WebSocket<Shared>>, TcpStream),
    Stdio(Box<StdioChild>),
}

/// One open transport.
pub struct Transport {
    writer: Writer,
    inbound: Receiver<Inbound>,
}

fn ws_reader(mut ws: WebSocket<Shared>, tx: Sender<Inbound>) {
    let end = loop {
        let item = match ws.read() {
            Ok(Message::Text(t)) => Inbound::Frame(t.as_bytes().to_vec()),
            Ok(Message::Binary(b)) => Inbound::Frame(b.to_vec()),
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                break Inbound::Closed("closed by the runtime".into());
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Capacity(_)) => break Inbound::TooLarge,
            Err(e) => break Inbound::Closed(format!("transport ended: {e}")),
        };
        if tx.send_blocking(item).is_err() {
            return;
        }
    };
    let _ = tx.send_blocking(end);
}

/// Opens the transport: TCP + WebSocket upgrade, or the child process.
fn open(
    target: &Target,
    max_frame_bytes: usize,
    timeout: Duration,
) -> Result<Transport, ClientError> {
    let (tx, inbound) = async_channel::bounded(INBOUND_QUEUE);
    let io = |what: &str, e: std::io::Error| ClientError::transport_from(format!("{what}: {e}"), e);
    match target {
        Target::WebSocket(url) => {
            let addr = resolve(url)?;
            let tcp = TcpStream::connect_timeout(&addr, timeout)
                .map_err(|e| io(&format!("cannot connect to {url}"), e))?;
            let _ = tcp.set_nodelay(true);
            tcp.set_read_timeout(Some(timeout))
                .map_err(|e| io("socket", e))?;
            let shared = Shared::new(&tcp).map_err(|e| io("socket", e))?;
            let cfg = WebSocketConfig::default()
                .max_message_size(Some(max_frame_bytes))
                .max_frame_size(Some(max_frame_bytes));
            let (reader, _) =
                tungstenite::client::client_with_config(url.as_str(), shared, Some(cfg))
                    .map_err(|e| ClientError::transport(format!("cannot connect to {url}: {e}")))?;
            tcp.set_read_timeout(None).map_err(|e| io("socket", e))?;
            let twin = reader.get_ref().twin().map_err(|e| io("socket", e))?;
            let writer = WebSocket::from_raw_socket(twin, Role::Client, Some(cfg));
            let tcp2 = tcp.try_clone().map_err(|e| io("socket", e))?;
            std::thread::Builder::new()
                .name("arcp-client-read".into())
                .spawn(move || ws_reader(reader, tx))
                .map_err(|e| io("reader thread", e))?;
            Ok(Transport {
                writer: Writer::Ws(Box::new(writer), tcp2),
                inbound,
            })
        }
        Target::Stdio(argv) => {
            let child = StdioChild::spawn(argv, max_frame_bytes, move |i| {
                let item = match i {
                    StdioInbound::Frame(f) => Inbound::Frame(f),
                    StdioInbound::TooLarge => Inbound::TooLarge,
                    StdioInbound::Closed(why) => Inbound::Closed(why),
                };
                tx.send_blocking(item).is_ok()
            })
            .map_err(|e| io("cannot spawn", e))?;
            Ok(Transport {
                writer: Writer::Stdio(Box::new(child)),
                inbound,
            })
        }
    }
}

/// The driver task's transport and timer: blocking IO on its own thread, `exec::sleep`.
pub(crate) struct BlockingIo {
    pub(crate) target: Target,
    pub(crate) max_frame_bytes: usize,
    pub(crate) timeout: Duration,
}

impl BlockingIo {
    pub(crate) fn open_now(&self) -> Result<Transport, ClientError> {
        open(&self.target, self.max_frame_bytes, self.timeout)
    }
}

impl ChannelTransport for BlockingIo {
    type Transport = Transport;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn open(&self) -> impl Future<Output = Result<Transport, ClientError>> + Send {
        std::future::ready(self.open_now())
    }

    fn send(t: &mut Transport, frame: Vec<u8>) -> impl Future<Output = Result<(), String>> + Send {
        let sent = match &mut t.writer {
            Writer::Ws(w, _) => {
                let text = String::from_utf8_lossy(&frame).into_owned();
                w.send(Message::Text(text.into()))
                    .map_err(|e| e.to_string())
            }
            Writer::Stdio(c) => c.send(&frame).map_err(|e| e.to_string()),
        };
        std::future::ready(sent)
    }

    fn recv(t: &mut Transport) -> impl Future<Output = Inbound> + Send {
        let rx = t.inbound.clone();
        async move {
            rx.recv()
                .await
                .unwrap_or_else(|_| Inbound::Closed("reader ended".into()))
        }
    }

    fn close(t: Transport) -> impl Future<Output = ()> + Send {
        match t.writer {
            Writer::Ws(mut w, tcp) => {
                let _ = w.close(None);
                let _ = w.flush();
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Writer::Stdio(mut c) => c.close(Duration::from_secs(2)),
        }
        std::future::ready(())
    }

    fn sleep_until(&self, at: Instant) -> Wait {
        Box::pin(exec::sleep(at.saturating_duration_since(Instant::now())))
    }
}
