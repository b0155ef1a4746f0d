//! `arcp bench`: the end-to-end load tool. It starts a bench runtime (by default as a child
//! process, `arcp bench --serve-only`, so the server's own RSS can be read from
//! `/proc/<pid>/status`), drives it with a raw tokio-tungstenite load client over loopback and
//! prints one `name value` line per figure:
//!
//! - one streaming job: the `firehose` agent asked for `--events` events, a fresh session per
//!   run, timed from the submit to the `job.result`; the median of `--runs`, plus the time to
//!   the first event;
//! - submit→accepted latency over `--submits` sequential `echo` submits on one session;
//! - server RSS per idle session, before/after opening `--idle-sessions` sessions that
//!   completed hello/welcome;
//! - jobs/s and accept p99 with each of `--sessions` concurrent sessions, each submitting
//!   `--jobs-per-session` `echo` jobs in sequence (the next submit once the previous one was
//!   accepted; a session is done when all its results arrived);
//! - with `--open-loop-rate` / `--open-loop-search`, the open-loop figures (`open_loop_…`):
//!   `echo` submits at a fixed aggregate rate over many sessions, accept latency taken from
//!   each submit's due time (see `open_loop`);
//! - the streaming figure again with the SQLite store on (a temporary file);
//! - with `--process-agent 'COMMAND LINE'`, the streaming figure again (`…_process`) with that
//!   program as the agent (a process agent, docs/agent-protocol.md), asked for the same
//!   `{"count": N}`: e.g. `python3 agents/python/examples/firehose.py`;
//! - with `--postgres URL`, the streaming figure and the submit→accepted latency again
//!   (`…_postgres`) against a child `--serve-only --postgres URL` (node `bench-a`);
//! - the resume latency, with `--resume-url URL2` (and `--url URL1`) or with `--postgres` (two
//!   child nodes on the same schema, `bench-a` and `bench-b`): `--resumes` times, a session on
//!   the first runtime runs `firehose {count: --resume-events}` to its result, its TCP
//!   connection is dropped without `session.bye`, and a resume hello (`last_event_seq` 0) is
//!   sent to the second; timed from that send to the first replayed seq-bearing frame
//!   (`resume_other_node_us_…`, or `resume_same_node_us_…` when both URLs are the same).
//!
//! A figure whose count is 0 (`--runs`, `--submits`, `--idle-sessions`, `--sessions 0`) is
//! skipped.
//!
//! Counts (`events_received`, `results_received`, …) are exact and checked by the tests;
//! timings are never asserted.

mod load;
mod nodes;
mod open_loop;
mod resume;
mod server;

use super::Failure;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// `arcp bench` arguments.
#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// Measure this runtime instead of starting one (it must host `firehose`, e.g. a second
    /// `arcp bench --serve-only --port 7777`); no RSS or SQLite figure then.
    #[arg(long, conflicts_with = "postgres")]
    url: Option<String>,
    /// The resume figure: resume the `--url` runtime's sessions on this runtime (another node
    /// of the same cluster; the same URL measures a same-node resume).
    #[arg(long, value_name = "URL", requires = "url")]
    resume_url: Option<String>,
    /// Resumes of the resume figure (0 skips it).
    #[arg(long, value_name = "N", default_value_t = 200)]
    resumes: usize,
    /// Events of the `firehose` job each resumed session ran (0: an `echo` job instead).
    #[arg(long, value_name = "K", default_value_t = 10)]
    resume_events: u64,
    /// Bearer token of the load client.
    #[arg(long, default_value = "alice-token")]
    token: String,
    /// Run the bench runtime inside this process instead of a child (no RSS figure).
    #[arg(long, conflicts_with = "url")]
    in_process: bool,
    /// `firehose` events per streaming run.
    #[arg(long, default_value_t = 120_000)]
    events: u64,
    /// Streaming runs (the median is printed; 0 skips the streaming figures).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Sequential `echo` submits for the submit→accepted latency (0 skips it).
    #[arg(long, default_value_t = 5_000)]
    submits: usize,
    /// The submit→accepted figures: the load client polls for each reply for up to US
    /// microseconds before it sleeps, on a single-threaded runtime of its own (0: it sleeps
    /// at once). This leaves the client's own thread wake-up out of the figure; it costs
    /// up to US of CPU per reply on the client's side. Printed as `accept_client_spin_us`.
    #[arg(long, value_name = "US", default_value_t = 0)]
    client_spin_us: u64,
    /// Tokio worker threads of the bench runtime (the child `--serve-only`, or this process
    /// with `--serve-only` or `--in-process`); default: one per CPU core.
    #[arg(long, value_name = "N", conflicts_with = "url")]
    workers: Option<std::num::NonZeroUsize>,
    /// Idle sessions for the RSS figure (0 skips it).
    #[arg(long, default_value_t = 1_000)]
    idle_sessions: usize,
    /// Concurrent-session figures: the session counts (comma-separated; `0` skips them).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    sessions: Vec<usize>,
    /// The open-loop figure (`open_loop_…`): this many `echo` submits per second in all,
    /// spread over `--open-loop-sessions` sessions, each due at its time whatever the
    /// earlier ones' fate; accept latency taken from the due time.
    #[arg(long, value_name = "PER_SEC")]
    open_loop_rate: Option<u64>,
    /// The open-loop search: these rates (comma-separated) in increasing order until the
    /// accept p99 exceeds 10 ms or a submit goes unanswered; prints
    /// `open_loop_max_rate_p99_10ms`. Without a list: 2000,5000,10000,20000,50000,100000.
    #[arg(
        long,
        value_name = "RATES",
        value_delimiter = ',',
        num_args = 0..,
        default_missing_value = "2000,5000,10000,20000,50000,100000"
    )]
    open_loop_search: Option<Vec<u64>>,
    /// Seconds of load of each open-loop run.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    open_loop_secs: u64,
    /// Sessions of each open-loop run.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    open_loop_sessions: usize,
    /// `echo` jobs each concurrent session submits in sequence.
    #[arg(long, default_value_t = 20)]
    jobs_per_session: usize,
    /// Skip the SQLite streaming figure.
    #[arg(long)]
    no_db: bool,
    /// Only serve: start the bench runtime (contract agents + `firehose`), print
    /// `LISTENING ws://…`, and serve until stdin closes or a signal arrives.
    #[arg(long, hide = true)]
    serve_only: bool,
    /// `--serve-only`: the port (0 = any free port).
    #[arg(long, default_value_t = 0, requires = "serve_only")]
    port: u16,
    /// `--serve-only`: the SQLite durable store.
    #[arg(
        long,
        value_name = "PATH",
        requires = "serve_only",
        conflicts_with = "postgres"
    )]
    db: Option<PathBuf>,
    /// The PostgreSQL durable store (a `postgresql://` URL or a `key=value` connection
    /// string): with `--serve-only`, the bench runtime's store; otherwise the `…_postgres`
    /// figures and the cross-node resume figure on child nodes using it.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// With --postgres: the schema holding the tables (created if missing). Default: the
    /// connection's current schema.
    #[arg(long, value_name = "NAME", requires = "postgres")]
    postgres_schema: Option<String>,
    /// `--serve-only --postgres`: this node's id in the cluster (default `bench-<pid>`).
    #[arg(long, value_name = "ID", requires = "serve_only")]
    node_id: Option<String>,
    /// The bench runtime's per-session ring cap (`max_ring_events`) for the durable runs
    /// (SQLite, PostgreSQL); default the runtime's (`Bounds::max_ring_events`, 10,000). With
    /// a store, frames are sent only once durable and the job waits while its session's
    /// not-yet-durable backlog is at this cap (README "Backpressure"): nothing is cut.
    #[arg(long, value_name = "N")]
    ring_events: Option<usize>,
    /// Also measure the one-job stream from this program hosted as a process agent
    /// (`firehose-process`; it gets `{"count": N}` and writes N events, e.g.
    /// `python3 agents/python/examples/firehose.py`). Figures with the suffix `_process`.
    #[arg(long, value_name = "COMMAND LINE")]
    process_agent: Option<String>,
}

impl BenchArgs {
    /// The worker threads of this process's runtime: `--workers` when this process runs the
    /// bench runtime (`--serve-only`, `--in-process`); `None` (tokio's default) otherwise.
    pub(super) fn own_workers(&self) -> Option<std::num::NonZeroUsize> {
        if self.serve_only || self.in_process {
            self.workers
        } else {
            None
        }
    }

    /// The load client's reply polling (`--client-spin-us`).
    fn client_spin(&self) -> Duration {
        Duration::from_micros(self.client_spin_us)
    }
}

/// Prints one figure line (and flushes, so a reader of the pipe sees it at once).
fn figure(name: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    println!("{name} {value}");
    let _ = std::io::stdout().flush();
}

pub(super) async fn run(args: BenchArgs) -> Result<i32, Failure> {
    let postgres = args.postgres.clone().map(|url| server::Postgres {
        url,
        schema: args.postgres_schema.clone(),
    });
    if args.serve_only {
        let durable = match (&postgres, &args.db) {
            (Some(pg), _) => server::Durable::Postgres(
                pg.clone(),
                args.node_id
                    .clone()
                    .unwrap_or_else(|| format!("bench-{}", std::process::id())),
            ),
            (None, Some(db)) => server::Durable::Sqlite(db.clone()),
            (None, None) => server::Durable::Memory,
        };
        return server::serve_only(
            args.port,
            &durable,
            args.ring_events,
            args.process_agent.as_deref(),
        )
        .await;
    }
    let memory = server::Durable::Memory;
    let target = match &args.url {
        Some(url) => server::Target::external(url.clone()),
        None => start(&args, &memory, None, args.process_agent.as_deref()).await?,
    };
    figure("server", target.kind());
    let mut r = measure(&args, &target).await;
    if let (Ok(()), Some(to)) = (&r, &args.resume_url) {
        r = nodes::resume_figure(&args, target.url(), to).await;
    }
    if r.is_ok() {
        r = open_loop_figures(&args, target.url()).await;
    }
    target.stop().await;
    r?;
    if args.url.is_none() && !args.no_db && args.runs > 0 {
        let db = server::TempDb::new();
        figure("sqlite_max_ring_events", ring_events(&args));
        let durable = server::Durable::Sqlite(db.path().to_path_buf());
        let target = start(&args, &durable, args.ring_events, None).await?;
        let r = streaming(&args, &target, "_sqlite", "firehose").await;
        target.stop().await;
        r?;
    }
    if let Some(pg) = postgres {
        nodes::postgres_figures(&args, pg).await?;
    }
    Ok(0)
}

/// The open-loop figures, when `--open-loop-rate` or `--open-loop-search` asks for them.
async fn open_loop_figures(args: &BenchArgs, url: &str) -> Result<(), Failure> {
    if let Some(rate) = args.open_loop_rate {
        let plan = open_loop::Plan {
            rate,
            secs: args.open_loop_secs,
            sessions: args.open_loop_sessions,
        };
        let o = open_loop::run(url, &args.token, plan)
            .await
            .map_err(Failure::Error)?;
        open_loop::print(&plan, &o);
    }
    if let Some(rates) = &args.open_loop_search {
        open_loop::search(
            url,
            &args.token,
            rates,
            args.open_loop_secs,
            args.open_loop_sessions,
        )
        .await;
    }
    Ok(())
}

/// The ring cap of a durable run: `--ring-events`, default the runtime's.
fn ring_events(args: &BenchArgs) -> usize {
    args.ring_events
        .unwrap_or_else(|| arcp_proto::runtime::Bounds::default().max_ring_events)
}

/// Starts a bench runtime on `durable`: in this process with `--in-process`, else a child.
async fn start(
    args: &BenchArgs,
    durable: &server::Durable,
    ring: Option<usize>,
    process: Option<&str>,
) -> Result<server::Target, Failure> {
    if args.in_process {
        server::Target::in_process(durable, ring, process).await
    } else {
        server::Target::child(durable, ring, process, args.workers).await
    }
}

async fn measure(args: &BenchArgs, target: &server::Target) -> Result<(), Failure> {
    let url = target.url();
    streaming(args, target, "", "firehose").await?;
    if args.process_agent.is_some() {
        streaming(args, target, "_process", server::PROCESS_FIREHOSE).await?;
    }

    if args.submits > 0 {
        let lat = load::accept_latency(url, &args.token, args.submits, args.client_spin())
            .await
            .map_err(Failure::Error)?;
        if args.client_spin_us > 0 {
            figure("accept_client_spin_us", args.client_spin_us);
        }
        figure("accept_submits", args.submits);
        figure("accept_results_received", lat.results);
        percentiles("accept_us_p50", "accept_us_p99", &lat.accept);
    }
    if args.idle_sessions > 0 {
        idle_rss(args, target).await?;
    }
    for &n in args.sessions.iter().filter(|&&n| n > 0) {
        sessions_figure(args, url, n).await?;
    }
    Ok(())
}

/// RSS per idle session: the server's RSS before and after opening `--idle-sessions`.
async fn idle_rss(args: &BenchArgs, target: &server::Target) -> Result<(), Failure> {
    let url = target.url();
    let before = target.rss_kb();
    let idle = load::open_sessions(url, &args.token, args.idle_sessions)
        .await
        .map_err(Failure::Error)?;
    // Let the server finish its per-connection work before reading its RSS.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = target.rss_kb();
    figure("idle_sessions", idle.len());
    match (before, after) {
        (Some(b), Some(a)) => {
            figure("server_rss_kb_before", b);
            figure("server_rss_kb_after", a);
            let per = (a.saturating_sub(b) * 1024) / (idle.len().max(1) as u64);
            figure("rss_per_idle_session_bytes", per);
        }
        _ => figure("rss_per_idle_session_bytes", "n/a"),
    }
    load::close_all(idle).await;
    Ok(())
}

/// The closed-loop figure of `n` concurrent sessions.
async fn sessions_figure(args: &BenchArgs, url: &str, n: usize) -> Result<(), Failure> {
    let c = load::concurrent(url, &args.token, n, args.jobs_per_session)
        .await
        .map_err(Failure::Error)?;
    let jobs = n * args.jobs_per_session;
    figure(&format!("sessions_{n}_jobs"), jobs);
    figure(&format!("sessions_{n}_accepted"), c.accept.len());
    figure(&format!("sessions_{n}_results_received"), c.results);
    figure(
        &format!("jobs_per_sec_{n}_sessions"),
        per_sec(c.results as u64, c.elapsed),
    );
    percentiles(
        format!("accept_us_p50_{n}_sessions"),
        format!("accept_us_p99_{n}_sessions"),
        &c.accept,
    );
    Ok(())
}

/// The streaming figure of `agent` (`suffix` "", "_process" or "_sqlite"): median of `--runs`
/// fresh-session runs.
async fn streaming(
    args: &BenchArgs,
    target: &server::Target,
    suffix: &str,
    agent: &str,
) -> Result<(), Failure> {
    let mut rates = Vec::with_capacity(args.runs);
    let mut firsts = Vec::with_capacity(args.runs);
    let mut last = None;
    for _ in 0..args.runs {
        let s = load::stream_once(target.url(), &args.token, agent, args.events)
            .await
            .map_err(Failure::Error)?;
        rates.push(per_sec(s.events, s.elapsed));
        firsts.push(s.first_event.unwrap_or(s.elapsed));
        last = Some(s);
    }
    let Some(s) = last else {
        return Ok(());
    };
    figure(&format!("events_requested{suffix}"), args.events);
    figure(&format!("events_received{suffix}"), s.events);
    figure(&format!("frames_received{suffix}"), s.frames);
    let mut sorted = rates.clone();
    sorted.sort_unstable();
    figure(
        &format!("events_per_sec_one_job{suffix}"),
        sorted[sorted.len() / 2],
    );
    figure(
        &format!("events_per_sec_one_job{suffix}_runs"),
        rates
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    firsts.sort_unstable();
    figure(
        &format!("first_event_us{suffix}"),
        firsts[firsts.len() / 2].as_micros(),
    );
    Ok(())
}

fn per_sec(n: u64, d: Duration) -> u64 {
    let s = d.as_secs_f64();
    if s > 0.0 { (n as f64 / s) as u64 } else { 0 }
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}

/// Prints the p50 and p99 (nearest rank, in µs) of `samples` as figures `p50` and `p99`.
fn percentiles(p50: impl AsRef<str>, p99: impl AsRef<str>, samples: &[Duration]) {
    figure(p50.as_ref(), micros(percentile(samples, 50.0)));
    figure(p99.as_ref(), micros(percentile(samples, 99.0)));
}

/// The `p`th percentile (nearest rank) of `samples`; zero when empty.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_micros(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_micros(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_micros(100));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
        let one = [Duration::from_micros(7)];
        assert_eq!(percentile(&one, 1.0), Duration::from_micros(7));
    }

    #[test]
    fn per_sec_of_a_second() {
        assert_eq!(per_sec(1000, Duration::from_millis(500)), 2000);
        assert_eq!(per_sec(5, Duration::ZERO), 0);
    }
}
