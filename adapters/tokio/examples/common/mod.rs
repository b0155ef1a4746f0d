//! The two lines every example shares: `--url` and the token.

#![allow(dead_code)]

/// The in-process runtime, when one was started.
static SERVER: std::sync::OnceLock<arcp_tokio::server::ServerHandle> = std::sync::OnceLock::new();

/// The `--url URL` argument; without it, an in-process runtime hosting the demo agents is
/// started on 127.0.0.1 (any free port) and its URL returned. The runtime lives until the
/// example's process exits.
pub async fn url() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {}
        [flag, url] if flag == "--url" => return url.clone(),
        [arg] if arg.starts_with("--url=") => return arg["--url=".len()..].to_owned(),
        [flag] if flag == "--url" => usage("--url needs a value"),
        _ => usage(&format!("unexpected arguments {args:?}")),
    }
    match arcp_tokio::server::spawn_local_ws().await {
        // Kept for the life of the process: dropping the handle would stop the accept loop.
        Ok((url, handle)) => {
            let _ = SERVER.set(handle);
            url
        }
        Err(e) => {
            eprintln!("error: cannot start an in-process runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn usage(msg: &str) -> ! {
    let name = std::env::args().next().unwrap_or_else(|| "example".into());
    eprintln!("error: {msg}; usage: {name} [--url ws://127.0.0.1:PORT/arcp]");
    std::process::exit(2);
}

/// `ARCP_TOKEN`, or the contract token `alice-token`.
pub fn token() -> String {
    std::env::var("ARCP_TOKEN").unwrap_or_else(|_| "alice-token".to_owned())
}
