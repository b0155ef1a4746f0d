//! Retention and fair limits through the real `arcp serve` binary (#18):
//!
//! - 1,000 finished 900 KiB `echo` jobs without idempotency keys, over 20 sessions that are
//!   closed and whose resume windows expire: the retained bytes the server accounts for
//!   (`ServerMetrics::retained_bytes`, logged by `arcp serve` under
//!   `RUST_LOG=arcp_host::retained=info` each time the figure changes) return exactly to the
//!   idle figure — the documented slack is zero, because the figure is the server's own
//!   account of what it keeps (session rings, kept D27 messages, kept job ends), not RSS;
//! - one principal's session flood is refused at its cap (`PERMISSION_DENIED`,
//!   `details.limit: "sessions_per_principal"`) while another principal connects, and a
//!   closed (resumable) session frees its live slot.
//! - the retention flags: `--finished-job-ttl` (a finished job is listed until it passes),
//!   `--max-finished-job-bytes` (1 byte: no finished record kept, a running job still listed)
//!   and `--expired-session-grace` (a resume after the window: `RESUME_WINDOW_EXPIRED`, then
//!   `PERMISSION_DENIED` once the record is forgotten).

// The raw WebSocket peer of arcp-tokio's server tests.
#[path = "support/serve.rs"]
mod serve;
#[path = "../../adapters/tokio/tests/server_support/mod.rs"]
mod server_support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use server_support::{Peer, eid, hello};
use std::io::{BufRead, BufReader};

use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// `arcp serve --port 0 --demo --heartbeat-interval 0 EXTRA…` with the retained-bytes log on
/// stderr; killed on drop.
struct Served {
    /// The server process, killed on drop.
    _served: serve::Served,
    url: String,
    /// Every logged retained-bytes figure, in order.
    retained: mpsc::Receiver<u64>,
}

impl Served {
    fn start(extra: &[&str]) -> Served {
        let args: Vec<&str> = ["--heartbeat-interval", "0"]
            .into_iter()
            .chain(extra.iter().copied())
            .collect();
        let mut served = serve::Served::start_with(&args, |cmd| {
            cmd.env("RUST_LOG", "arcp_host::retained=info")
                .stderr(Stdio::piped());
        });
        let url = served.url.clone();
        let (tx, retained) = mpsc::channel();
        let stderr = served.child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let figure = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("retained_bytes="))
                    .and_then(|n| n.parse().ok());
                if let Some(n) = figure
                    && tx.send(n).is_err()
                {
                    return;
                }
            }
        });
        Served {
            _served: served,
            url,
            retained,
        }
    }

    /// The next logged figure (within 60 s: a hang guard, not a measured bound).
    fn next_figure(&self) -> u64 {
        self.retained
            .recv_timeout(Duration::from_secs(60))
            .expect("a retained-bytes line")
    }
}

const JOBS: usize = 1000;
const SESSIONS: usize = 20;
const WORKERS: usize = 4;
const INPUT_BYTES: usize = 900 << 10;

/// One session: hello, `JOBS / SESSIONS` echo jobs one after another (no acks, no keys),
/// each checked by its result's size, then close. Returns the jobs that succeeded.
async fn session_of_echo_jobs(url: String, submit_tail: std::sync::Arc<String>) -> usize {
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    let mut ok = 0;
    for _ in 0..JOBS / SESSIONS {
        // The 900 KiB submit is prebuilt once: only the envelope id changes.
        let frame = format!(r#"{{"arcp":"1.1","id":"{}",{}"#, eid(), submit_tail);
        p.ws.send(Message::Text(frame.into())).await.expect("send");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(60), p.ws.next())
                .await
                .expect("a frame within 60 s")
                .expect("open")
                .expect("ws");
            let Message::Text(t) = m else { continue };
            // Only the small frames are parsed; the result is recognised by its size.
            if t.len() > INPUT_BYTES {
                // The envelope and `final_status` precede the 900 KiB result.
                let head = t.get(..400).unwrap_or_default();
                assert!(head.contains(r#""type":"job.result""#), "{head}");
                assert!(head.contains(r#""final_status":"success""#), "{head}");
                ok += 1;
                break;
            }
            let v: Value = serde_json::from_str(&t).expect("json");
            assert!(
                v["type"] == "job.accepted" || v["type"] == "job.event",
                "unexpected {v}"
            );
        }
    }
    p.ws.close(None).await.expect("close");
    while p.ws.next().await.is_some() {}
    ok
}

#[test]
fn finished_echo_jobs_leave_nothing_retained_once_windows_expire() {
    let served = Served::start(&["--resume-window", "1"]);
    let idle = served.next_figure();
    assert_eq!(idle, 0, "an idle server keeps nothing");
    let input = "x".repeat(INPUT_BYTES);
    let tail = std::sync::Arc::new(format!(
        r#""type":"job.submit","payload":{{"agent":"echo","input":"{input}"}}}}"#
    ));
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let done: usize = rt.block_on(async {
        let mut total = 0;
        // WORKERS sessions at a time, SESSIONS in all.
        for _ in 0..SESSIONS / WORKERS {
            let handles: Vec<_> = (0..WORKERS)
                .map(|_| tokio::spawn(session_of_echo_jobs(served.url.clone(), tail.clone())))
                .collect();
            for h in handles {
                total += h.await.expect("worker");
            }
        }
        total
    });
    assert_eq!(done, JOBS);
    // Every session is closed; follow the figure until the windows have expired.
    let mut peak = idle;
    let mut last = None;
    while last != Some(idle) {
        let n = served.next_figure();
        peak = peak.max(n);
        last = Some(n);
    }
    eprintln!(
        "{JOBS} jobs of {INPUT_BYTES} bytes in {:.1} s; peak figure seen after the jobs {peak}",
        started.elapsed().as_secs_f64()
    );
    // Nothing arrives after the idle figure: it stays there.
    assert_eq!(
        served
            .retained
            .recv_timeout(Duration::from_millis(300))
            .ok(),
        None
    );
}

#[test]
fn one_principals_session_flood_is_refused_at_its_cap_while_others_connect() {
    let served = Served::start(&["--max-sessions-per-principal", "20"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut alice = Vec::new();
        for _ in 0..20 {
            let mut p = Peer::connect(&served.url).await;
            p.hello("alice-token").await;
            alice.push(p);
        }
        // The flood goes on: every further hello is refused, then the connection closed.
        for _ in 0..30 {
            let mut p = Peer::connect(&served.url).await;
            let h = hello("alice-token", None);
            p.send(&h).await;
            let e = p.recv().await;
            assert_eq!(e["type"], "session.error");
            assert_eq!(
                e["payload"],
                json!({
                    "code": "PERMISSION_DENIED",
                    "message": "principal already holds 20 sessions (limit 20)",
                    "retryable": false,
                    "details": {"limit": "sessions_per_principal"},
                    "request_id": h["id"],
                })
            );
            assert!(matches!(p.end().await, server_support::End::Close(_)));
        }
        // Meanwhile another principal connects and works.
        let mut bob = Peer::connect(&served.url).await;
        bob.hello("bob-token").await;
        let acc = bob.submit("echo", json!({"n": 1})).await;
        let job = acc["job_id"].as_str().unwrap().to_owned();
        let frames = bob.until_terminal(&job).await;
        assert_eq!(frames.last().unwrap()["payload"]["result"], json!({"n": 1}));
        // A closed session is resumable, not live: its slot is free again at once.
        let mut first = alice.remove(0);
        first.ws.close(None).await.unwrap();
        while first.ws.next().await.is_some() {}
        let mut again = Peer::connect(&served.url).await;
        again.hello("alice-token").await;
    });
}

/// The job ids `session.list_jobs` answers on `p`.
async fn listed(p: &mut Peer) -> Vec<String> {
    let req = json!({"arcp": "1.1", "id": eid(), "type": "session.list_jobs", "payload": {}});
    p.send(&req).await;
    let jobs = p.until("session.jobs").await.pop().expect("session.jobs");
    jobs["payload"]["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["job_id"].as_str().expect("job_id").to_owned())
        .collect()
}

/// One finished `echo` job of `p`'s session; its id.
async fn one_echo_job(p: &mut Peer) -> String {
    let acc = p.submit("echo", json!({"n": 1})).await;
    let job = acc["job_id"].as_str().expect("job_id").to_owned();
    let frames = p.until_terminal(&job).await;
    assert_eq!(frames.last().expect("terminal")["type"], "job.result");
    job
}

/// Polls `list_jobs` every 100 ms until `job` is no longer listed; how many polls listed it.
async fn polls_until_forgotten(p: &mut Peer, job: &str) -> usize {
    // A hang guard (30 s), not a measured bound.
    for listed_times in 0..300 {
        if !listed(p).await.iter().any(|j| j == job) {
            return listed_times;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{job} still listed after 30 s");
}

/// `--finished-job-ttl` and `--max-finished-job-bytes`: what `list_jobs` shows of finished
/// jobs.
#[test]
fn finished_job_ttl_and_byte_bound_through_serve_flags() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // --finished-job-ttl 2: listed right after it ends, forgotten once 2 s have passed.
    let served = Served::start(&["--finished-job-ttl", "2"]);
    rt.block_on(async {
        let mut p = Peer::connect(&served.url).await;
        p.hello("alice-token").await;
        let job = one_echo_job(&mut p).await;
        assert_eq!(listed(&mut p).await, vec![job.clone()]);
        assert!(polls_until_forgotten(&mut p, &job).await >= 1);
        assert_eq!(listed(&mut p).await, Vec::<String>::new());
    });
    drop(served);
    // --max-finished-job-bytes 1: no finished record fits, so none is kept; a running job
    // is never forgotten.
    let served = Served::start(&["--max-finished-job-bytes", "1"]);
    rt.block_on(async {
        let mut p = Peer::connect(&served.url).await;
        p.hello("alice-token").await;
        // The slow job on a session of its own, so its events do not interleave.
        let mut q = Peer::connect(&served.url).await;
        q.hello("alice-token").await;
        let slow = q.submit("slow", json!({"seconds": 60})).await;
        let slow = slow["job_id"].as_str().unwrap().to_owned();
        one_echo_job(&mut p).await;
        assert_eq!(listed(&mut p).await, vec![slow]);
    });
    drop(served);
    // The default: the finished job is still listed (the resume window is 600 s).
    let served = Served::start(&[]);
    rt.block_on(async {
        let mut p = Peer::connect(&served.url).await;
        p.hello("alice-token").await;
        let job = one_echo_job(&mut p).await;
        assert_eq!(listed(&mut p).await, vec![job]);
    });
}

/// `--expired-session-grace`: a resume after the window gets `RESUME_WINDOW_EXPIRED` while
/// the record is kept, then the refusal of a session the principal does not hold.
#[test]
fn an_expired_session_is_remembered_for_its_grace_then_unknown() {
    let served = Served::start(&["--resume-window", "1", "--expired-session-grace", "2"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut p = Peer::connect(&served.url).await;
        let w = p.hello("alice-token").await;
        let resume = json!({
            "session_id": w["payload"]["session_id"],
            "resume_token": w["payload"]["resume_token"],
            "last_event_seq": 0,
        });
        p.ws.close(None).await.unwrap();
        while p.ws.next().await.is_some() {}
        // Past the 1 s window (a resume within it would attach the session again).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // Resume every 200 ms: the answers go from RESUME_WINDOW_EXPIRED (window over, record
        // kept) to the refusal of an unknown session (record forgotten), and stay there.
        let mut codes: Vec<String> = Vec::new();
        for _ in 0..150 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut r = Peer::connect(&served.url).await;
            r.send(&hello("alice-token", Some(resume.clone()))).await;
            let e = r.recv().await;
            assert_eq!(e["type"], "session.error", "{e}");
            let code = e["payload"]["code"].as_str().unwrap().to_owned();
            if codes.last() != Some(&code) {
                codes.push(code);
            }
            if codes.len() == 2 {
                break;
            }
        }
        assert_eq!(codes, vec!["RESUME_WINDOW_EXPIRED", "PERMISSION_DENIED"]);
    });
}
