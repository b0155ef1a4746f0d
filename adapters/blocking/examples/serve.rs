//! Serves the contract agents until killed, on threads (no async runtime) (`--demo`: without
//! it the server has no authentication configured and refuses to start).
//!
//! ```text
//! cargo run -p arcp-blocking --example serve -- [--port N | --stdio] [--db PATH]
//!     [--path /arcp] [--heartbeat-interval SECS] [--no-credentials] [--demo]
//! ```
//!
//! WebSocket mode prints `LISTENING ws://127.0.0.1:PORT/arcp` (`--port 0`, the default, picks
//! a free port), as `arcp serve` and arcp-tokio's `serve` do. `--stdio` serves one session on
//! stdin/stdout.

use arcp_blocking::server::Server;
use arcp_interop::serve_args::{ServeArgs, print_listening};
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
    let builder = Server::builder()
        .db(db)
        .credentials(credentials)
        .heartbeat_interval(Duration::from_secs(heartbeat));
    let builder = if demo { builder.demo() } else { builder };
    if stdio {
        let code = match builder.serve_stdio() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
        // The session is over: exit now (a read of stdin may still be blocked).
        std::process::exit(code);
    }
    match builder.bind_ws(("127.0.0.1", port), &path) {
        Ok((url, _handle)) => {
            print_listening(&url);
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
