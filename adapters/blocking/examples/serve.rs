//! Serves the contract agents until killed, on threads (no async runtime).
//!
//! ```text
//! cargo run -p arcp-blocking --example serve -- [--port N | --stdio] [--db PATH]
//!     [--path /arcp] [--heartbeat-interval SECS] [--no-credentials]
//! ```
//!
//! WebSocket mode prints `LISTENING ws://127.0.0.1:PORT/arcp` (`--port 0`, the default, picks
//! a free port), as `arcp serve` and arcp-tokio's `serve` do. `--stdio` serves one session on
//! stdin/stdout.

use arcp_blocking::server::Server;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: serve [--port N | --stdio] [--db PATH] [--path /arcp] [--heartbeat-interval SECS] [--no-credentials]"
    );
    std::process::exit(2);
}

fn main() {
    let mut port: u16 = 0;
    let mut stdio = false;
    let mut db: Option<PathBuf> = None;
    let mut path = "/arcp".to_owned();
    let mut heartbeat = 2u64;
    let mut credentials = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match a.as_str() {
            "--port" => {
                port = value("--port")
                    .parse()
                    .unwrap_or_else(|_| usage("--port takes a number"))
            }
            "--stdio" => stdio = true,
            "--db" => db = Some(PathBuf::from(value("--db"))),
            "--path" => path = value("--path"),
            "--heartbeat-interval" => {
                heartbeat = value("--heartbeat-interval")
                    .parse()
                    .unwrap_or_else(|_| usage("--heartbeat-interval takes whole seconds"))
            }
            "--no-credentials" => credentials = false,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let builder = Server::builder()
        .db(db)
        .credentials(credentials)
        .heartbeat_interval(Duration::from_secs(heartbeat));
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
            println!("LISTENING {url}");
            let _ = std::io::stdout().flush();
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
