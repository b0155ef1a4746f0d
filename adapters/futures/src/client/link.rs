//! The client's transports: a WebSocket (async-tungstenite over `async_io::Async`) or a
//! child process on stdio ([`arcp_client::StdioChild`], its reader on a std thread
//! feeding a bounded channel). Whole envelopes move as bytes; no protocol logic here.

use crate::ws_config;
use arcp_client::{ClientError, Inbound, Target};
use arcp_client::{StdioChild, StdioInbound};

use async_channel::Receiver;
use async_io::{Async, Timer};
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::{self, Message};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt, select_biased};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The WebSocket this client speaks over.
pub type Ws = WebSocketStream<Async<TcpStream>>;

/// Lines read from a child and not yet taken by the driver.
const STDIO_QUEUE: usize = 64;
/// How long a close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens the TCP connection to a `ws://` URL and completes the WebSocket upgrade (the
/// frame cap mirrored into the WebSocket config).
pub async fn open_ws(url: &str, max_frame_bytes: usize) -> Result<Ws, ClientError> {
    let bad = ClientError::transport;
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| bad(format!("not a ws:// URL: {url}")))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let addr = host
        .to_socket_addrs()
        .map_err(|e| bad(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| bad(format!("{host}: no address")))?;
    let tcp = Async::<TcpStream>::connect(addr)
        .await
        .map_err(|e| ClientError::transport_from(format!("cannot connect to {url}: {e}"), e))?;
    let _ = tcp.get_ref().set_nodelay(true);
    let (ws, _) =
        async_tungstenite::client_async_with_config(url, tcp, Some(ws_config(max_frame_bytes)))
            .await
            .map_err(|e| ClientError::transport_from(format!("cannot connect to {url}: {e}"), e))?;
    Ok(ws)
}

/// One open transport.
pub(crate) enum Link {
    Ws(SplitSink<Ws, Message>, SplitStream<Ws>),
    Stdio(StdioChild, Receiver<StdioInbound>),
}

impl Link {
    pub(crate) async fn open(target: &Target, max_frame_bytes: usize) -> Result<Link, ClientError> {
        match target {
            Target::WebSocket(url) => {
                let (sink, stream) = StreamExt::split(open_ws(url, max_frame_bytes).await?);
                Ok(Link::Ws(sink, stream))
            }
            Target::Stdio(argv) => {
                let (tx, rx) = async_channel::bounded(STDIO_QUEUE);
                let child =
                    StdioChild::spawn(argv, max_frame_bytes, move |i| tx.send_blocking(i).is_ok())
                        .map_err(|e| {
                            ClientError::transport_from(format!("cannot spawn: {e}"), e)
                        })?;
                Ok(Link::Stdio(child, rx))
            }
        }
    }

    /// The next inbound envelope (cancel-safe).
    pub(crate) async fn recv(&mut self) -> Inbound {
        match self {
            Link::Ws(_, stream) => match stream.next().await {
                Some(Ok(Message::Text(t))) => Inbound::Frame(t.as_bytes().to_vec()),
                Some(Ok(Message::Binary(b))) => Inbound::Frame(b.to_vec()),
                Some(Ok(Message::Close(_))) | None => {
                    Inbound::Closed("closed by the runtime".into())
                }
                Some(Ok(_)) => Inbound::Nothing,
                Some(Err(tungstenite::Error::Capacity(_))) => Inbound::TooLarge,
                Some(Err(e)) => Inbound::Closed(format!("reader error: {e}")),
            },
            Link::Stdio(_, rx) => match rx.recv().await {
                Ok(StdioInbound::Frame(f)) => Inbound::Frame(f),
                Ok(StdioInbound::TooLarge) => Inbound::TooLarge,
                Ok(StdioInbound::Closed(why)) => Inbound::Closed(why),
                Err(_) => Inbound::Closed("child reader ended".into()),
            },
        }
    }

    /// Writes one envelope. A stdio write is a blocking pipe write (the child reads its
    /// stdin continuously; frames are capped).
    pub(crate) async fn send(&mut self, frame: Vec<u8>) -> Result<(), String> {
        match self {
            Link::Ws(sink, _) => {
                let text = String::from_utf8_lossy(&frame).into_owned();
                sink.send(Message::Text(text.into()))
                    .await
                    .map_err(|e| e.to_string())
            }
            Link::Stdio(child, _) => child.send(&frame).map_err(|e| e.to_string()),
        }
    }

    /// Closes the transport, bounded.
    pub(crate) async fn close(self) {
        match self {
            Link::Ws(mut sink, _) => {
                select_biased! {
                    _ = sink.close().fuse() => (),
                    _ = FutureExt::fuse(Timer::after(CLOSE_TIMEOUT)) => (),
                }
            }
            Link::Stdio(mut child, _) => {
                child.close_stdin();
                let until = std::time::Instant::now() + CLOSE_TIMEOUT;
                while !child.has_exited() && std::time::Instant::now() < until {
                    Timer::after(Duration::from_millis(10)).await;
                }
                child.kill();
            }
        }
    }
}
