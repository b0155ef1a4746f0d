//! `arcp bench` with tiny parameters: every figure line is printed once, and the counts are
//! exact (events received = what `firehose` was asked for, every submit accepted and
//! answered, every resume replayed to its job's result). Timings are never asserted, only
//! that they are numbers.

#[path = "support/pg.rs"]
mod pg;

use std::collections::HashMap;
use std::process::Command;

/// The tiny defaults of these tests: 1,000 events, 2 runs, 50 submits, 10 idle sessions,
/// 10 and 4 concurrent sessions of 3 jobs.
const TINY: &[&str] = &[
    "--events",
    "1000",
    "--runs",
    "2",
    "--submits",
    "50",
    "--idle-sessions",
    "10",
    "--sessions",
    "10,4",
    "--jobs-per-session",
    "3",
];

/// `arcp bench` with the tiny defaults and `extra`: its figures.
fn bench(extra: &[&str]) -> HashMap<String, String> {
    bench_args(&[TINY, extra].concat())
}

/// `arcp bench ARGS`: its figures, each printed once.
fn bench_args(args: &[&str]) -> HashMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_arcp"))
        .arg("bench")
        .args(args)
        .output()
        .expect("arcp runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "arcp bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut figures = HashMap::new();
    for line in stdout.lines() {
        let (k, v) = line.split_once(' ').expect("`name value` lines");
        assert!(
            figures.insert(k.to_owned(), v.to_owned()).is_none(),
            "{k} printed twice"
        );
    }
    figures
}

/// `arcp bench --in-process` with every figure but the open-loop ones skipped, plus `args`.
fn open_loop_only(args: &[&str]) -> HashMap<String, String> {
    let skip = [
        "--in-process",
        "--no-db",
        "--runs",
        "0",
        "--submits",
        "0",
        "--idle-sessions",
        "0",
        "--sessions",
        "0",
    ];
    bench_args(&[&skip[..], args].concat())
}

fn number(f: &HashMap<String, String>, k: &str) -> u64 {
    f.get(k)
        .unwrap_or_else(|| panic!("no {k} line in {f:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{k} is not a number: {:?}", f[k]))
}

fn exact(f: &HashMap<String, String>, k: &str, v: &str) {
    assert_eq!(f.get(k).map(String::as_str), Some(v), "{k}");
}

#[test]
fn child_process_run_prints_every_figure_with_exact_counts() {
    let f = bench(&[]);
    exact(&f, "server", "child-process");
    for suffix in ["", "_sqlite"] {
        exact(&f, &format!("events_requested{suffix}"), "1000");
        exact(&f, &format!("events_received{suffix}"), "1000");
        // accepted + 1,000 events + result
        exact(&f, &format!("frames_received{suffix}"), "1002");
        number(&f, &format!("events_per_sec_one_job{suffix}"));
        number(&f, &format!("first_event_us{suffix}"));
        let runs = &f[&format!("events_per_sec_one_job{suffix}_runs")];
        assert_eq!(runs.split(',').count(), 2, "{runs}");
        for r in runs.split(',') {
            r.parse::<u64>().unwrap();
        }
    }
    exact(&f, "accept_submits", "50");
    exact(&f, "accept_results_received", "50");
    assert!(number(&f, "accept_us_p50") <= number(&f, "accept_us_p99"));
    exact(&f, "idle_sessions", "10");
    assert!(number(&f, "server_rss_kb_before") > 0);
    assert!(number(&f, "server_rss_kb_after") > 0);
    number(&f, "rss_per_idle_session_bytes");
    for (n, jobs) in [(10, "30"), (4, "12")] {
        exact(&f, &format!("sessions_{n}_jobs"), jobs);
        exact(&f, &format!("sessions_{n}_accepted"), jobs);
        exact(&f, &format!("sessions_{n}_results_received"), jobs);
        number(&f, &format!("jobs_per_sec_{n}_sessions"));
        assert!(
            number(&f, &format!("accept_us_p50_{n}_sessions"))
                <= number(&f, &format!("accept_us_p99_{n}_sessions"))
        );
    }
    // The runtime's default ring (`Bounds::max_ring_events`): nothing raised.
    exact(&f, "sqlite_max_ring_events", "10000");
    // server, 6 streaming lines twice, 4 latency, 4 RSS, 6 per session count, the ring cap.
    assert_eq!(f.len(), 1 + 2 * 6 + 4 + 4 + 2 * 6 + 1, "{f:?}");
}

#[test]
fn in_process_run_has_no_rss_figure_and_no_db_skips_sqlite() {
    // One worker thread for the runtime and the load client together.
    let f = bench(&["--in-process", "--no-db", "--workers", "1"]);
    exact(&f, "server", "in-process");
    exact(&f, "events_received", "1000");
    exact(&f, "rss_per_idle_session_bytes", "n/a");
    assert!(!f.contains_key("server_rss_kb_before"));
    assert!(!f.contains_key("events_received_sqlite"));
    exact(&f, "sessions_10_results_received", "30");
}

#[test]
fn a_durable_run_on_a_ring_ten_times_smaller_than_the_job_loses_nothing() {
    // 1,000 events through a 100-event ring with SQLite: the job waits for the store
    // whenever 100 frames are not yet durable (README "Backpressure"); nothing is cut.
    let f = bench(&["--in-process", "--ring-events", "100"]);
    exact(&f, "sqlite_max_ring_events", "100");
    exact(&f, "events_received_sqlite", "1000");
    exact(&f, "frames_received_sqlite", "1002");
}

/// Starts `arcp bench --serve-only` with `extra`: the child and its URL.
fn serve_only(extra: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut server = Command::new(env!("CARGO_BIN_EXE_arcp"))
        .args(["bench", "--serve-only", "--port", "0"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().strip_prefix("LISTENING ").unwrap().to_owned();
    (server, url)
}

#[test]
fn external_url_is_measured_as_is() {
    let (mut server, url) = serve_only(&[]);
    let f = bench(&["--url", &url]);
    exact(&f, "server", "external");
    exact(&f, "events_received", "1000");
    exact(&f, "sessions_4_results_received", "12");
    assert!(!f.contains_key("events_received_sqlite"));
    assert!(!f.contains_key("resumes_completed"));
    // Closing its stdin stops the bench server.
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}

#[test]
fn same_node_resume_replays_every_job_to_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.sqlite");
    let (mut server, url) = serve_only(&["--db", db.to_str().unwrap()]);
    let f = bench(&[
        "--url",
        &url,
        "--resume-url",
        &url,
        "--resumes",
        "5",
        "--resume-events",
        "3",
    ]);
    exact(&f, "resumes_completed", "5");
    // Each resume from seq 0 replays its job's 3 events and its result.
    exact(&f, "resume_replayed_frames", "20");
    number(&f, "resume_attached_retries");
    assert!(number(&f, "resume_same_node_us_p50") <= number(&f, "resume_same_node_us_p99"));
    assert!(!f.contains_key("resume_other_node_us_p50"));
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}

#[test]
fn in_memory_resume_of_echo_jobs() {
    let (mut server, url) = serve_only(&[]);
    let f = bench(&[
        "--url",
        &url,
        "--resume-url",
        &url,
        "--resumes",
        "5",
        "--resume-events",
        "0",
    ]);
    exact(&f, "resumes_completed", "5");
    // An echo job's only seq-bearing frame is its result.
    exact(&f, "resume_replayed_frames", "5");
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}

/// `count(*)` of each query, on a client of the test database.
fn counts(url: &str, queries: &[&str]) -> Vec<i64> {
    let queries: Vec<String> = queries.iter().map(|q| (*q).to_owned()).collect();
    pg::on_db(url, move |c| {
        queries
            .iter()
            .map(|q| c.query_one(q.as_str(), &[]).expect("count").get(0))
            .collect()
    })
}

#[test]
fn postgres_figures_come_from_a_node_storing_in_postgres() {
    let Some(url) = pg::postgres_url("bench --postgres") else {
        return;
    };
    let schema = format!("bench_cli_{}", std::process::id());
    // 5 sessions of node bench-a resumed on node bench-b, each replaying a firehose job of
    // 10 events and its result.
    let f = bench(&[
        "--no-db",
        "--postgres",
        &url,
        "--postgres-schema",
        &schema,
        "--resumes",
        "5",
    ]);
    exact(&f, "postgres_max_ring_events", "10000");
    exact(&f, "events_requested_postgres", "1000");
    exact(&f, "events_received_postgres", "1000");
    exact(&f, "frames_received_postgres", "1002");
    number(&f, "events_per_sec_one_job_postgres");
    number(&f, "first_event_us_postgres");
    exact(&f, "accept_submits_postgres", "50");
    exact(&f, "accept_results_received_postgres", "50");
    assert!(number(&f, "accept_us_p50_postgres") <= number(&f, "accept_us_p99_postgres"));
    exact(&f, "resumes_completed", "5");
    exact(&f, "resume_replayed_frames", "55");
    assert!(number(&f, "resume_other_node_us_p50") <= number(&f, "resume_other_node_us_p99"));
    // What the nodes stored: 2 streaming sessions, the latency one and the 5 resumed ones;
    // 2 + 50 + 5 jobs.
    let stored = counts(
        &url,
        &[
            &format!("SELECT count(*) FROM \"{schema}\".sessions"),
            &format!("SELECT count(*) FROM \"{schema}\".jobs"),
        ],
    );
    pg::drop_schema(&url, &schema);
    assert_eq!(stored, [8, 57]);
}

#[test]
fn process_agent_run_streams_the_same_count_from_a_python_program() {
    let firehose = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../agents/python/examples/firehose.py"
    );
    let f = bench(&[
        "--in-process",
        "--no-db",
        "--process-agent",
        &format!("python3 {firehose}"),
    ]);
    exact(&f, "events_requested_process", "1000");
    exact(&f, "events_received_process", "1000");
    exact(&f, "frames_received_process", "1002");
    number(&f, "events_per_sec_one_job_process");
    number(&f, "first_event_us_process");
    assert_eq!(
        f["events_per_sec_one_job_process_runs"].split(',').count(),
        2
    );
    exact(&f, "events_received", "1000");
}

/// Every figure but the open-loop ones skipped: the skip flags and one open-loop run of
/// 200 submits/s for 1 s over 10 sessions, every submit accepted and answered.
#[test]
fn open_loop_run_counts_every_submit_and_the_skip_flags_skip() {
    let f = open_loop_only(&[
        "--open-loop-rate",
        "200",
        "--open-loop-secs",
        "1",
        "--open-loop-sessions",
        "10",
    ]);
    exact(&f, "server", "in-process");
    exact(&f, "open_loop_rate", "200");
    exact(&f, "open_loop_secs", "1");
    exact(&f, "open_loop_sessions", "10");
    exact(&f, "open_loop_submits", "200");
    exact(&f, "open_loop_accepted", "200");
    exact(&f, "open_loop_results_received", "200");
    number(&f, "open_loop_results_per_sec");
    assert!(number(&f, "open_loop_accept_us_p50") <= number(&f, "open_loop_accept_us_p99"));
    assert!(number(&f, "open_loop_send_lag_us_p50") <= number(&f, "open_loop_send_lag_us_p99"));
    // server and the 11 open-loop lines: nothing else.
    assert_eq!(f.len(), 12, "{f:?}");
}

/// The search runs its rates in increasing order while they hold; the lowest always runs,
/// and every rate run has its submits accepted and answered exactly.
#[test]
fn open_loop_search_reports_the_highest_rate_that_held() {
    let f = open_loop_only(&[
        "--open-loop-search",
        "100,50",
        "--open-loop-secs",
        "1",
        "--open-loop-sessions",
        "5",
    ]);
    let best = number(&f, "open_loop_max_rate_p99_10ms");
    assert!([0, 50, 100].contains(&best), "{best}");
    let ran: &[u64] = if best == 0 { &[50] } else { &[50, 100] };
    for rate in ran {
        for k in ["submits", "accepted", "results_received"] {
            exact(
                &f,
                &format!("open_loop_search_{rate}_{k}"),
                &rate.to_string(),
            );
        }
        assert!(
            number(&f, &format!("open_loop_search_{rate}_accept_us_p50"))
                <= number(&f, &format!("open_loop_search_{rate}_accept_us_p99"))
        );
    }
    // server, 5 lines per rate run, the result.
    assert_eq!(f.len(), 1 + 5 * ran.len() + 1, "{f:?}");
}

/// The side-by-side invocation (benches/side_by_side.sh) against a runtime at a URL (one
/// worker thread, the client polling for its replies): the streaming and latency figures
/// only.
#[test]
fn side_by_side_invocation_prints_stream_and_latency_only() {
    let (mut server, url) = serve_only(&["--workers", "1"]);
    let f = bench_args(&[
        "--url",
        &url,
        "--events",
        "500",
        "--runs",
        "1",
        "--submits",
        "20",
        "--idle-sessions",
        "0",
        "--sessions",
        "0",
        "--no-db",
        "--client-spin-us",
        "2000",
    ]);
    exact(&f, "server", "external");
    exact(&f, "events_received", "500");
    exact(&f, "frames_received", "502");
    exact(&f, "accept_client_spin_us", "2000");
    exact(&f, "accept_submits", "20");
    exact(&f, "accept_results_received", "20");
    // server, 6 streaming lines, 5 latency lines.
    assert_eq!(f.len(), 12, "{f:?}");
    drop(server.stdin.take());
    assert!(server.wait().unwrap().success());
}

/// The same invocation against the Python reference runtime with its `firehose` agent
/// (benches/reference/firehose_runtime.py), when `ARCP_PEER_VENV` names the reference's
/// virtualenv (../shared/interop/setup.sh); `ARCP_PEER_DIR` is where peer_runtime.py is.
#[test]
fn the_reference_runtime_streams_the_same_count() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(venv) = std::env::var_os("ARCP_PEER_VENV") else {
        eprintln!("skipped: ARCP_PEER_VENV is not set");
        return;
    };
    let python = std::path::Path::new(&venv).join("bin/python");
    if !python.exists() {
        eprintln!("skipped: no {}", python.display());
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../benches/reference/firehose_runtime.py"
    );
    /// Stops the reference runtime however the test ends.
    struct Peer(std::process::Child);
    impl Drop for Peer {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut peer = Peer(
        Command::new(python)
            .args([script, "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(peer.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("firehose_runtime.py said {line:?}"));
    let f = bench_args(&[
        "--url",
        url,
        "--events",
        "300",
        "--runs",
        "1",
        "--submits",
        "10",
        "--idle-sessions",
        "0",
        "--sessions",
        "0",
    ]);
    exact(&f, "events_received", "300");
    exact(&f, "frames_received", "302");
    exact(&f, "accept_results_received", "10");
    assert_eq!(f.len(), 11, "{f:?}");
}
