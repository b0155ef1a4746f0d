//! The stdio transport: one session over a byte stream pair (stdin/stdout), one envelope per
//! line, split by [`LineFramer`]. An over-cap line is never buffered: the runtime answers
//! `session.error INVALID_REQUEST` and closes ([D35]).
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::driver::{ConnPorts, Input, Outbound, Wake};
use arcp_proto::runtime::{ConnId, TransportKind};
use arcp_proto::wire::LineFramer;
use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Serves one session on `reader`/`writer` until the peer's EOF or the runtime closes it.
/// The reader runs on its own thread (a blocked read cannot be interrupted): when the
/// runtime ends the session first, it is left behind; the caller exits the process.
pub(crate) fn session<R, W>(
    reader: R,
    writer: W,
    tx: &SyncSender<Input>,
    max_frame_bytes: usize,
    outbound_capacity: usize,
) where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let conn = ConnId(1);
    let (out_tx, out_rx) = sync_channel(outbound_capacity.max(1));
    let (wake, stalled) = Wake::new(conn, tx.clone());
    let ports = ConnPorts {
        out: out_tx,
        tcp: None,
        stalled,
    };
    let kind = TransportKind::Stdio;
    let opened = Input::Opened {
        conn,
        kind,
        carries_credentials: true,
        ports,
    };
    if tx.send(opened).is_err() {
        return;
    }
    // Either side ending ends the session.
    let (ended_tx, ended) = sync_channel::<()>(2);
    let e = ended_tx.clone();
    let w = std::thread::Builder::new()
        .name("arcp-stdio-write".into())
        .spawn(move || {
            write_loop(writer, &out_rx, &wake);
            let _ = e.send(());
        });
    let r_tx = tx.clone();
    let r = std::thread::Builder::new()
        .name("arcp-stdio-read".into())
        .spawn(move || {
            read_loop(reader, conn, &r_tx, max_frame_bytes);
            let _ = ended_tx.send(());
        });
    if w.is_ok() && r.is_ok() {
        let _ = ended.recv();
    }
    let _ = tx.send(Input::Closed { conn });
}

fn read_loop<R: Read>(mut reader: R, conn: ConnId, tx: &SyncSender<Input>, max: usize) {
    let mut framer = LineFramer::new(max);
    let mut buf = vec![0u8; 64 * 1024];
    let mut inputs = Vec::new();
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
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
            if tx.send(input).is_err() {
                return;
            }
        }
    }
}

fn write_loop<W: Write>(mut writer: W, out: &Receiver<Outbound>, wake: &Wake) {
    let mut next = out.recv();
    // One line: the frame and its newline, in one write (the buffer is reused).
    let mut line = Vec::new();
    while let Ok(Outbound::Frame(bytes)) = next {
        wake.took();
        line.clear();
        line.extend_from_slice(&bytes);
        line.push(b'\n');
        if writer.write_all(&line).is_err() {
            break;
        }
        // Flush whenever the queue runs empty.
        next = match out.try_recv() {
            Ok(o) => Ok(o),
            Err(_) => {
                if writer.flush().is_err() {
                    break;
                }
                out.recv()
            }
        };
    }
    let _ = writer.flush();
}
