//! [`RawConnection`]: a bare WebSocket with no session, for frames written by hand (tests,
//! interop scenarios). Frames read are passed to a callback on the reader thread.

use super::{ClientError, FrameTap, TapEvent};
use crate::socket::Shared;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

/// A bare WebSocket connection.
pub struct RawConnection {
    writer: Mutex<WebSocket<Shared>>,
    tcp: TcpStream,
    tap: FrameTap,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnection").finish_non_exhaustive()
    }
}

impl RawConnection {
    /// Connects to `url` (no handshake beyond the upgrade); `tap` sees every frame and,
    /// once, the end of the transport.
    pub fn open(url: &str, timeout: Duration, tap: FrameTap) -> Result<Arc<Self>, ClientError> {
        let io = |e: &dyn std::fmt::Display| ClientError::transport(e.to_string());
        let addr = super::transport::resolve(url)?;
        let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| io(&e))?;
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(timeout)).map_err(|e| io(&e))?;
        let shared = Shared::new(&tcp).map_err(|e| io(&e))?;
        let (mut reader, _) = tungstenite::client::client(url, shared).map_err(|e| io(&e))?;
        tcp.set_read_timeout(None).map_err(|e| io(&e))?;
        let twin = reader.get_ref().twin().map_err(|e| io(&e))?;
        let writer = WebSocket::from_raw_socket(twin, Role::Client, None);
        let tap2 = tap.clone();
        std::thread::Builder::new()
            .name("arcp-raw-read".into())
            .spawn(move || {
                let why = loop {
                    match reader.read() {
                        Ok(Message::Text(t)) => tap2(TapEvent::Received(t.as_bytes())),
                        Ok(Message::Binary(b)) => tap2(TapEvent::Received(&b)),
                        Ok(Message::Close(f)) => {
                            let _ = reader.flush();
                            break format!("closed by the runtime: {f:?}");
                        }
                        Ok(_) => {}
                        Err(e) => break format!("connection ended: {e}"),
                    }
                };
                tap2(TapEvent::Closed(&why));
            })
            .map_err(|e| io(&e))?;
        Ok(Arc::new(RawConnection {
            writer: Mutex::new(writer),
            tcp,
            tap,
        }))
    }

    /// Writes `text` as one frame.
    pub fn send_text(&self, text: &str) -> Result<(), ClientError> {
        (self.tap)(TapEvent::Sent(text.as_bytes()));
        let mut w = self
            .writer
            .lock()
            .map_err(|_| ClientError::transport("poisoned"))?;
        w.send(Message::text(text))
            .map_err(|e| ClientError::transport(e.to_string()))
    }

    /// The WebSocket close handshake; the reader ends on the runtime's reply (or within 3 s).
    pub fn close(&self) {
        if let Ok(mut w) = self.writer.lock() {
            let _ = w.close(None);
            let _ = w.flush();
        }
        let _ = self.tcp.set_read_timeout(Some(Duration::from_secs(3)));
    }

    /// Drops the socket without a close handshake.
    pub fn abort(&self) {
        (self.tap)(TapEvent::Closed("aborted"));
        let _ = self.tcp.shutdown(Shutdown::Both);
    }
}
