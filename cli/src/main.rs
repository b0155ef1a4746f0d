//! The `arcp` command-line tool: `arcp serve`, `arcp demo`, and the client commands
//! (`submit`, `tail`, `jobs`, `cancel`, `replay`, `bench`). See `arcp --help` and the README.
//!
//! Exit codes: 0 on success; 2 for an argument error (one line on stderr); 1 for an ARCP
//! refusal (`error: CODE: message`), a job that failed, or a transport failure
//! (`error: cannot connect to URL: reason`).

mod bench;
mod cancel;
mod demo;
mod drain;
mod jobs;
mod owned;
mod render;
mod replay;
mod serve;
mod serve_agents;
mod state;
mod submit;
mod tail;
mod telemetry;
mod tls_dev;

use arcp_tokio::client::{Client, ClientBuilder, ClientError, JobId, Timestamp};
use clap::{Args, Parser, Subcommand};
use std::num::NonZeroUsize;
use std::path::PathBuf;

/// Exit code of an argument error.
const EXIT_USAGE: i32 = 2;
/// Exit code of a refusal, a failed job or a transport failure.
const EXIT_FAILURE: i32 = 1;

/// The `arcp` command line.
#[derive(Debug, Parser)]
#[command(name = "arcp", version, about = "ARCP v1.1 runtime and client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of `serve`'s flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a runtime over WebSocket (`--port`) or stdio (`--stdio`); `--demo` hosts the
    /// contract agents and accepts the demo tokens.
    Serve(ServeArgs),
    /// Run a runtime in-process, submit a `slow` job, drop the connection mid-job, resume, and
    /// check that no event was lost or repeated.
    Demo,
    /// Submit a job and follow it to its end.
    Submit(SubmitArgs),
    /// Follow a job (subscribe with history).
    Tail(TailArgs),
    /// List the jobs this principal may see (a table, or `--json`).
    Jobs(JobsArgs),
    /// Cancel a job.
    Cancel(CancelArgs),
    /// Print the frames a session stored in a SQLite log.
    Replay(ReplayArgs),
    /// Load-test a runtime over loopback WebSocket and print one `name value` line per figure.
    Bench(bench::BenchArgs),
    /// Print a shell completion script, e.g. `arcp completions bash > ~/.local/share/bash-completion/completions/arcp`.
    Completions(CompletionsArgs),
}

/// `arcp serve` (the flags and defaults of the reference's `peer_runtime.py`, plus `--db`).
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("mode").required(true).args(["port", "stdio"]))]
#[command(group = clap::ArgGroup::new("jwt_keys").multiple(true).args(["jwt_secret", "jwt_public_key", "jwks_url"]))]
struct ServeArgs {
    /// WebSocket port (0 = any free port); prints `LISTENING ws://HOST:PORT/PATH`.
    #[arg(long)]
    port: Option<u16>,
    /// Serve one session over stdin/stdout.
    #[arg(long)]
    stdio: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// WebSocket path.
    #[arg(long, default_value = "/arcp")]
    path: String,
    /// A bearer token and its principal (repeatable). With neither a token nor a JWT flag,
    /// `arcp serve` refuses to start unless `--demo` is given.
    #[arg(long = "token", value_name = "TOKEN=PRINCIPAL", value_parser = parse_token)]
    tokens: Vec<(String, String)>,
    /// Accept JWTs signed HS256/384/512 with this shared secret. With any `--jwt-*` or
    /// `--jwks-url` flag the demo tokens are not accepted, even with `--demo` (only
    /// `--token`s).
    #[arg(
        long,
        value_name = "SECRET",
        env = "ARCP_JWT_SECRET",
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
    /// Accept JWTs signed with this PEM public key (RSA: RS256/384/512, EC: ES256/384,
    /// Ed25519: EdDSA).
    #[arg(long, value_name = "FILE")]
    jwt_public_key: Option<PathBuf>,
    /// Accept JWTs signed with keys from this JWKS URL (cached, refreshed on an unknown `kid`).
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// Require this `iss` in JWTs.
    #[arg(long, value_name = "ISSUER", requires = "jwt_keys")]
    jwt_issuer: Option<String>,
    /// Require this `aud` in JWTs.
    #[arg(long, value_name = "AUDIENCE", requires = "jwt_keys")]
    jwt_audience: Option<String>,
    /// The JWT claim that names the principal.
    #[arg(long, default_value = "sub", value_name = "CLAIM")]
    principal_claim: String,
    /// Serve `wss://` with this PEM certificate chain (needs `--tls-key`). It must be a
    /// server (end-entity) certificate, not a CA: sign it with a CA and give clients the CA.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "stdio"
    )]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert`.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_cert",
        conflicts_with = "stdio"
    )]
    tls_key: Option<PathBuf>,
    /// Serve `wss://` with a development certificate for `--host` (and `localhost`,
    /// `127.0.0.1`, `::1`) made at start; its CA is written to a file whose path is printed
    /// on stderr, for clients' `--ca-file`. For development only.
    #[arg(long, conflicts_with_all = ["stdio", "tls_cert"])]
    tls_self_signed: bool,
    /// A principal that may list and subscribe to every job (repeatable).
    #[arg(long = "observer", value_name = "PRINCIPAL")]
    observers: Vec<String>,
    /// The dashboard, the browser origin check and `/metrics`.
    #[command(flatten)]
    watch: serve::WatchArgs,
    /// The SIGTERM drain (`--drain-grace`).
    #[command(flatten)]
    drain: drain::DrainArgs,
    /// Heartbeat interval in whole seconds (0 disables).
    #[arg(long, default_value_t = 2, value_name = "SEC")]
    heartbeat_interval: u64,
    /// How long a detached session stays resumable, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SEC")]
    resume_window: u64,
    /// Largest accepted inbound frame.
    #[arg(long, default_value_t = 1_048_576, value_name = "N")]
    max_frame_bytes: usize,
    /// Close a connection that has not completed `session.hello` within SEC seconds
    /// (WebSocket 1008; 0 = never).
    #[arg(long, default_value_t = 10.0, value_name = "SEC", value_parser = parse_seconds)]
    hello_timeout: f64,
    /// After its work, the runtime keeps looking for the next frame for up to US
    /// microseconds before it sleeps (0 = sleep at once). On a quiet machine this answers a
    /// request without a thread wake-up's delay, for at most US of CPU each time it goes
    /// idle.
    #[arg(long, default_value_t = 100, value_name = "US")]
    idle_spin_us: u64,
    /// Tokio worker threads (default: one per CPU core). The runtime's state machine is one
    /// task whatever this is; the workers run the connections' WebSocket work and the
    /// in-process agents. With one worker, the runtime's idle wait (`--idle-spin-us`) also
    /// watches the sockets, so a request reaches it without a thread wake-up.
    #[arg(long, value_name = "N")]
    workers: Option<NonZeroUsize>,
    /// Do not provision credentials (drops `provisioned_credentials`).
    #[arg(long)]
    no_credentials: bool,
    /// Provision credentials over plain `ws://` on a non-loopback address too: this runtime
    /// is behind a TLS-terminating proxy (without it only TLS, loopback and stdio do).
    #[arg(long)]
    behind_tls_proxy: bool,
    /// Demo mode: the contract agents and the well-known demo tokens (`alice-token`,
    /// `bob-token`, `auditor-token`). For trying the runtime out, never for a deployment.
    #[arg(long)]
    demo: bool,
    /// WebSocket mode: stop serving after SEC seconds (0 = run until signalled).
    #[arg(long, default_value_t = 0.0, value_name = "SEC", value_parser = parse_seconds)]
    exit_after: f64,
    /// SQLite durable store (without it, no durable store).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// PostgreSQL durable store instead of SQLite: a `postgresql://` URL or a `key=value`
    /// connection string. The schema is migrated at start; the server is reached without TLS
    /// (a Unix socket, loopback or a tunnel). Every node started with the same URL (and
    /// schema) joins one cluster: any node accepts the resume of any session, and the jobs
    /// of a node that stops refreshing its liveness end INTERNAL_ERROR (retryable).
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    postgres: Option<String>,
    /// This node's id in the cluster, shown as `runtime.node_id` in every welcome (default:
    /// `node-` and 8 random hex digits). Restart a node with its own id so its unfinished
    /// jobs end "runtime restarted" at once rather than after the liveness timeout.
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// With --postgres: seconds without a liveness refresh after which a node is declared
    /// lost and its unfinished jobs are ended by another node.
    #[arg(long, value_name = "SEC", requires = "postgres", value_parser = parse_seconds)]
    liveness_timeout: Option<f64>,
    /// With --postgres: the schema holding the tables (created if missing; lowercase letters,
    /// digits and _), so several deployments can share one database. Default: the
    /// connection's current schema (usually `public`).
    #[arg(long, value_name = "NAME", requires = "postgres")]
    postgres_schema: Option<String>,
    /// Live sessions one principal may hold; over it a hello is refused PERMISSION_DENIED
    /// (`details.limit` "sessions_per_principal").
    #[arg(long, value_name = "N", default_value_t = arcp_proto::runtime::DEFAULT_MAX_SESSIONS_PER_PRINCIPAL)]
    max_sessions_per_principal: usize,
    /// Detached sessions one principal may keep resumable; over it its oldest is expired.
    #[arg(long, value_name = "N", default_value_t = arcp_proto::runtime::DEFAULT_MAX_RESUMABLE_SESSIONS_PER_PRINCIPAL)]
    max_resumable_sessions_per_principal: usize,
    /// Unfinished jobs one principal may have; over it a submit is refused PERMISSION_DENIED
    /// (`details.limit` "jobs_per_principal").
    #[arg(long, value_name = "N", default_value_t = arcp_proto::runtime::DEFAULT_MAX_JOBS_PER_PRINCIPAL)]
    max_jobs_per_principal: usize,
    /// How long a finished job stays listed and subscribable after it ends, in seconds
    /// (default: the resume window; a job with an idempotency key is kept at least the
    /// key's lifetime). Then it is forgotten.
    #[arg(long, value_name = "SEC", value_parser = parse_seconds)]
    finished_job_ttl: Option<f64>,
    /// Estimated bytes of all finished job records together; over it the oldest finished
    /// job is forgotten.
    #[arg(long, value_name = "N", default_value_t = arcp_proto::runtime::Bounds::default().max_finished_job_bytes)]
    max_finished_job_bytes: usize,
    /// Bytes of the terminal messages kept for idempotent resubmits; over it the oldest such
    /// job is forgotten (a resubmit of its key then starts a new job).
    #[arg(long, value_name = "N", default_value_t = arcp_proto::runtime::Bounds::default().max_kept_terminal_bytes)]
    max_kept_terminal_bytes: usize,
    /// Bytes kept in the rings of all detached sessions together; over it the session
    /// detached longest ago expires early (its resume gets RESUME_WINDOW_EXPIRED).
    #[arg(long, value_name = "N", default_value_t = arcp_proto::runtime::Bounds::default().max_resumable_ring_bytes)]
    max_resumable_ring_bytes: usize,
    /// How long a session whose resume window elapsed is remembered, in seconds (a resume
    /// then gets RESUME_WINDOW_EXPIRED; after it, the refusal of an unknown session).
    #[arg(long, value_name = "SEC", value_parser = parse_seconds,
          default_value_t = arcp_proto::runtime::Bounds::default().expired_session_grace.as_secs_f64())]
    expired_session_grace: f64,
    /// Process agents (`--agent`, `--agent-default`, `--agent-*`).
    #[command(flatten)]
    agents: serve_agents::AgentArgs,
}

/// `--url`, `--token`, `--ca-file` and `--state-file`, shared by the client commands.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// WebSocket URL of the runtime (`ws://` or `wss://`).
    #[arg(long, env = "ARCP_URL", default_value = "ws://127.0.0.1:7777/arcp")]
    url: String,
    /// Bearer token (required: there is no default; `arcp serve --demo` accepts
    /// `alice-token`).
    #[arg(long, env = "ARCP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// `wss://`: also trust the CA certificate(s) in this PEM file.
    #[arg(long, env = "ARCP_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The CLI's state file (the sessions `arcp submit` opened, to cancel and tail their
    /// jobs later); default `$XDG_STATE_HOME/arcp/sessions.json` or
    /// `~/.local/state/arcp/sessions.json`.
    #[arg(long, env = "ARCP_STATE_FILE", value_name = "PATH")]
    state_file: Option<PathBuf>,
}

/// The refusal of a client command without a token.
const NO_TOKEN: &str = "no token: pass --token TOKEN or set ARCP_TOKEN (a runtime started \
with `arcp serve --demo` accepts alice-token)";

impl ConnectArgs {
    /// The token, or the refusal when none is given.
    fn token(&self) -> Result<&str, Failure> {
        match self.token.as_deref() {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(Failure::Usage(NO_TOKEN.to_owned())),
        }
    }

    /// The state file (see [`state`]).
    fn state(&self) -> Result<state::StateFile, Failure> {
        match self.state_file.clone().or_else(state::default_path) {
            Some(p) => Ok(state::StateFile::at(p)),
            None => Err(Failure::Error(
                "no state file: set --state-file, ARCP_STATE_FILE, XDG_STATE_HOME or HOME"
                    .to_owned(),
            )),
        }
    }

    /// A client builder with the URL, token and CA.
    fn builder(&self) -> Result<ClientBuilder, Failure> {
        let mut b = Client::builder(self.url.clone())
            .client_info("arcp-cli", env!("CARGO_PKG_VERSION"))
            .token(self.token()?.to_owned());
        if let Some(ca) = &self.ca_file {
            b = b.ca_file(ca.clone());
        }
        Ok(b)
    }
}

#[derive(Debug, Args)]
struct SubmitArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    /// Print raw JSON lines instead of progress bars and readable lines.
    #[arg(long)]
    json: bool,
    /// A lease entry: capability namespace and glob pattern, e.g. `tool.call=search.*`
    /// (repeatable; patterns of one namespace add up).
    #[arg(long = "lease", value_name = "NS=PATTERN", value_parser = parse_lease)]
    leases: Vec<(String, String)>,
    /// A budget amount in the `cost.budget` lease namespace, `CURRENCY:AMOUNT`, e.g.
    /// `USD:5.00` (repeatable, one per currency).
    #[arg(long = "budget", value_name = "CURRENCY:AMOUNT", value_parser = parse_budget)]
    budgets: Vec<String>,
    /// The lease expires this many seconds after submission (`lease_constraints.expires_at`).
    #[arg(long, value_name = "SEC", conflicts_with = "expires_at")]
    expires_in: Option<u64>,
    /// The lease expires at this RFC 3339 time, e.g. `2030-01-01T00:00:00Z`.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    expires_at: Option<Timestamp>,
    /// An idempotency key (1..=256 characters): a resubmit with the same key and input gets
    /// the same job.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// The job is ended `TIMEOUT` after this many seconds (1..=86400).
    #[arg(long, value_name = "SEC", value_parser = clap::value_parser!(u32).range(1..=86_400))]
    max_runtime: Option<u32>,
    /// Print the job id and leave the job running (`arcp tail JOB`, `arcp cancel JOB` later).
    #[arg(long)]
    detach: bool,
    /// The agent (`name` or `name@version`).
    agent: String,
    /// The input, as JSON (default `{}`).
    #[arg(value_name = "INPUT_JSON", value_parser = parse_json)]
    input: Option<serde_json::Value>,
}

#[derive(Debug, Args)]
struct TailArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    /// Print raw JSON lines.
    #[arg(long)]
    json: bool,
    /// The job.
    job: JobId,
}

#[derive(Debug, Args)]
struct JobsArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    /// One JSON object per job, one per line, instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CancelArgs {
    #[command(flatten)]
    conn: ConnectArgs,
    /// The job.
    job: JobId,
}

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// The SQLite log (`arcp serve --db PATH`).
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// The session whose frames to print.
    #[arg(long, value_name = "ID")]
    session: String,
}

fn parse_token(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((t, p)) if !t.is_empty() && !p.is_empty() => Ok((t.to_owned(), p.to_owned())),
        _ => Err(format!("expected TOKEN=PRINCIPAL, got {s:?}")),
    }
}

fn parse_lease(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((ns, p)) if !ns.is_empty() && !p.is_empty() => Ok((ns.to_owned(), p.to_owned())),
        _ => Err(format!(
            "expected NS=PATTERN, e.g. tool.call=search.*, got {s:?}"
        )),
    }
}

fn parse_budget(s: &str) -> Result<String, String> {
    match s.split_once(':') {
        Some((cur, amount))
            if !cur.is_empty()
                && cur.chars().all(|c| c.is_ascii_uppercase())
                && amount
                    .parse::<f64>()
                    .is_ok_and(|a| a.is_finite() && a >= 0.0) =>
        {
            Ok(s.to_owned())
        }
        _ => Err(format!(
            "expected CURRENCY:AMOUNT, e.g. USD:5.00, got {s:?}"
        )),
    }
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| format!("not an RFC 3339 time: {}", e.0))
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number of seconds >= 0, got {s:?}")),
    }
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not valid JSON: {e}"))
}

/// A failure of a command, as the person at the terminal sees it.
#[derive(Debug)]
enum Failure {
    /// Something to add to the command line (exit 2), printed as `error: {0}`.
    Usage(String),
    /// Anything else (exit 1), printed as `error: {0}`.
    Error(String),
}

impl Failure {
    /// A client error: a refusal or failed job is `CODE: message`, a transport failure
    /// while connecting to `url` is `cannot connect to URL: reason`.
    fn client(url: &str, e: ClientError) -> Self {
        match e {
            ClientError::Refused { code, message, .. }
            | ClientError::JobFailed { code, message, .. } => {
                Failure::Error(format!("{code}: {message}"))
            }
            ClientError::Transport { message, .. } => {
                // The client's own text already names the URL when the connect failed.
                let mut text = if message.starts_with("cannot connect to ") {
                    message
                } else {
                    format!("cannot connect to {url}: {message}")
                };
                if let Some(hint) = tls_hint(&text) {
                    text.push_str(" (");
                    text.push_str(hint);
                    text.push(')');
                }
                Failure::Error(text)
            }
            other => Failure::Error(other.to_string()),
        }
    }
}

/// Opens a new session with the shared `--url` / `--token` / `--ca-file`.
async fn connect(args: &ConnectArgs) -> Result<Client, Failure> {
    args.builder()?
        .connect()
        .await
        .map_err(|e| Failure::client(&args.url, e))
}

/// A sentence for the TLS failures a newcomer meets, appended to the transport error.
fn tls_hint(message: &str) -> Option<&'static str> {
    if message.contains("CaUsedAsEndEntity") {
        Some(
            "the runtime presents a CA certificate as its own server certificate (what a \
one-line `openssl req -x509` makes), which TLS clients refuse: sign a server certificate \
with a CA, serve that and pass the CA to --ca-file, or use `arcp serve --tls-self-signed` \
for development",
        )
    } else if message.contains("UnknownIssuer") {
        Some(
            "the runtime's certificate is not signed by a CA this client trusts: pass that CA with --ca-file",
        )
    } else if message.contains("NotValidForName") {
        Some(
            "the runtime's certificate does not name the host in --url: connect by a name the certificate lists",
        )
    } else {
        None
    }
}

fn main() {
    std::process::exit(real_main());
}

/// The process's tokio runtime: `workers` worker threads, or tokio's default (one per core).
fn tokio_runtime(workers: Option<NonZeroUsize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        b.worker_threads(n.get());
    }
    b.enable_all().build()
}

/// Parses the process's arguments, runs the command, and returns the exit code.
fn real_main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let workers = match &cli.command {
        Command::Serve(a) => a.workers,
        Command::Bench(a) => a.own_workers(),
        _ => None,
    };
    let runtime = match tokio_runtime(workers) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    let telemetry = telemetry::init();
    let outcome = runtime.block_on(run(cli));
    // Don't wait for a blocking stdin read (stdio serving) on the way out.
    runtime.shutdown_background();
    drop(telemetry);
    match outcome {
        Ok(code) => code,
        Err(Failure::Error(msg)) => {
            eprintln!("error: {msg}");
            EXIT_FAILURE
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}");
            EXIT_USAGE
        }
    }
}

/// Help and version go to stdout (exit 0); any other parse error is one line (exit 2).
fn usage_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                EXIT_USAGE
            } else {
                0
            }
        }
        _ => {
            let text = e.render().to_string();
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see `arcp --help`)");
            EXIT_USAGE
        }
    }
}

async fn run(cli: Cli) -> Result<i32, Failure> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo => demo::run().await,
        Command::Submit(args) => submit::run(args).await,
        Command::Tail(args) => tail::run(args).await,
        Command::Jobs(args) => jobs::run(args).await,
        Command::Completions(args) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "arcp", &mut script);
            // A closed pipe (`arcp completions bash | head`) is not a failure.
            let mut out = std::io::stdout().lock();
            let _ = std::io::Write::write_all(&mut out, &script);
            let _ = std::io::Write::flush(&mut out);
            Ok(0)
        }
        Command::Cancel(args) => cancel::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_pairs_parse() {
        assert_eq!(
            parse_token("t=alice"),
            Ok(("t".to_owned(), "alice".to_owned()))
        );
        assert_eq!(
            parse_token("t="),
            Err("expected TOKEN=PRINCIPAL, got \"t=\"".to_owned())
        );
        assert_eq!(
            parse_token("nope"),
            Err("expected TOKEN=PRINCIPAL, got \"nope\"".to_owned())
        );
    }

    #[test]
    fn serve_defaults_match_the_reference() {
        let cli = Cli::try_parse_from(["arcp", "serve", "--port", "0"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.port, Some(0));
        assert!(!a.stdio);
        assert_eq!(a.host, "127.0.0.1");
        assert_eq!(a.path, "/arcp");
        assert!(a.tokens.is_empty());
        assert!(a.observers.is_empty());
        assert_eq!(a.heartbeat_interval, 2);
        assert_eq!(a.resume_window, 600);
        assert_eq!(a.max_frame_bytes, 1_048_576);
        assert_eq!(a.hello_timeout, 10.0);
        assert_eq!(
            std::time::Duration::from_micros(a.idle_spin_us),
            arcp_tokio::server::DEFAULT_IDLE_SPIN
        );
        assert_eq!(a.workers, None);
        assert!(!a.no_credentials);
        assert_eq!(a.exit_after, 0.0);
        assert_eq!(a.db, None);
        assert_eq!(a.postgres, None);
        assert_eq!(a.postgres_schema, None);
        assert_eq!(a.jwt_secret, None);
        assert_eq!(a.jwt_public_key, None);
        assert_eq!(a.jwks_url, None);
        assert_eq!(a.principal_claim, "sub");
        assert_eq!(a.tls_cert, None);
        assert!(!a.tls_self_signed);
        assert!(!a.demo);
    }

    #[test]
    fn workers_sets_the_runtime_threads_and_refuses_zero() {
        let cli = Cli::try_parse_from(["arcp", "serve", "--port", "0", "--workers", "1"]).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.workers, NonZeroUsize::new(1));
        let err =
            Cli::try_parse_from(["arcp", "serve", "--port", "0", "--workers", "0"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        let one = tokio_runtime(NonZeroUsize::new(1)).unwrap();
        assert_eq!(one.metrics().num_workers(), 1);
        let three = tokio_runtime(NonZeroUsize::new(3)).unwrap();
        assert_eq!(three.metrics().num_workers(), 3);
        if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
            let default = tokio_runtime(None).unwrap();
            let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
            assert_eq!(default.metrics().num_workers(), cores);
        }
    }

    #[test]
    fn serve_postgres_flags() {
        let cli = Cli::try_parse_from([
            "arcp",
            "serve",
            "--port",
            "0",
            "--postgres",
            "host=/tmp/pg dbname=arcp",
            "--postgres-schema",
            "node_a",
        ])
        .unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(a.postgres.as_deref(), Some("host=/tmp/pg dbname=arcp"));
        assert_eq!(a.postgres_schema.as_deref(), Some("node_a"));
        let both = Cli::try_parse_from([
            "arcp",
            "serve",
            "--port",
            "0",
            "--db",
            "a.db",
            "--postgres",
            "x",
        ]);
        assert_eq!(
            both.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::ArgumentConflict)
        );
        let alone = Cli::try_parse_from(["arcp", "serve", "--port", "0", "--postgres-schema", "x"]);
        assert_eq!(
            alone.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::MissingRequiredArgument)
        );
    }

    #[test]
    fn submit_flags_build_the_request() {
        let cli = Cli::try_parse_from([
            "arcp",
            "submit",
            "--token",
            "t",
            "--lease",
            "tool.call=a.*",
            "--lease",
            "fs.read=/tmp/**",
            "--lease",
            "tool.call=b",
            "--budget",
            "USD:5.00",
            "--expires-at",
            "2030-01-01T00:00:00Z",
            "--idempotency-key",
            "k",
            "--max-runtime",
            "60",
            "--detach",
            "echo",
        ])
        .unwrap();
        let Command::Submit(a) = cli.command else {
            panic!("not submit")
        };
        assert!(a.detach);
        let core = submit::request(&a).into_core();
        assert_eq!(
            core.lease_request.0,
            vec![
                (
                    "tool.call".to_owned(),
                    vec!["a.*".to_owned(), "b".to_owned()]
                ),
                ("fs.read".to_owned(), vec!["/tmp/**".to_owned()]),
                ("cost.budget".to_owned(), vec!["USD:5.00".to_owned()]),
            ]
        );
        assert_eq!(
            core.lease_constraints.unwrap().expires_at,
            Some(Timestamp::parse("2030-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(core.idempotency_key.as_deref(), Some("k"));
        assert_eq!(core.max_runtime_sec, Some(60));
        let both = Cli::try_parse_from([
            "arcp",
            "submit",
            "--expires-in",
            "5",
            "--expires-at",
            "2030-01-01T00:00:00Z",
            "echo",
        ])
        .unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn tls_hints_name_the_fix() {
        assert!(
            tls_hint("x: Other(OtherError(CaUsedAsEndEntity))")
                .is_some_and(|h| h.contains("--tls-self-signed"))
        );
        assert!(tls_hint("x: UnknownIssuer").is_some_and(|h| h.contains("--ca-file")));
        assert_eq!(tls_hint("Connection refused"), None);
    }

    #[test]
    fn serve_jwt_and_tls_flags_need_their_partners() {
        let kind = |args: &[&str]| {
            let mut v = vec!["arcp", "serve", "--port", "0"];
            v.extend_from_slice(args);
            Cli::try_parse_from(v).map(|_| ()).map_err(|e| e.kind())
        };
        use clap::error::ErrorKind;
        assert_eq!(
            kind(&["--jwt-issuer", "i"]),
            Err(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            kind(&["--jwt-audience", "a"]),
            Err(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            kind(&["--jwks-url", "http://x", "--jwt-issuer", "i"]),
            Ok(())
        );
        assert_eq!(kind(&["--jwt-secret", "s", "--jwt-audience", "a"]), Ok(()));
        assert_eq!(
            kind(&["--tls-cert", "c"]),
            Err(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            kind(&["--tls-key", "k"]),
            Err(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(kind(&["--tls-cert", "c", "--tls-key", "k"]), Ok(()));
        let stdio = Cli::try_parse_from([
            "arcp",
            "serve",
            "--stdio",
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
        ]);
        assert_eq!(
            stdio.map(|_| ()).map_err(|e| e.kind()),
            Err(ErrorKind::ArgumentConflict)
        );
    }

    #[test]
    fn serve_needs_exactly_one_mode() {
        let none = Cli::try_parse_from(["arcp", "serve"]).unwrap_err();
        assert_eq!(none.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let both = Cli::try_parse_from(["arcp", "serve", "--port", "1", "--stdio"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn submit_parses_agent_and_json_input() {
        let cli = Cli::try_parse_from(["arcp", "submit", "--json", "echo", "{\"a\":1}"]).unwrap();
        let Command::Submit(a) = cli.command else {
            panic!("not submit")
        };
        assert!(a.json);
        assert_eq!(a.agent, "echo");
        assert_eq!(a.input, Some(serde_json::json!({"a": 1})));
        let bad = Cli::try_parse_from(["arcp", "submit", "echo", "{nope"]).unwrap_err();
        assert_eq!(bad.kind(), clap::error::ErrorKind::ValueValidation);
    }
}
