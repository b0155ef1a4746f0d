//! Serves the contract agents until killed, on smol's executor (`--demo`: without it the
//! server has no authentication configured and refuses to start).
//!
//! ```text
//! cargo run -p arcp-futures --example serve -- [--port N] [--db PATH]
//!     [--path /arcp] [--heartbeat-interval SECS] [--no-credentials] [--demo]
//! ```
//!
//! Prints `LISTENING ws://127.0.0.1:PORT/arcp` (`--port 0`, the default, picks a free port).
//! The same flags as arcp-tokio's `serve`, except `--stdio` (this adapter serves WebSocket
//! only).

use arcp_futures::server::Server;
use arcp_interop::serve_args::{ServeArgs, print_listening, usage};
use std::time::Duration;

fn main() {
    let ServeArgs {
        port,
        stdio,
        db,
        path,
        heartbeat_secs: heartbeat,
        credentials,
        demo,
    } = ServeArgs::from_env();
    if stdio {
        usage("--stdio is not supported by arcp-futures (WebSocket only)");
    }
    smol::block_on(async {
        let builder = Server::builder(|f| smol::spawn(f).detach())
            .db(db)
            .credentials(credentials)
            .heartbeat_interval(Duration::from_secs(heartbeat));
        let builder = if demo { builder.demo() } else { builder };
        match builder.bind_ws(("127.0.0.1", port), &path).await {
            Ok((url, _handle)) => {
                print_listening(&url);
                std::future::pending::<()>().await;
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    });
}
