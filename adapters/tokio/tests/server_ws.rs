//! The WebSocket server driven by a raw tokio-tungstenite peer sending JSON frames.

mod server_support;

use arcp_tokio::server::{Server, spawn_local_ws};
use serde_json::json;
use server_support::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn handshake_welcome_carries_the_d24_fields() {
    let (url, server) = spawn_local_ws().await.unwrap();
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with("/arcp"),
        "{url}"
    );
    let mut p = Peer::connect(&url).await;
    let w = p.hello("alice-token").await;
    let pl = &w["payload"];
    let sid = pl["session_id"].as_str().unwrap();
    assert!(sid.starts_with("sess_"), "{sid}");
    assert_eq!(w["session_id"], pl["session_id"]);
    assert!(pl["resume_token"].as_str().unwrap().len() > 8);
    assert_eq!(pl["resume_window_sec"], 600);
    assert_eq!(pl["heartbeat_interval_sec"], 2);
    assert_eq!(pl["runtime"]["name"], "arcp-tokio");
    assert!(pl["accepted_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(pl["capabilities"]["features"], json!(FEATURES));
    let agents = pl["capabilities"]["agents"].as_array().unwrap();
    assert!(agents.contains(&json!({"name": "echo", "versions": ["1.0.0"], "default": "1.0.0"})));
    assert!(agents.contains(
        &json!({"name": "versioned", "versions": ["1.0.0", "2.0.0"], "default": "2.0.0"})
    ));
    server.shutdown().await;
}

#[tokio::test]
async fn submit_echo_is_accepted_then_answered_with_the_input_verbatim() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    let input = json!({"n": 9007199254740993u64, "s": "héllo", "z": null, "neg": i64::MIN});
    let a = p.submit("echo", input.clone()).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    assert_eq!(a["payload"]["agent"], "echo@1.0.0");
    let frames = p.until_terminal(&job).await;
    assert_eq!(frames.len(), 1);
    let r = &frames[0];
    assert_eq!(r["type"], "job.result");
    assert_eq!(r["event_seq"], 1);
    assert_eq!(r["payload"]["final_status"], "success");
    assert_eq!(r["payload"]["result"], input);
    server.shutdown().await;
}

#[tokio::test]
async fn chatty_events_arrive_in_order_without_a_gap() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    let a = p.submit("chatty", json!({"count": 20})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    let frames = p.until_terminal(&job).await;
    // 6·count + 2 events, then the result.
    assert_eq!(frames.len(), 123);
    assert_eq!(seqs(&frames), (1..=123).collect::<Vec<u64>>());
    assert_eq!(frames[0]["payload"]["kind"], "status");
    assert_eq!(frames[121]["payload"]["kind"], "artifact_ref");
    assert_eq!(
        frames[122]["payload"]["result"],
        json!({"rounds": 20, "events": 122})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn cancel_ends_a_slow_job_cancelled() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    let a = p.submit("slow", json!({"seconds": 30, "tick": 0.05})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    // Wait for the start and one progress tick.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(p.recv().await);
    }
    p.send(&json!({"arcp": "1.1", "id": eid(), "type": "job.cancel",
                   "session_id": p.session_id, "job_id": job, "payload": {"reason": "test"}}))
        .await;
    let rest = p.until_terminal(&job).await;
    let last = rest.last().unwrap();
    assert_eq!(last["type"], "job.result");
    assert_eq!(last["payload"]["final_status"], "cancelled");
    seen.extend(rest);
    let s = seqs(&seen);
    assert_eq!(s, (1..=s.len() as u64).collect::<Vec<u64>>());
    server.shutdown().await;
}

#[tokio::test]
async fn resume_after_a_drop_replays_what_was_missed_and_keeps_streaming() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    let w = p.hello("alice-token").await;
    let sid = w["payload"]["session_id"].clone();
    let token = w["payload"]["resume_token"].clone();
    let a = p.submit("slow", json!({"seconds": 1.0, "tick": 0.1})).await;
    let job = a["job_id"].as_str().unwrap().to_owned();
    let first = p.recv().await; // status slow.start
    let second = p.recv().await; // progress 1
    assert_eq!(seqs(&[first, second]), vec![1, 2]);
    drop(p);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut q = Peer::connect(&url).await;
    q.send(&hello(
        "alice-token",
        Some(json!({"session_id": sid, "resume_token": token, "last_event_seq": 2})),
    ))
    .await;
    let w2 = q.recv().await;
    assert_eq!(w2["type"], "session.welcome", "{w2}");
    assert_eq!(w2["payload"]["session_id"], sid);
    assert_ne!(
        w2["payload"]["resume_token"], token,
        "rotated on every welcome"
    );
    let frames = q.until_terminal(&job).await;
    // slow.start + 10 progress ticks + the result = 12 frames; 1 and 2 were seen.
    assert_eq!(seqs(&frames), (3..=12).collect::<Vec<u64>>());
    assert_eq!(
        frames.last().unwrap()["payload"]["result"],
        json!({"slept": 1.0, "ticks": 10})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_bad_token_gets_unauthenticated_and_the_connection_closes() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    p.send(&hello("mallory-token", None)).await;
    let e = p.recv().await;
    assert_eq!(e["type"], "session.error");
    assert_eq!(e["payload"]["code"], "UNAUTHENTICATED");
    assert_eq!(p.end().await, End::Close(1000));
    server.shutdown().await;
}

#[tokio::test]
async fn an_over_cap_frame_closes_1009_without_an_error_frame_d35() {
    let (url, server) = Server::builder()
        .demo()
        .max_frame_bytes(4096)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    // Exactly at the cap is fine.
    let mut s = submit("echo", json!({"pad": ""}));
    s["session_id"] = json!(p.session_id);
    let base = s.to_string().len();
    s["payload"]["input"]["pad"] = json!("x".repeat(4096 - base));
    assert_eq!(s.to_string().len(), 4096);
    p.send(&s).await;
    assert_eq!(p.recv().await["type"], "job.accepted");
    assert_eq!(p.recv().await["type"], "job.result");
    // One byte more closes the connection 1009, with no session.error.
    s["payload"]["input"]["pad"] = json!("x".repeat(4097 - base));
    p.send(&s).await;
    assert_eq!(p.end().await, End::Close(1009));
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_tcp_connection_that_never_upgrades_does_not_block_another_client() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let addr = server.local_addr().unwrap();
    // Connects, sends half a request line, then stays silent.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /arcp HTTP/1.1\r\n").await.unwrap();
    let mut idle2 = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle2.write_all(b"").await.unwrap();
    let t = tokio::time::timeout(Duration::from_secs(3), async {
        let mut p = Peer::connect(&url).await;
        p.hello("bob-token").await
    })
    .await
    .expect("a second client got through");
    assert_eq!(t["type"], "session.welcome");
    drop((idle, idle2));
    server.shutdown().await;
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_dropped_after_the_timeout() {
    let (_url, server) = Server::builder()
        .demo()
        .handshake_timeout(Duration::from_millis(200))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut idle = tokio::net::TcpStream::connect(server.local_addr().unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::io::AsyncReadExt::read(&mut idle, &mut buf),
    )
    .await
    .expect("the server dropped the idle connection");
    assert_eq!(n.unwrap_or(0), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn another_path_is_closed_1008() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let other = url.replace("/arcp", "/nope");
    let mut p = Peer::connect(&other).await;
    assert_eq!(p.end().await, End::Close(1008));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_live_connections_1000() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    p.submit("slow", json!({"seconds": 30})).await;
    server.shutdown().await;
    assert_eq!(p.end().await, End::Close(1000));
}

#[tokio::test]
async fn credentials_are_provisioned_for_model_use_and_rotated_to_fresh_virtual_values() {
    let (url, server) = spawn_local_ws().await.unwrap();
    let mut p = Peer::connect(&url).await;
    p.hello("alice-token").await;
    let mut s = submit("rotator", json!({"delay_sec": 0.01}));
    s["session_id"] = json!(p.session_id);
    s["payload"]["lease_request"] = json!({"model.use": ["tier-fast/*"]});
    p.send(&s).await;
    let a = p.recv().await;
    assert_eq!(a["type"], "job.accepted", "{a}");
    let creds = a["payload"]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    let c = &creds[0];
    let id = c["id"].as_str().unwrap();
    let value = c["value"].as_str().unwrap();
    assert!(id.starts_with("cred_") && id.len() == 31, "{id}");
    assert!(value.starts_with("virt-") && value.len() == 31, "{value}");
    assert_eq!(c["endpoint"], "https://llm-gateway.invalid/v1");
    assert_eq!(c["scheme"], "bearer");
    assert_eq!(c["constraints"]["model_use"], json!(["tier-fast/*"]));
    let job = a["job_id"].as_str().unwrap().to_owned();
    let frames = p.until_terminal(&job).await;
    let rotated = &frames[0]["payload"]["body"];
    assert_eq!(rotated["phase"], "credential_rotated");
    assert_eq!(rotated["id"], id);
    let new = rotated["value"].as_str().unwrap();
    assert!(
        new.starts_with("virt-") && new.len() == 31 && new != value,
        "{new}"
    );
    assert_eq!(frames[1]["payload"]["result"], json!({"rotated": [id]}));
    server.shutdown().await;
}

#[tokio::test]
async fn without_credentials_the_feature_is_not_advertised_and_none_are_issued() {
    let (url, server) = Server::builder()
        .demo()
        .credentials(false)
        .heartbeat_interval(Duration::ZERO)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut p = Peer::connect(&url).await;
    let w = p.hello("alice-token").await;
    let features = w["payload"]["capabilities"]["features"].as_array().unwrap();
    assert_eq!(features.len(), 9);
    assert!(!features.contains(&json!("provisioned_credentials")));
    assert!(!features.contains(&json!("heartbeat")));
    assert_eq!(w["payload"].get("heartbeat_interval_sec"), None);
    server.shutdown().await;
}

#[tokio::test]
async fn configured_tokens_replace_the_contract_tokens_and_observers_see_every_job() {
    let (url, server) = Server::builder()
        .demo()
        .tokens([("carol-token", "carol"), ("dave-token", "dave")])
        .observer("dave")
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut refused = Peer::connect(&url).await;
    refused.send(&hello("alice-token", None)).await;
    assert_eq!(refused.recv().await["payload"]["code"], "UNAUTHENTICATED");
    let mut carol = Peer::connect(&url).await;
    carol.hello("carol-token").await;
    let a = carol.submit("slow", json!({"seconds": 30})).await;
    let job = a["job_id"].clone();
    let mut dave = Peer::connect(&url).await;
    dave.hello("dave-token").await;
    dave.send(
        &json!({"arcp": "1.1", "id": eid(), "type": "session.list_jobs",
                      "session_id": dave.session_id, "payload": {}}),
    )
    .await;
    let jobs = dave.until("session.jobs").await;
    let listed = jobs.last().unwrap()["payload"]["jobs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["job_id"], job);
    server.shutdown().await;
}
