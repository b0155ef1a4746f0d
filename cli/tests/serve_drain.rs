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

use futures_util::{SinkExt, StreamExt};
use robust::{Ws, open};
use serde_json::{Value, json};
use serve::Served;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// What the client reads next: a frame, or the close (its code).
#[derive(Debug)]
enum Read {
    Frame(Value),
    Closed(Option<u16>),
}

/// The next frame or the close, within 20 s.
async fn read(ws: &mut Ws) -> Read {
    let next = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return Read::Frame(serde_json::from_str(&t).expect("JSON"));
                }
                Some(Ok(Message::Close(f))) => return Read::Closed(f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                other => panic!("expected a frame or a close, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), next)
        .await
        .expect("a frame or the close within 20 s")
}

/// Submits `slow` with `input` and reads up to its `job.accepted` and its first event (the
/// `slow.start` status): the job runs.
async fn start_slow(ws: &mut Ws, input: Value) {
    let submit = json!({"arcp":"1.1","id":"01J00000000000000000000100","type":"job.submit",
        "payload":{"agent":"slow","input":input}});
    ws.send(Message::text(submit.to_string()))
        .await
        .expect("send");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match read(ws).await {
            Read::Frame(f) if f["type"] == "job.accepted" || f["type"] == "job.event" => {
                seen.push(f["type"].as_str().unwrap_or_default().to_owned());
            }
            Read::Frame(_) => {}
            Read::Closed(code) => panic!("closed {code:?} before the job ran"),
        }
    }
    assert_eq!(seen, ["job.accepted", "job.event"]);
}

/// Reads until the close: the types of the job frames seen (`job.*`), and the close code.
async fn job_frames_until_close(ws: &mut Ws) -> (Vec<String>, Option<u16>) {
    let mut types = Vec::new();
    loop {
        match read(ws).await {
            Read::Frame(f) => {
                let t = f["type"].as_str().unwrap_or_default();
                if t.starts_with("job.") {
                    types.push(t.to_owned());
                }
            }
            Read::Closed(code) => return (types, code),
        }
    }
}

/// Polls `/healthz` of `addr` until it answers 503 (at most 10 s): its status and body.
fn healthz_once_draining(addr: &str) -> (u16, String) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = probe::healthz(addr).expect("healthz");
        if answer.0 == 503 || Instant::now() > until {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The status of a refused WebSocket upgrade of `url` (`None`: it was accepted).
async fn upgrade_refused(url: &str) -> Option<u16> {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => None,
        Err(WsError::Http(resp)) => Some(resp.status().as_u16()),
        Err(e) => panic!("upgrade of {url}: {e}"),
    }
}

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
    assert_eq!(healthz_once_draining(&addr), (503, "draining".to_owned()));
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
