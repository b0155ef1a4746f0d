//! The host's dialect, by hand: `handle_*` in, `poll_action` out, with a fake clock (core
//! time from 0, wall time anchored at 2023-11-14T22:13:20Z) and seeded entropy, so every
//! frame and action is exact: the ids are ULIDs whose time part is the injected wall time
//! (`01HF7YAT00` is 1,700,000,000,000 ms) and whose random part comes from the seeds.

mod support;

use support::*;

const FEATURES: &[&str] = &["heartbeat", "provisioned_credentials", "model.use"];

fn text(d: &Did) -> String {
    match d {
        Did::Queued(_, Outbound::Frame(b)) => String::from_utf8(b.to_vec()).unwrap(),
        other => format!("{other:?}"),
    }
}

/// Opens a session on conn 1 and submits an `echo` job leasing `model.use`.
fn scripted() -> Rig {
    let mut r = Rig::new(&mut demo_opts());
    let a = ConnId(1);
    r.open(a);
    r.feed(Input::Frame {
        conn: a,
        bytes: hello_with("01J00000000000000000000001", "alice-token", FEATURES),
    });
    r.run_auths();
    r.frame(
        a,
        json!({"arcp": "1.1", "id": "01J00000000000000000000002", "type": "job.submit",
            "session_id": "sess_01HF7YAT00BK0VXTWDM5JRXV37",
            "payload": {"agent": "echo", "input": {"x": 1},
                "lease_request": {"model.use": ["tier-fast/*"]}}}),
    );
    r
}

#[test]
fn a_session_and_a_job_give_exact_frames_and_actions() {
    let r = scripted();
    let did: Vec<String> = r.did.iter().map(text).collect();
    let features = r#"["heartbeat","ack","list_jobs","subscribe","lease_expires_at","cost.budget","progress","result_chunk","agent_versions","model.use","provisioned_credentials"]"#;
    let agents = r#"["echo","chatty","slow","budget","lease-check","chunked","delegator","failing","rotator","versioned","tool-user"]"#;
    assert_eq!(
        did,
        vec![
            r#"Auth(EffectId(1), "alice-token")"#.to_owned(),
            format!(
                r#"{{"arcp":"1.1","id":"01HF7YAT00BK0VXTWDM5JRXV39","type":"session.welcome","session_id":"sess_01HF7YAT00BK0VXTWDM5JRXV37","payload":{{"runtime":{{"name":"host-test","version":"0.0.0"}},"session_id":"sess_01HF7YAT00BK0VXTWDM5JRXV37","resume_token":"rtk_01HF7YAT00BK0VXTWDM5JRXV38","resume_window_sec":600,"heartbeat_interval_sec":2,"capabilities":{{"encodings":["json"],"features":{features},"agents":{agents}}},"accepted_at":"2023-11-14T22:13:20Z"}}}}"#
            ),
            // The credential is minted by the host at the injected wall time with the
            // host's own seed (2); the runtime's ids come from seed 1.
            r#"{"arcp":"1.1","id":"01HF7YAT00BK0VXTWDM5JRXV3B","type":"job.accepted","session_id":"sess_01HF7YAT00BK0VXTWDM5JRXV37","job_id":"job_01HF7YAT00BK0VXTWDM5JRXV3A","payload":{"job_id":"job_01HF7YAT00BK0VXTWDM5JRXV3A","agent":"echo@1.0.0","accepted_at":"2023-11-14T22:13:20Z","lease":{"model.use":["tier-fast/*"]},"credentials":[{"id":"cred_01HF7YAT00AV7BZJ26205ZR7J2","scheme":"bearer","value":"virt-01HF7YAT00AV7BZJ26205ZR7J3","endpoint":"https://llm-gateway.invalid/v1","profile":"openai","constraints":{"model_use":["tier-fast/*"]}}],"request_id":"01J00000000000000000000002"}}"#.to_owned(),
            r#"Spawned("job_01HF7YAT00BK0VXTWDM5JRXV3A")"#.to_owned(),
        ]
    );
    assert_eq!(r.h.agents_running(), 1);
    // The same seeds and clock give the same bytes.
    assert_eq!(scripted().did, r.did);
}

#[test]
fn the_heartbeat_fires_only_once_the_fake_clock_reaches_the_deadline() {
    let mut r = scripted();
    r.did.clear();
    // First the metrics snapshot is due, then the heartbeat.
    assert_eq!(r.h.poll_timeout(), Some(Instant::from_micros(5_000)));
    r.advance(5);
    r.tick();
    assert_eq!(r.h.poll_timeout(), Some(Instant::from_micros(2_000_000)));
    assert!(!r.fired, "the snapshot is not the runtime's deadline");
    r.advance(1_994);
    r.tick();
    assert!(!r.fired);
    assert!(r.did.is_empty());
    r.advance(501);
    r.tick();
    assert!(r.fired);
    let did: Vec<String> = r.did.iter().map(text).collect();
    assert_eq!(
        did,
        vec![
            r#"{"arcp":"1.1","id":"01HF7YAWE49XGSNZ6M9MACZ2ZZ","type":"session.ping","session_id":"sess_01HF7YAT00BK0VXTWDM5JRXV37","payload":{"nonce":"01HF7YAWE49XGSNZ6M9MACZ2ZY","sent_at":"2023-11-14T22:13:22.500000+00:00"}}"#
        ]
    );
}

#[test]
fn a_spawn_that_fails_ends_the_job_and_frees_its_slot() {
    let mut r = Rig::new(&mut demo_opts());
    let a = ConnId(1);
    r.open(a);
    let sid = r.login(a, "01J00000000000000000000001", "alice-token");
    r.h.handle_frame(
        r.now,
        a,
        json!({"arcp": "1.1", "id": "01J00000000000000000000002", "type": "job.submit",
            "session_id": sid, "payload": {"agent": "echo", "input": {}}})
        .to_string()
        .as_bytes(),
    );
    let mut task = None;
    while let Some(action) = r.h.poll_action() {
        match action {
            Action::SpawnAgent(t) => task = Some(t),
            Action::Transmit { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let task = task.unwrap();
    assert_eq!(r.h.agents_running(), 1);
    let failed = EffectOutcome::Failed {
        message: "no thread".into(),
    };
    r.h.handle_effect_result(r.now, task.effect, failed);
    r.drain();
    assert_eq!(r.h.agents_running(), 0);
    let last = r.frames(a).pop().unwrap();
    assert_eq!(last["type"], "job.error");
    assert_eq!(last["job_id"], task.job_id.as_str());
    assert_eq!(last["payload"]["code"], "INTERNAL_ERROR");
}

#[test]
fn shutdown_closes_every_open_connection_1000_and_feeds_nothing_more() {
    let mut r = scripted();
    r.open(ConnId(2));
    r.did.clear();
    r.h.handle_shutdown(r.now);
    r.drain();
    assert_eq!(
        r.did,
        vec![
            Did::Queued(ConnId(1), Outbound::Close(1000)),
            Did::Queued(ConnId(2), Outbound::Close(1000)),
        ]
    );
    assert_eq!(r.h.agents_running(), 0);
    // An authentication answered late is never fed.
    r.h.handle_effect_result(r.now, EffectId(1), EffectOutcome::Done);
    assert!(r.h.poll_action().is_none());
}

#[test]
fn metrics_are_published_5_ms_after_a_change_through_the_timeout() {
    let mut r = Rig::new(&mut demo_opts());
    let metrics = r.h.metrics();
    r.tick();
    assert_eq!(r.h.poll_timeout(), None);
    r.open(ConnId(1));
    r.login(ConnId(1), "01J00000000000000000000001", "alice-token");
    assert_eq!(metrics.get().runtime.sessions_opened, 0);
    // No heartbeat negotiated: the only deadline is the snapshot's.
    assert_eq!(r.h.poll_timeout(), Some(Instant::from_micros(5_000)));
    r.advance(4);
    r.tick();
    assert_eq!(metrics.get().runtime.sessions_opened, 0);
    r.advance(1);
    r.tick();
    assert_eq!(metrics.get().runtime.sessions_opened, 1);
    assert_eq!(metrics.get().runtime.frames_out, 1);
    assert_eq!(r.h.poll_timeout(), None);
    assert!(r.did.iter().all(|d| !matches!(d, Did::Killed(..))));
}

#[test]
fn a_durable_host_hands_out_one_store_batch_at_a_time_and_transmits_after_it() {
    let path = std::env::temp_dir().join(format!("arcp-host-dialect-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut opts = ServerOptions {
        db: Some(path.clone()),
        ..demo_opts()
    };
    let now = Instant::from_micros(0);
    let wall = WallClock::new(now, UNIX_MICROS_AT_0);
    let built = opts
        .build(
            "host-test",
            "0.0.0",
            now,
            wall,
            Box::new(SeededEntropy::new(1)),
        )
        .unwrap();
    let (mut h, store) = ServerHost::new(
        now,
        built,
        Arc::new(NoLink),
        true,
        Box::new(SeededEntropy::new(2)),
    );
    let mut db = store.unwrap();
    let a = ConnId(1);
    h.handle_connection_opened(now, a, TransportKind::WebSocket);
    h.handle_frame(now, a, &hello("01J00000000000000000000001", "alice-token"));
    let Some(Action::Authenticate { id, auth, token }) = h.poll_action() else {
        panic!("expected the authentication");
    };
    assert!(h.poll_action().is_none());
    h.handle_effect_result(now, id, effect_outcome(&*auth, &token));
    // Write-ahead: the session record goes to the store before the welcome is sent.
    let Some(Action::Store(batch)) = h.poll_action() else {
        panic!("expected a store batch");
    };
    assert!(h.store_inflight());
    assert!(h.poll_action().is_none());
    let done = arcp_host::server::run_batch(&mut db, batch, 100);
    assert!(!done.is_empty());
    h.handle_store_done(now, done);
    assert!(!h.store_inflight());
    let mut welcome = None;
    while let Some(action) = h.poll_action() {
        match action {
            Action::Transmit { conn, bytes } => {
                assert_eq!(conn, a);
                welcome = Some(serde_json::from_slice::<Value>(&bytes).unwrap());
            }
            other => panic!("{other:?}"),
        }
    }
    let welcome = welcome.unwrap();
    assert_eq!(welcome["type"], "session.welcome");
    assert_eq!(
        welcome["payload"]["session_id"],
        "sess_01HF7YAT00BK0VXTWDM5JRXV37"
    );
    drop(db);
    let _ = std::fs::remove_file(&path);
}
