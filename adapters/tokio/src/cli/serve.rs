//! `arcp serve`: the demo agents over WebSocket or stdio.

use super::{Failure, ServeArgs};
use crate::server::{Server, ServerBuilder};
use std::io::Write;
use std::time::Duration;

/// The server `args` describe (tokens: the contract ones unless `--token` is given).
fn builder(args: &ServeArgs) -> ServerBuilder {
    let mut b = Server::builder()
        .heartbeat_interval(Duration::from_secs(args.heartbeat_interval))
        .resume_window(Duration::from_secs(args.resume_window))
        .max_frame_bytes(args.max_frame_bytes)
        .credentials(!args.no_credentials)
        .db(args.db.clone());
    if !args.tokens.is_empty() {
        b = b.tokens(args.tokens.iter().cloned());
    }
    for o in &args.observers {
        b = b.observer(o.clone());
    }
    b
}

pub(super) async fn run(args: ServeArgs) -> Result<i32, Failure> {
    let b = builder(&args);
    if args.stdio {
        b.serve_stdio()
            .await
            .map_err(|e| Failure::Error(e.to_string()))?;
        return Ok(0);
    }
    let port = args.port.unwrap_or(0);
    let (url, handle) = b
        .bind_ws((args.host.as_str(), port), &args.path)
        .await
        .map_err(|e| Failure::Error(format!("cannot serve on {}:{port}: {e}", args.host)))?;
    println!("LISTENING {url}");
    let _ = std::io::stdout().flush();
    let exit_after = async {
        if args.exit_after > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(args.exit_after)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = exit_after => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated() => {}
    }
    handle.shutdown().await;
    Ok(0)
}

#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending::<()>().await
}
