//! The same small suite on async-std's executor and on smol's: submit echo, chatty
//! gap-free (through an event queue of capacity 1, commands served meanwhile), back-pressure
//! (`max_buffered_events` reached: the transport waits, nothing is lost), cancel, and resume
//! (with the SQLite store: the replay after a resume is gap-free).

use arcp_futures::client::{Client, ResultValue, SubmitRequest, TapEvent};
use arcp_futures::server::{BoxFuture, Server, ServerHandle};
use arcp_proto::client::JobOutcome;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Spawn = fn(BoxFuture<'static, ()>);

fn smol_spawn(f: BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

fn async_std_spawn(f: BoxFuture<'static, ()>) {
    async_std::task::spawn(f);
}

async fn serve(spawn: Spawn, db: Option<PathBuf>) -> (String, ServerHandle) {
    Server::builder(spawn)
        .demo()
        .db(db)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .expect("bind")
}

async fn connect(spawn: Spawn, url: &str) -> Client {
    Client::builder(url)
        .token("alice-token")
        // The session stays for another client to resume after `drop_transport`.
        .auto_resume(false)
        .spawner(spawn)
        .connect()
        .await
        .expect("connect")
}

async fn submit_echo(spawn: Spawn) {
    let (url, server) = serve(spawn, None).await;
    let client = connect(spawn, &url).await;
    assert_eq!(client.features().len(), 11);
    let input = json!({"hello": "world", "n": 7});
    let h = client
        .submit(SubmitRequest::new("echo", input.clone()))
        .await
        .unwrap();
    assert!(h.job_id().starts_with("job_"), "{}", h.job_id());
    assert_eq!(h.agent_ref().to_string(), "echo@1.0.0");
    match h.done().await.unwrap().into_outcome() {
        JobOutcome::Success {
            result: ResultValue::Inline(v),
            ..
        } => assert_eq!(v, input),
        other => panic!("unexpected outcome {other:?}"),
    }
    client.close().await.unwrap();
    server.shutdown().await;
}

async fn chatty_gap_free(spawn: Spawn) {
    let (url, server) = serve(spawn, None).await;
    let client = Client::builder(&url)
        .token("alice-token")
        .event_capacity(1)
        .spawner(spawn)
        .connect()
        .await
        .unwrap();
    let h = client
        .submit(SubmitRequest::new("chatty", json!({"count": 3})))
        .await
        .unwrap();
    // The handle's queue is full and the rest waits in the driver: commands still work.
    client.ping().await.unwrap();
    let mut seqs = Vec::new();
    let mut kinds = Vec::new();
    while let Some(ev) = h.events().next().await {
        seqs.push(ev.event_seq);
        kinds.push(ev.event.body.kind().to_owned());
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    assert_eq!(kinds[0], "status");
    assert_eq!(
        &kinds[1..7],
        [
            "log",
            "thought",
            "tool_call",
            "tool_result",
            "metric",
            "progress"
        ]
    );
    assert_eq!(kinds[19], "artifact_ref");
    match h.done().await.unwrap().into_outcome() {
        JobOutcome::Success {
            result: ResultValue::Inline(v),
            ..
        } => assert_eq!(v, json!({"rounds": 3, "events": 20})),
        other => panic!("unexpected outcome {other:?}"),
    }
    client.close().await.unwrap();
    server.shutdown().await;
}

/// `max_buffered_events` reached: the transport is not read (a ping's pong stays unread)
/// until the application reads its events; then nothing is lost.
async fn backpressure(spawn: Spawn) {
    let (url, server) = serve(spawn, None).await;
    let client = Client::builder(&url)
        .token("alice-token")
        .event_capacity(1)
        .max_buffered_events(1)
        .spawner(spawn)
        .connect()
        .await
        .unwrap();
    let h = client
        .submit(SubmitRequest::new("chatty", json!({"count": 3})))
        .await
        .unwrap();
    async_io::Timer::after(Duration::from_millis(300)).await;
    let ping = client.ping();
    let timer = async_io::Timer::after(Duration::from_millis(300));
    let answered = futures_util::select_biased! {
        r = futures_util::FutureExt::fuse(ping) => Some(r),
        _ = futures_util::FutureExt::fuse(timer) => None,
    };
    assert_eq!(answered, None);
    let mut seqs = Vec::new();
    while let Some(ev) = h.events().next().await {
        seqs.push(ev.event_seq);
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    assert!(matches!(
        h.done().await.unwrap().into_outcome(),
        JobOutcome::Success { .. }
    ));
    client.ping().await.unwrap();
    client.close().await.unwrap();
    server.shutdown().await;
}

async fn cancel(spawn: Spawn) {
    let (url, server) = serve(spawn, None).await;
    let client = connect(spawn, &url).await;
    let h = client
        .submit(SubmitRequest::new(
            "slow",
            json!({"seconds": 30, "tick": 0.05}),
        ))
        .await
        .unwrap();
    let first = h.events().next().await.unwrap();
    assert_eq!(first.event.body.kind(), "status");
    client.cancel_with_reason(h.job_id(), "test").await.unwrap();
    assert!(matches!(
        h.done().await.unwrap().into_outcome(),
        JobOutcome::Cancelled { .. }
    ));
    client.close().await.unwrap();
    server.shutdown().await;
}

async fn resume(spawn: Spawn) {
    let dir = tempfile::tempdir().unwrap();
    let (url, server) = serve(spawn, Some(dir.path().join("arcp.db"))).await;
    let a = connect(spawn, &url).await;
    let h = a
        .submit(SubmitRequest::new("chatty", json!({"count": 2})))
        .await
        .unwrap();
    let job = h.job_id().to_owned();
    assert!(matches!(
        h.done().await.unwrap().into_outcome(),
        JobOutcome::Success { .. }
    ));
    let state = a.resume_state().unwrap();
    assert_eq!(state.last_event_seq, 15);
    a.drop_transport().await.unwrap();

    // Resume from seq 0: the runtime replays all 15 frames (14 events + the result).
    let seen: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let tap_seen = Arc::clone(&seen);
    let mut from_zero = state.clone();
    from_zero.last_event_seq = 0;
    let tap: arcp_futures::client::FrameTap = Arc::new(move |ev: TapEvent<'_>| {
        if let TapEvent::Received(bytes) = ev {
            let v: Value = serde_json::from_slice(bytes).unwrap();
            if let (Some(seq), Some(j)) = (v["event_seq"].as_u64(), v["job_id"].as_str()) {
                tap_seen.lock().unwrap().push((seq, j.to_owned()));
            }
        }
    });
    // The runtime may not have noticed the drop yet: a resume of a session still attached is
    // refused, and the client retries by itself (WIRE.md §6, point 1).
    let b = Client::builder(&url)
        .token("alice-token")
        .resume(from_zero.clone())
        .frame_tap(Arc::clone(&tap))
        .spawner(spawn)
        .connect()
        .await
        .expect("resume");
    assert_eq!(b.session_id(), &state.session_id);
    // A ping round trip: everything replayed before it has arrived.
    b.ping().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let expected: Vec<(u64, String)> = (1..=15).map(|s| (s, job.to_string())).collect();
    assert_eq!(seen, expected);
    b.close().await.unwrap();
    server.shutdown().await;
}

#[test]
fn smol_submit_echo() {
    smol::block_on(submit_echo(smol_spawn));
}

#[test]
fn smol_chatty_gap_free() {
    smol::block_on(chatty_gap_free(smol_spawn));
}

#[test]
fn smol_backpressure() {
    smol::block_on(backpressure(smol_spawn));
}

#[test]
fn async_std_backpressure() {
    async_std::task::block_on(backpressure(async_std_spawn));
}

#[test]
fn smol_cancel() {
    smol::block_on(cancel(smol_spawn));
}

#[test]
fn smol_resume() {
    smol::block_on(resume(smol_spawn));
}

#[test]
fn async_std_submit_echo() {
    async_std::task::block_on(submit_echo(async_std_spawn));
}

#[test]
fn async_std_chatty_gap_free() {
    async_std::task::block_on(chatty_gap_free(async_std_spawn));
}

#[test]
fn async_std_cancel() {
    async_std::task::block_on(cancel(async_std_spawn));
}

#[test]
fn async_std_resume() {
    async_std::task::block_on(resume(async_std_spawn));
}
