//! The interop scenario runner with the arcp-futures client: the 25 scenarios of
//! `../shared/interop/peer_client.py` (written once in `arcp-interop`), driven through
//! [`arcp_futures::client::Client`] with a frame tap.
//!
//! ```text
//! cargo run -p arcp-futures --example interop -- (--url URL | --stdio "COMMAND" | --spawn-peer ws|stdio) [--python-peer]
//! ```
//!
//! Output: `PASS name` / `FAIL name: reason` / `SKIP name: reason`, then `N passed, N
//! failed`; the exit status is 1 on any failure. `--spawn-peer` runs `$ARCP_PEER_PYTHON`
//! (default `.peer-venv/bin/python`) on `$ARCP_PEER_DIR/peer_runtime.py` (default
//! `../shared/interop`) and implies `--python-peer`. The same CLI as arcp-tokio's runner.

mod interop_harness;

use interop_harness::harness;
use std::sync::Arc;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(arcp_interop::main_with(Arc::new(harness()), &argv));
}
