//! `arcp bench` with tiny parameters: every figure line is printed once, and the counts are
//! exact (events received = what `firehose` was asked for, every submit accepted and
//! answered, every resume replayed to its job's result). Timings are never asserted, only
//! that they are numbers.

#[path = "support/pg.rs"]
mod pg;

use std::collections::HashMap;
use std::process::Command;

fn bench(extra: &[&str]) -> HashMap<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_arcp"))
        .args([
            "bench",
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
        ])
        .args(extra)
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
    let f = bench(&["--in-process", "--no-db"]);
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
