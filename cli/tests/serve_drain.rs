//! `arcp serve` (the real binary): `GET /healthz`, and the SIGTERM drain — `/healthz` 503
//! `draining`, new WebSocket upgrades refused 503, the running job still delivers every
//! event and its terminal, then the connection is closed 1001 and the process exits 0;
//! `--drain-grace` bounds the wait (0: at once); SIGINT still closes 1000 at once.

#[path = "support/probe.rs"]
mod probe;
#[path = "support/robust.rs"]
mod robust;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/signal.rs"]
mod signal;
#[path = "support/slow_job.rs"]
mod slow_job;

use robust::open;
use serde_json::json;
use serve::Served;
use slow_job::{job_frames_until_close, start_slow, upgrade_refused};
use std::time::{Duration, Instant};

#[tokio::test]
async fn healthz_answers_ok_and_other_paths_stay_404() {
    let served = Served::start(&[]);
    let addr = probe::authority(&served.url).to_owned();
    assert_eq!(probe::healthz(&addr), Ok((200, "ok".to_owned())));
    assert_eq!(probe::get(&addr, "/nothing").map(|a| a.0), Ok(404));
    // The WebSocket is still served on its path.
    let (_ws, welcome) = open(&served.url, "alice-token").await;
    assert_eq!(welcome["type"], "session.welcome");
}

#[tokio::test]
async fn sigterm_drains_the_running_job_then_closes_1001_and_exits_0() {
    let mut served = Served::start(&["--drain-grace", "30"]);
    let addr = probe::authority(&served.url).to_owned();
    let (mut ws, _) = open(&served.url, "alice-token").await;
    // 2 s in 4 ticks: the status event, 4 progress events, the result.
    start_slow(&mut ws, json!({"seconds": 2, "tick": 0.5})).await;
    signal::send(&served.child, "TERM");
    assert_eq!(
        probe::wait_healthz(&addr, 503),
        (503, "draining".to_owned())
    );
    assert_eq!(upgrade_refused(&served.url).await, Some(503));
    let (types, code) = job_frames_until_close(&mut ws).await;
    let mut expected = vec!["job.event"; 4];
    expected.push("job.result");
    assert_eq!(types, expected);
    assert_eq!(code, Some(1001));
    let status = signal::wait_exit(&mut served.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn a_drain_grace_of_0_closes_1001_at_once() {
    let mut served = Served::start(&["--drain-grace", "0"]);
    let (mut ws, _) = open(&served.url, "alice-token").await;
    start_slow(&mut ws, json!({"seconds": 30, "tick": 0.5})).await;
    let signalled = Instant::now();
    signal::send(&served.child, "TERM");
    let (types, code) = job_frames_until_close(&mut ws).await;
    assert!(!types.contains(&"job.result".to_owned()), "{types:?}");
    assert_eq!(code, Some(1001));
    let status = signal::wait_exit(&mut served.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "{:?}",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn the_grace_bounds_the_wait_for_a_long_job() {
    let mut served = Served::start(&["--drain-grace", "1"]);
    let (mut ws, _) = open(&served.url, "alice-token").await;
    start_slow(&mut ws, json!({"seconds": 30, "tick": 0.5})).await;
    let signalled = Instant::now();
    signal::send(&served.child, "TERM");
    let (types, code) = job_frames_until_close(&mut ws).await;
    let took = signalled.elapsed();
    assert!(!types.contains(&"job.result".to_owned()), "{types:?}");
    // The job still running when the grace ended ends visibly (INTERNAL_ERROR, retryable,
    // "runtime stopped") before the close.
    assert_eq!(
        types.last().map(String::as_str),
        Some("job.error"),
        "{types:?}"
    );
    assert_eq!(code, Some(1001));
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    assert!(took < Duration::from_secs(10), "closed after {took:?}");
    let status = signal::wait_exit(&mut served.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn an_idle_node_exits_0_at_once_on_sigterm() {
    let mut served = Served::start(&[]);
    let (mut ws, _) = open(&served.url, "alice-token").await;
    signal::send(&served.child, "TERM");
    let (types, code) = job_frames_until_close(&mut ws).await;
    assert_eq!((types.len(), code), (0, Some(1001)));
    let status = signal::wait_exit(&mut served.child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn sigint_still_closes_1000_at_once() {
    let mut served = Served::start(&[]);
    let (mut ws, _) = open(&served.url, "alice-token").await;
    start_slow(&mut ws, json!({"seconds": 30, "tick": 0.5})).await;
    signal::send(&served.child, "INT");
    let (types, code) = job_frames_until_close(&mut ws).await;
    assert!(!types.contains(&"job.result".to_owned()), "{types:?}");
    assert_eq!(code, Some(1000));
    let status = signal::wait_exit(&mut served.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}
