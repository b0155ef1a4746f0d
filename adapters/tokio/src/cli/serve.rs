//! `arcp serve`: the demo agents over WebSocket or stdio.

use super::{Failure, ServeArgs};
use crate::server::{Server, ServerBuilder};
use arcp_auth::{Authenticator, FirstOf, JwksSource, JwtAuthenticator, JwtKey, StaticTokens};
use std::io::Write;
use std::time::Duration;

/// The authenticator `args` describe: `None` without any JWT flag (then the token table
/// decides: `--token`s, or the contract tokens when none is given); otherwise the `--token`s
/// first, then the JWT keys (`--jwt-secret`, `--jwt-public-key`), then the JWKS URL.
fn authenticator(args: &ServeArgs) -> Result<Option<FirstOf>, Failure> {
    if args.jwt_secret.is_none() && args.jwt_public_key.is_none() && args.jwks_url.is_none() {
        return Ok(None);
    }
    let configure = |mut a: JwtAuthenticator| {
        if let Some(i) = &args.jwt_issuer {
            a = a.with_issuer(i.clone());
        }
        if let Some(aud) = &args.jwt_audience {
            a = a.with_audience(aud.clone());
        }
        a.with_principal_claim(args.principal_claim.clone())
    };
    let mut all: Vec<Box<dyn Authenticator>> = Vec::new();
    if !args.tokens.is_empty() {
        let tokens = args.tokens.iter().fold(StaticTokens::new(), |s, (t, p)| {
            s.with_token(t.clone(), p.clone())
        });
        all.push(Box::new(tokens));
    }
    let mut keys = Vec::new();
    if let Some(secret) = &args.jwt_secret {
        keys.push(JwtKey::hmac(secret.as_bytes()));
    }
    if let Some(path) = &args.jwt_public_key {
        let pem = std::fs::read(path)
            .map_err(|e| Failure::Error(format!("cannot read {}: {e}", path.display())))?;
        let key = JwtKey::public_pem(&pem)
            .map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?;
        keys.push(key);
    }
    if !keys.is_empty() {
        all.push(Box::new(configure(JwtAuthenticator::with_keys(keys))));
    }
    if let Some(url) = &args.jwks_url {
        all.push(Box::new(configure(JwtAuthenticator::jwks(
            JwksSource::new(url.clone()),
        ))));
    }
    Ok(Some(FirstOf(all)))
}

/// The server `args` describe (tokens: the contract ones unless `--token` or a JWT flag is
/// given).
fn builder(args: &ServeArgs) -> Result<ServerBuilder, Failure> {
    let mut b = Server::builder()
        .heartbeat_interval(Duration::from_secs(args.heartbeat_interval))
        .resume_window(Duration::from_secs(args.resume_window))
        .max_frame_bytes(args.max_frame_bytes)
        .credentials(!args.no_credentials)
        .db(args.db.clone())
        .limits(arcp_proto::runtime::AbuseLimits {
            max_sessions_per_principal: args.max_sessions_per_principal,
            max_resumable_sessions_per_principal: args.max_resumable_sessions_per_principal,
            max_jobs_per_principal: args.max_jobs_per_principal,
            ..Default::default()
        });
    if args.demo {
        b = b.demo();
    }
    if !args.tokens.is_empty() {
        b = b.tokens(args.tokens.iter().cloned());
    }
    if let Some(auth) = authenticator(args)? {
        b = b.authenticator(auth);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        b = b.tls(cert.clone(), key.clone());
    }
    for o in &args.observers {
        b = b.observer(o.clone());
    }
    Ok(b)
}

pub(super) async fn run(args: ServeArgs) -> Result<i32, Failure> {
    let b = builder(&args)?;
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
