//! `arcp serve`: a runtime over WebSocket or stdio.
//!
//! Secure by default: without `--demo` it hosts no agents and accepts only the tokens and
//! JWTs it is given, and with no authentication configured at all it refuses to start.

use super::tls_dev::DevTls;
use super::{Failure, ServeArgs};
use arcp_auth::{Authenticator, FirstOf, JwksSource, JwtAuthenticator, JwtKey, StaticTokens};
use arcp_tokio::server::{Server, ServerBuilder};
use std::io::Write;
use std::time::Duration;

/// `arcp serve`'s dashboard, browser-origin and metrics flags.
#[derive(Debug, clap::Args)]
pub(super) struct WatchArgs {
    /// Serve the dashboard page at `/` of the WebSocket port (the WebSocket stays at
    /// `--path`); prints `DASHBOARD http://HOST:PORT/`.
    #[arg(long, conflicts_with = "stdio")]
    pub(super) dashboard: bool,
    /// Also accept WebSocket upgrades from this browser origin (`scheme://host[:port]`,
    /// repeatable). Browsers' upgrades from any other origin than the server's own get 403;
    /// clients that send no `Origin` are not affected.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_parser = parse_origin)]
    pub(super) allow_origins: Vec<String>,
    /// Serve `GET /metrics` in the Prometheus text format; prints `METRICS http://ADDR/metrics`.
    #[arg(long, conflicts_with = "stdio")]
    pub(super) metrics: bool,
    /// Where `/metrics` listens: `ADDR:PORT` (port 0: any free port), or `same` for the
    /// WebSocket port.
    #[arg(
        long,
        value_name = "ADDR:PORT|same",
        default_value = "127.0.0.1:9464",
        requires = "metrics"
    )]
    pub(super) metrics_addr: String,
}

/// An `--allow-origin` value: `http://` or `https://` and a host, nothing after it.
fn parse_origin(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("{s:?}: an origin is http://HOST[:PORT] or https://HOST[:PORT]"))?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err(format!("{s:?}: an origin has no path, query or user"));
    }
    Ok(s.to_owned())
}

/// Applies [`WatchArgs`] to the builder: `Err` for a bad `--metrics-addr`.
fn watch(args: &WatchArgs, mut b: ServerBuilder) -> Result<ServerBuilder, Failure> {
    b = b.dashboard(args.dashboard);
    for o in &args.allow_origins {
        b = b.allow_origin(o.clone());
    }
    if args.metrics {
        b = if args.metrics_addr == "same" {
            b.metrics_same_port()
        } else {
            let addr = args.metrics_addr.parse().map_err(|_| {
                Failure::Usage(format!(
                    "--metrics-addr {:?}: expected ADDR:PORT (e.g. 127.0.0.1:9464) or same",
                    args.metrics_addr
                ))
            })?;
            b.metrics(addr)
        };
    }
    Ok(b)
}

/// The lines printed after `LISTENING`: where the dashboard and `/metrics` answer.
fn watch_lines(args: &WatchArgs, url: &str, handle: &arcp_tokio::server::ServerHandle) -> String {
    let Some(local) = handle.local_addr() else {
        return String::new();
    };
    let http = if url.starts_with("wss://") {
        "https"
    } else {
        "http"
    };
    let mut lines = String::new();
    if args.dashboard {
        lines.push_str(&format!("DASHBOARD {http}://{local}/\n"));
    }
    if args.metrics {
        match handle.metrics_addr() {
            Some(m) => lines.push_str(&format!("METRICS http://{m}/metrics\n")),
            None => lines.push_str(&format!("METRICS {http}://{local}/metrics\n")),
        }
    }
    lines
}

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

/// The refusal of `arcp serve` with no authentication configured and no `--demo`.
pub(super) const NO_AUTH: &str = "no authentication configured: add --token TOKEN=PRINCIPAL \
or a JWT flag (--jwt-secret, --jwt-public-key, --jwks-url), or --demo to try the runtime out \
with the demo agents and tokens";

/// `true` when `args` configure a way to authenticate (a `--token` or a JWT flag).
fn has_auth(args: &ServeArgs) -> bool {
    !args.tokens.is_empty()
        || args.jwt_secret.is_some()
        || args.jwt_public_key.is_some()
        || args.jwks_url.is_some()
}

/// `true` when `host` names only this machine (a loopback address or `localhost`).
pub(super) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// The retention bounds `args` set (the rest at their defaults).
fn bounds(args: &ServeArgs) -> arcp_proto::runtime::Bounds {
    let secs = |s: f64| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO);
    arcp_proto::runtime::Bounds {
        finished_job_ttl: args.finished_job_ttl.map(secs),
        max_finished_job_bytes: args.max_finished_job_bytes,
        max_kept_terminal_bytes: args.max_kept_terminal_bytes,
        max_resumable_ring_bytes: args.max_resumable_ring_bytes,
        expired_session_grace: secs(args.expired_session_grace),
        ..Default::default()
    }
}

/// The server `args` describe: with `--demo` the contract agents (and the demo tokens unless
/// `--token` or a JWT flag is given); without it no agents.
fn builder(args: &ServeArgs, tls: Option<&DevTls>) -> Result<ServerBuilder, Failure> {
    let mut b = Server::builder()
        // `GET /healthz` for load balancers (503 once a SIGTERM drain started).
        .healthz(true)
        .heartbeat_interval(Duration::from_secs(args.heartbeat_interval))
        .resume_window(Duration::from_secs(args.resume_window))
        .max_frame_bytes(args.max_frame_bytes)
        .idle_spin(Duration::from_micros(args.idle_spin_us))
        .behind_tls_proxy(args.behind_tls_proxy)
        .hello_timeout(Duration::try_from_secs_f64(args.hello_timeout).unwrap_or(Duration::ZERO))
        .db(args.db.clone())
        .bounds(bounds(args))
        .limits(arcp_proto::runtime::AbuseLimits {
            max_sessions_per_principal: args.max_sessions_per_principal,
            max_resumable_sessions_per_principal: args.max_resumable_sessions_per_principal,
            max_jobs_per_principal: args.max_jobs_per_principal,
            ..Default::default()
        });
    if args.demo {
        b = b.demo();
    } else {
        // Explicitly empty: the contract agents come only with --demo.
        b = b.agents(arcp_agents::AgentRegistry::new());
    }
    // Credentials: the in-process provisioner in demo mode only, unless turned off.
    if args.no_credentials {
        b = b.credentials(false);
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
    if let Some(dev) = tls {
        b = b.tls(dev.cert.clone(), dev.key.clone());
    }
    for o in &args.observers {
        b = b.observer(o.clone());
    }
    let b = watch(&args.watch, b)?;
    args.agents.apply(b, args.demo)
}

pub(super) async fn run(args: ServeArgs) -> Result<i32, Failure> {
    if !args.demo && !has_auth(&args) {
        return Err(Failure::Usage(NO_AUTH.to_owned()));
    }
    let dev = if args.tls_self_signed {
        let dev = DevTls::generate(&args.host).map_err(Failure::Error)?;
        eprintln!(
            "TLS development CA written to {}: clients pass --ca-file {}",
            dev.ca.display(),
            dev.ca.display()
        );
        Some(dev)
    } else {
        None
    };
    let tls = args.tls_cert.is_some() || dev.is_some();
    if !args.stdio && !tls && !is_loopback(&args.host) {
        eprintln!(
            "warning: serving ws:// on {} without TLS: tokens and job data cross the network \
in cleartext (add --tls-cert/--tls-key, or --tls-self-signed for development)",
            args.host
        );
    }
    let mut b = builder(&args, dev.as_ref())?;
    let node_id = args.node_id.clone().unwrap_or_else(generated_node_id);
    if let Some(url) = &args.postgres {
        let (store, cluster) = join_postgres(url.clone(), &args, node_id.clone()).await?;
        b = b.cluster(store, cluster);
    }
    b = b.node_id(node_id);
    if !args.demo && !args.agents.any() {
        eprintln!("note: no agents hosted (the contract agents come with --demo)");
    }
    if args.stdio {
        b.serve_stdio()
            .await
            .map_err(|e| Failure::Error(e.to_string()))?;
        return Ok(0);
    }
    let port = args.port.unwrap_or(0);
    // Installed before LISTENING is printed: a SIGTERM from then on drains.
    let sigterm = super::drain::sigterm();
    let (url, handle) = b
        .bind_ws((args.host.as_str(), port), &args.path)
        .await
        .map_err(|e| Failure::Error(format!("cannot serve on {}:{port}: {e}", args.host)))?;
    // One write: a reader that takes only the first line and hangs up gets all of them, so
    // no later write finds the pipe closed.
    let ready = format!(
        "LISTENING {url}\n{}",
        watch_lines(&args.watch, &url, &handle)
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(ready.as_bytes());
    let _ = out.flush();
    drop(out);
    let exit_after = async {
        if args.exit_after > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(args.exit_after)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let drain = tokio::select! {
        _ = exit_after => false,
        _ = tokio::signal::ctrl_c() => false,
        _ = sigterm => true,
    };
    if drain {
        handle.drain(args.drain.grace()).await;
    } else {
        handle.shutdown().await;
    }
    Ok(0)
}

/// `node-` and 8 hex digits from the OS's entropy.
fn generated_node_id() -> String {
    use arcp_proto::wire::Entropy;
    let bits = arcp_agents::OsEntropy.next_u128();
    format!("node-{:08x}", bits as u32)
}

/// Joins the `--postgres` cluster as `node_id` (connect, migrate, liveness row) off the
/// async threads: the client blocks. The message names neither the URL nor its password.
async fn join_postgres(
    url: String,
    args: &ServeArgs,
    node_id: String,
) -> Result<(arcp_postgres::PostgresStore, arcp_postgres::PostgresCluster), Failure> {
    let options = match &args.postgres_schema {
        Some(name) => arcp_postgres::PostgresOptions::schema(name.clone()),
        None => arcp_postgres::PostgresOptions::default(),
    };
    // The per-principal cap on resumable sessions holds across the cluster too.
    let mut cluster = arcp_postgres::ClusterOptions::default()
        .max_resumable_sessions_per_principal(args.max_resumable_sessions_per_principal);
    if let Some(sec) = args.liveness_timeout {
        cluster.liveness_timeout = Duration::from_secs_f64(sec);
    }
    tokio::task::spawn_blocking(move || {
        arcp_postgres::PostgresStore::join(&url, &options, &node_id, &cluster)
    })
    .await
    .map_err(|e| Failure::Error(e.to_string()))?
    .map_err(|e| Failure::Error(format!("cannot join the PostgreSQL cluster: {e}")))
}

#[cfg(test)]
mod tests {
    use crate::{Cli, Command, ServeArgs};
    use clap::Parser;

    fn serve(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut argv = vec!["arcp", "serve", "--port", "0"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(a) => Ok(a),
            _ => panic!("not serve"),
        }
    }

    #[test]
    fn the_watch_flags_are_off_by_default_and_metrics_listen_on_loopback() {
        let a = serve(&[]).unwrap().watch;
        assert!(!a.dashboard && !a.metrics);
        assert!(a.allow_origins.is_empty());
        assert_eq!(a.metrics_addr, "127.0.0.1:9464");
        let a = serve(&[
            "--dashboard",
            "--metrics",
            "--metrics-addr",
            "same",
            "--allow-origin",
            "https://a.example",
            "--allow-origin",
            "http://b.example:8080/",
        ])
        .unwrap()
        .watch;
        assert!(a.dashboard && a.metrics);
        assert_eq!(a.metrics_addr, "same");
        assert_eq!(
            a.allow_origins,
            ["https://a.example", "http://b.example:8080/"]
        );
    }

    #[test]
    fn bad_watch_flags_are_usage_errors() {
        for extra in [
            &["--metrics-addr", "same"][..],
            &["--allow-origin", "a.example"],
            &["--allow-origin", "https://a.example/path"],
            &["--allow-origin", "https://"],
        ] {
            assert!(serve(extra).is_err(), "{extra:?}");
        }
        let a = serve(&["--metrics", "--metrics-addr", "nowhere"]).unwrap();
        let b = super::watch(&a.watch, arcp_tokio::server::Server::builder());
        assert!(matches!(b, Err(super::Failure::Usage(_))));
    }
}
