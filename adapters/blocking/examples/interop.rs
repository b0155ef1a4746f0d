//! The interop scenario runner with the blocking client: the 25 scenarios of
//! `../shared/interop/peer_client.py` (written once in `arcp-interop`), driven through
//! [`arcp_blocking::client::Client`] with a frame tap. Same CLI and output as arcp-tokio's:
//!
//! ```text
//! cargo run -p arcp-blocking --example interop -- (--url URL | --stdio "COMMAND" | --spawn-peer ws|stdio) [--python-peer]
//! ```
//!
//! `PASS name` / `FAIL name: reason` / `SKIP name: reason`, then `N passed, N failed`; exit
//! status 1 on any failure. The conversions, the tap bridge and the stdio raw link are
//! `arcp_interop::adapt`'s; this file is the blocking client's calls.

use arcp_blocking::client::{BlockingLink, RawConnection};
use arcp_interop::adapt::tap_callback;
use arcp_interop::{BlockOn, ClientHarness, RawLink, Tap};
use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// Runs a future on the scenario's thread with the adapter's executor, bounded.
#[derive(Clone)]
struct ExecBlock;

impl BlockOn for ExecBlock {
    fn block_on<F>(&self, limit: Duration, f: F) -> Option<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let mut f = std::pin::pin!(f);
        let mut sleep = std::pin::pin!(arcp_blocking::exec::sleep(limit));
        arcp_blocking::exec::block_on(poll_fn(|cx| {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            sleep.as_mut().poll(cx).map(|()| None)
        }))
    }
}

/// A bare WebSocket for frames written by hand.
fn raw_ws(_: &ExecBlock, url: &str, tap: Arc<Tap>) -> Result<Arc<dyn RawLink>, String> {
    let conn = RawConnection::open(url, Duration::from_secs(5), tap_callback(tap.clone()))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(Raw { conn, tap }))
}

struct Raw {
    conn: Arc<RawConnection>,
    tap: Arc<Tap>,
}

impl RawLink for Raw {
    fn send_text(&self, text: &str) -> Result<(), String> {
        if self.tap.is_closed() {
            return Err("connection closed".into());
        }
        self.conn.send_text(text).map_err(|e| e.to_string())
    }

    fn close(&self) {
        self.conn.close();
    }

    fn abort(&self) {
        self.conn.abort();
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(arcp_interop::main_with(
        Arc::new(ClientHarness::<BlockingLink, _, _>::new(ExecBlock, raw_ws)),
        &argv,
    ));
}
