//! The soak (CI step "soak (120 s)"): a real `arcp serve --demo` under a mixed load beside
//! hostile clients, for `SOAK_SECS` seconds (default 120).
//!
//! `cargo run -p arcp-tokio --example soak` starts `target/<profile>/arcp serve --demo
//! --port 0 --resume-window 5 --hello-timeout 2` itself (build the binary first: `cargo
//! build --bin arcp`). The well-behaved clients:
//!
//! - 3 streamers (`alice-token`): a fresh session per `chatty` job of 50 rounds (302 events);
//!   every other job drops its transport after 100 events and resumes. Each job must end
//!   `success` having delivered `event_seq` 1..=302 exactly once, in order.
//! - 2 echo clients (`bob-token`): sequential `echo` jobs whose result must equal the input;
//!   their latency (submit to result) is the p50/p99 printed.
//! - 1 subscriber (`auditor-token`): subscribes, with history, to streamers' jobs; each
//!   subscription must end `success` with strictly increasing `event_seq`s.
//!
//! The hostile ones: 3 non-readers at any time (a `chatty` job of 2,000 rounds, never read;
//! replaced every 2 s), garbage (every 100 ms: invalid JSON, a text frame that is not UTF-8,
//! binary junk, bytes that are not HTTP), and connection floods (every second 50 upgrades
//! that never say hello, dropped after 200 ms, plus 5 kept open until the hello timeout
//! closes them).
//!
//! `SOAK_HOSTILE=0` leaves the hostile clients out (to tell their cost from the load's).
//!
//! Figures: jobs, events, resumes, subscribes, p50/p99 echo latency, hostile connections,
//! the server's retained bytes (its own account, `ServerMetrics::retained_bytes()`, read from
//! its `arcp_host::retained` log line) and its RSS (`VmRSS` of /proc/<pid>/status, printed
//! only) at idle before the load and at idle after it (once the resume window of every cut
//! session has passed). Exit status 1 when a well-behaved client lost or duplicated an
//! `event_seq`, a job did not finish as expected, or the retained bytes at idle after exceed
//! those at idle before by more than `SOAK_RETAINED_SLACK_KB` (default 1024).

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, Feature, JobStatus, ResultValue, SubmitRequest};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// `chatty` rounds per streaming job: 6 events a round plus its status and artifact.
const ROUNDS: u64 = 50;
const EVENTS: u64 = 6 * ROUNDS + 2;
const RESUME_WINDOW_SECS: u64 = 5;

#[derive(Default)]
struct Figures {
    jobs_streamed: AtomicU64,
    events: AtomicU64,
    resumes: AtomicU64,
    echo_jobs: AtomicU64,
    subscribes: AtomicU64,
    subscribed_events: AtomicU64,
    non_readers: AtomicU64,
    garbage: AtomicU64,
    flood: AtomicU64,
    echo_latency: Mutex<Vec<Duration>>,
    failures: Mutex<Vec<String>>,
}

impl Figures {
    fn fail(&self, what: String) {
        eprintln!("FAIL {what}");
        self.failures.lock().unwrap().push(what);
    }
}

/// `arcp serve --demo …`, killed on drop.
struct Served {
    child: Child,
    url: String,
    /// The server's own account of retained bytes (`ServerMetrics::retained_bytes()`), the
    /// latest value its `arcp_host::retained` log line gave.
    retained: Arc<AtomicU64>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    // target/<profile>/examples/soak → target/<profile>/arcp
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>")
        .join("arcp");
    assert!(
        bin.exists(),
        "{} missing: cargo build --bin arcp",
        bin.display()
    );
    let window = RESUME_WINDOW_SECS.to_string();
    let mut child = Command::new(bin)
        .args(["serve", "--demo", "--port", "0", "--resume-window", &window])
        .args(["--hello-timeout", "2"])
        .env("RUST_LOG", "arcp_host::retained=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arcp serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("LISTENING line");
    let url = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("not a LISTENING line: {line:?}"))
        .to_owned();
    // The server logs its retained-bytes figure on stderr whenever it changes.
    let retained = Arc::new(AtomicU64::new(0));
    if let Some(stderr) = child.stderr.take() {
        let latest = retained.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let figure = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("retained_bytes="))
                    .and_then(|n| n.parse::<u64>().ok());
                if let Some(n) = figure {
                    latest.store(n, Ordering::Relaxed);
                }
            }
        });
    }
    Served {
        child,
        url,
        retained,
    }
}

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn hello(token: &str) -> String {
    json!({"arcp":"1.1","id":"01J00000000000000000000001","type":"session.hello","payload":{
        "client":{"name":"soak","version":"1"},"auth":{"scheme":"bearer","token":token},
        "capabilities":{"encodings":["json"],"features":[]}}})
    .to_string()
}

/// One streaming job in a fresh session, resumed once after 100 events when `resume`.
async fn stream_job(
    url: &str,
    resume: bool,
    f: &Figures,
    jobs: &tokio::sync::mpsc::Sender<arcp_tokio::client::JobId>,
) -> Result<(), String> {
    let client = Client::builder(url)
        .token("alice-token")
        .connect()
        .await
        .map_err(|e| format!("streamer connect: {e}"))?;
    let handle = client
        .submit(SubmitRequest::new("chatty", json!({"count": ROUNDS})))
        .await
        .map_err(|e| format!("streamer submit: {e}"))?;
    let _ = jobs.try_send(handle.job_id().clone());
    let mut seqs = Vec::with_capacity(EVENTS as usize);
    let mut events = handle.events();
    while let Some(ev) = events.next().await {
        seqs.push(ev.event_seq);
        if resume && seqs.len() == 100 {
            client
                .drop_transport()
                .await
                .map_err(|e| format!("drop transport: {e}"))?;
            client.resume().await.map_err(|e| format!("resume: {e}"))?;
            f.resumes.fetch_add(1, Ordering::Relaxed);
        }
    }
    drop(events);
    let outcome = handle
        .done()
        .await
        .map_err(|e| format!("streamer done: {e}"))?;
    let _ = client.close().await;
    let expected: Vec<u64> = (1..=EVENTS).collect();
    if seqs != expected {
        return Err(format!(
            "job {} delivered {} events, not event_seq 1..={EVENTS} once each (first gap or \
             duplicate near {:?})",
            outcome.job_id(),
            seqs.len(),
            seqs.iter()
                .zip(1..)
                .find(|(s, n)| **s != *n)
                .map(|(s, _)| *s)
        ));
    }
    if outcome.status() != JobStatus::Success {
        return Err(format!("streaming job ended {:?}", outcome.status()));
    }
    f.jobs_streamed.fetch_add(1, Ordering::Relaxed);
    f.events.fetch_add(EVENTS, Ordering::Relaxed);
    Ok(())
}

async fn streamer(url: String, until: Instant, f: Arc<Figures>, jobs: JobsTx) {
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        if let Err(e) = stream_job(&url, n.is_multiple_of(2), &f, &jobs).await {
            f.fail(e);
        }
    }
}

type JobsTx = tokio::sync::mpsc::Sender<arcp_tokio::client::JobId>;

async fn echoer(url: String, until: Instant, f: Arc<Figures>, who: u64) {
    let client = match Client::builder(&url).token("bob-token").connect().await {
        Ok(c) => c,
        Err(e) => return f.fail(format!("echo connect: {e}")),
    };
    let mut i = 0u64;
    while Instant::now() < until {
        i += 1;
        let input = json!({"who": who, "i": i, "pad": "x".repeat(256)});
        let t0 = Instant::now();
        let done = match client
            .submit(SubmitRequest::new("echo", input.clone()))
            .await
        {
            Ok(h) => h.done().await,
            Err(e) => return f.fail(format!("echo submit: {e}")),
        };
        let took = t0.elapsed();
        match done {
            Ok(o) if o.status() == JobStatus::Success => {
                match o.outcome() {
                    JobOutcome::Success {
                        result: ResultValue::Inline(v),
                        ..
                    } if *v == input => {}
                    other => f.fail(format!(
                        "echo {who}/{i}: result is not the input: {other:?}"
                    )),
                }
                f.echo_jobs.fetch_add(1, Ordering::Relaxed);
                f.echo_latency.lock().unwrap().push(took);
            }
            other => return f.fail(format!("echo {who}/{i}: {other:?}")),
        }
    }
    let _ = client.close().await;
}

async fn subscriber(
    url: String,
    until: Instant,
    f: Arc<Figures>,
    mut jobs: tokio::sync::mpsc::Receiver<arcp_tokio::client::JobId>,
) {
    let client = match Client::builder(&url)
        .token("auditor-token")
        .features([Feature::Subscribe, Feature::ListJobs])
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => return f.fail(format!("subscriber connect: {e}")),
    };
    while Instant::now() < until {
        let Ok(Some(job)) = tokio::time::timeout(Duration::from_secs(1), jobs.recv()).await else {
            continue;
        };
        let sub = match client.subscribe(&job, true).await {
            Ok(s) => s,
            Err(e) => return f.fail(format!("subscribe {job}: {e}")),
        };
        let mut last = 0u64;
        let mut n = 0u64;
        let mut events = sub.handle.events();
        while let Some(ev) = events.next().await {
            if ev.event_seq <= last {
                f.fail(format!(
                    "subscription to {job}: event_seq {} after {last}",
                    ev.event_seq
                ));
            }
            last = ev.event_seq;
            n += 1;
        }
        drop(events);
        match sub.done().await {
            Ok(o) if o.status() == JobStatus::Success => {
                f.subscribes.fetch_add(1, Ordering::Relaxed);
                f.subscribed_events.fetch_add(n, Ordering::Relaxed);
            }
            other => f.fail(format!("subscription to {job} ended {other:?}")),
        }
        // Skip what queued up meanwhile: follow a current job next.
        while jobs.try_recv().is_ok() {}
    }
    let _ = client.close().await;
}

type RawWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw(url: &str) -> Option<RawWs> {
    tokio_tungstenite::connect_async(url)
        .await
        .ok()
        .map(|(ws, _)| ws)
}

async fn non_readers(url: String, until: Instant, f: Arc<Figures>) {
    let mut held: std::collections::VecDeque<RawWs> = Default::default();
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        if let Some(mut ws) = raw(&url).await {
            let submit = json!({"arcp":"1.1","id":format!("01J0000000000000000{n:07}"),
                "type":"job.submit","payload":{"agent":"chatty","input":{"count":2000}}});
            if ws.send(Message::text(hello("alice-token"))).await.is_ok()
                && ws.send(Message::text(submit.to_string())).await.is_ok()
            {
                f.non_readers.fetch_add(1, Ordering::Relaxed);
                held.push_back(ws);
            }
        }
        if held.len() > 3 {
            held.pop_front();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn garbage(url: String, addr: String, until: Instant, f: Arc<Figures>) {
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        match n % 4 {
            0 => {
                if let Ok(mut tcp) = tokio::net::TcpStream::connect(&addr).await {
                    let _ = tcp.write_all(b"\x00\xffNOT HTTP\r\n\r\n").await;
                }
            }
            k => {
                if let Some(mut ws) = raw(&url).await {
                    let m = match k {
                        1 => Message::text("{not json"),
                        2 => Message::Frame(Frame::message(
                            vec![0xC3, 0x28],
                            OpCode::Data(Data::Text),
                            true,
                        )),
                        _ => Message::binary(vec![0u8; 512]),
                    };
                    let _ = ws.send(m).await;
                    let _ = tokio::time::timeout(Duration::from_millis(50), ws.next()).await;
                }
            }
        }
        f.garbage.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn flood(url: String, until: Instant, f: Arc<Figures>) {
    let mut lingering: Vec<RawWs> = Vec::new();
    while Instant::now() < until {
        let mut batch = Vec::new();
        for _ in 0..50 {
            if let Some(ws) = raw(&url).await {
                batch.push(ws);
                f.flood.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Keep 5 open without hello: the hello timeout must close them.
        lingering.extend(batch.drain(..5.min(batch.len())));
        drop(batch);
        let mut open = Vec::new();
        for mut ws in lingering.drain(..) {
            match tokio::time::timeout(Duration::from_millis(1), ws.next()).await {
                Ok(None | Some(Ok(Message::Close(_))) | Some(Err(_))) => {}
                _ => open.push(ws),
            }
        }
        lingering = open;
        if lingering.len() > 100 {
            f.fail(format!(
                "{} connections without hello still open",
                lingering.len()
            ));
            lingering.clear();
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let slack_kb: u64 = std::env::var("SOAK_RETAINED_SLACK_KB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let served = serve();
    let pid = served.child.id();
    let url = served.url.clone();
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/arcp")
        .to_owned();
    let f = Arc::new(Figures::default());

    // Warm-up (one of each job), then the idle figure.
    let (warm_tx, _warm_rx) = tokio::sync::mpsc::channel(1);
    if let Err(e) = stream_job(&url, true, &f, &warm_tx).await {
        f.fail(format!("warm-up: {e}"));
    }
    echoer(url.clone(), Instant::now(), f.clone(), 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid);
    let retained_before = served.retained.load(Ordering::Relaxed);

    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(secs);
    let (jobs_tx, jobs_rx) = tokio::sync::mpsc::channel(64);
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(tokio::spawn(streamer(
            url.clone(),
            until,
            f.clone(),
            jobs_tx.clone(),
        )));
    }
    drop(jobs_tx);
    for who in 1..=2 {
        tasks.push(tokio::spawn(echoer(url.clone(), until, f.clone(), who)));
    }
    tasks.push(tokio::spawn(subscriber(
        url.clone(),
        until,
        f.clone(),
        jobs_rx,
    )));
    if std::env::var("SOAK_HOSTILE").as_deref() != Ok("0") {
        tasks.push(tokio::spawn(non_readers(url.clone(), until, f.clone())));
        tasks.push(tokio::spawn(garbage(url.clone(), addr, until, f.clone())));
        tasks.push(tokio::spawn(flood(url.clone(), until, f.clone())));
    }
    let mut rss_peak = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_peak = rss_peak.max(rss_kib(pid));
    }
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .is_err()
        {
            f.fail("a client task did not finish within 60 s of the end".into());
        }
    }
    let load_secs = t0.elapsed().as_secs_f64();
    // Idle again: every cut session's resume window has passed.
    tokio::time::sleep(Duration::from_secs(RESUME_WINDOW_SECS + 3)).await;
    let rss_after = rss_kib(pid);
    let retained_after = served.retained.load(Ordering::Relaxed);
    if rss_after == 0 {
        f.fail("the server is gone".into());
    }

    let mut lat = f.echo_latency.lock().unwrap().clone();
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("soak: {load_secs:.0} s of load against {url}");
    println!(
        "  streaming jobs {} ({} events, {} resumes), echo jobs {}, subscriptions {} ({} events)",
        f.jobs_streamed.load(Ordering::Relaxed),
        f.events.load(Ordering::Relaxed),
        f.resumes.load(Ordering::Relaxed),
        f.echo_jobs.load(Ordering::Relaxed),
        f.subscribes.load(Ordering::Relaxed),
        f.subscribed_events.load(Ordering::Relaxed),
    );
    println!(
        "  echo latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    println!(
        "  hostile: {} non-readers, {} garbage connections, {} flood connections",
        f.non_readers.load(Ordering::Relaxed),
        f.garbage.load(Ordering::Relaxed),
        f.flood.load(Ordering::Relaxed),
    );
    println!(
        "  server retained bytes (its own account): idle before {retained_before}, idle after {retained_after} (slack {slack_kb} KiB)"
    );
    println!(
        "  server RSS (printed, not checked): idle before {rss_before} KiB, peak {rss_peak} KiB, idle after {rss_after} KiB"
    );
    if retained_after > retained_before + slack_kb * 1024 {
        f.fail(format!(
            "retained bytes grew from {retained_before} to {retained_after}, over the slack of {slack_kb} KiB"
        ));
    }
    if f.jobs_streamed.load(Ordering::Relaxed) == 0 || f.echo_jobs.load(Ordering::Relaxed) == 0 {
        f.fail("no job completed".into());
    }
    let failures = f.failures.lock().unwrap().clone();
    // Stop the server before exiting (exit skips destructors).
    drop(served);
    if failures.is_empty() {
        println!("soak ok: nothing lost or duplicated, every job finished");
    } else {
        println!("soak FAILED: {} failure(s)", failures.len());
        for x in failures.iter().take(20) {
            println!("  {x}");
        }
        std::process::exit(1);
    }
}
