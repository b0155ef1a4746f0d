//! The stdio transport: one session over a byte stream pair (stdin/stdout), one envelope per
//! line, split by [`LineFramer`]. An over-cap line is never buffered: the runtime answers
//! `session.error INVALID_REQUEST` and closes ([D35]).
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::driver::{ConnPorts, Input, Outbound, Wake};
use arcp_proto::runtime::{ConnId, TransportKind};
use arcp_proto::wire::LineFramer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Serves one session on `reader`/`writer` until the peer's EOF or the runtime closes it.
pub(crate) async fn session<R, W>(
    mut reader: R,
    writer: W,
    conn: ConnId,
    tx: mpsc::Sender<Input>,
    max_frame_bytes: usize,
    outbound_capacity: usize,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::channel(outbound_capacity.max(1));
    let (kill_tx, kill_rx) = oneshot::channel();
    let (wake, stalled) = Wake::new(conn, tx.clone());
    let opened = Input::Opened {
        conn,
        kind: TransportKind::Stdio,
        carries_credentials: true,
        ports: ConnPorts {
            out: out_tx,
            kill: kill_tx,
            stalled,
        },
    };
    if tx.send(opened).await.is_err() {
        return;
    }
    let (done_tx, mut done_rx) = oneshot::channel::<()>();
    let writer_task = tokio::spawn(write_loop(writer, out_rx, kill_rx, done_tx, wake));
    let mut framer = LineFramer::new(max_frame_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut inputs = Vec::new();
    'read: loop {
        let n = tokio::select! {
            biased;
            _ = &mut done_rx => break 'read,
            r = reader.read(&mut buf) => match r {
                Ok(0) | Err(_) => break 'read,
                Ok(n) => n,
            },
        };
        framer.feed(buf.get(..n).unwrap_or_default(), |line| {
            inputs.push(match line {
                Ok(bytes) => Input::Frame {
                    conn,
                    bytes: bytes.to_vec(),
                },
                Err(too_long) => Input::Oversized {
                    conn,
                    len: too_long.limit.saturating_add(1),
                },
            });
        });
        for input in inputs.drain(..) {
            if tx.send(input).await.is_err() {
                break 'read;
            }
        }
    }
    let _ = tx.send(Input::Closed { conn }).await;
    // The writer ends once the driver drops its queue (or after the close it was sent).
    let _ = writer_task.await;
}

async fn write_loop<W>(
    mut writer: W,
    mut out: mpsc::Receiver<Outbound>,
    mut kill: oneshot::Receiver<u16>,
    done: oneshot::Sender<()>,
    wake: Wake,
) where
    W: AsyncWrite + Unpin,
{
    let mut killable = true;
    // One line: the frame and its newline, in one write (the buffer is reused).
    let mut line = Vec::new();
    loop {
        let item = tokio::select! {
            biased;
            k = &mut kill, if killable => match k {
                Ok(code) => Some(Outbound::Close(code)),
                Err(_) => { killable = false; continue; }
            },
            o = out.recv() => o,
        };
        wake.took(out.len(), out.max_capacity()).await;
        match item {
            None | Some(Outbound::Close(_)) => break,
            Some(Outbound::Frame(bytes)) => {
                line.clear();
                line.extend_from_slice(&bytes);
                line.push(b'\n');
                if writer.write_all(&line).await.is_err() {
                    break;
                }
                if out.is_empty() && writer.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = writer.flush().await;
    let _ = writer.shutdown().await;
    let _ = done.send(());
}
