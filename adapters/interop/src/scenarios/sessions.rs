//! subscribe, unsubscribe, subscriber_cannot_cancel, resume_replay, resume_live_job, ack,
//! heartbeat.

use super::basic::statuses;
use crate::api::SubmitSpec;
use crate::check::{Res, Stop, check, eq, new_ulid, now_z, parse_ts, short};
use crate::ctx::{Ctx, assert_gap_free, payload_view};
use crate::tap::{TERMINAL_TYPES, payload, ty};
use serde_json::{Value, json};
use std::thread::sleep;
use std::time::{Duration, Instant};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn welcome_of(tap: &crate::tap::Tap) -> Res<(String, String)> {
    let w = tap.inbound_at(0).unwrap_or(Value::Null);
    let p = payload(&w);
    match (w["session_id"].as_str(), p["resume_token"].as_str()) {
        (Some(s), Some(t)) => Ok((s.to_owned(), t.to_owned())),
        _ => Err(Stop::fail("no session.welcome with a resume_token")),
    }
}

pub(super) fn subscribe(ctx: &Ctx) -> Res {
    ctx.require_multi_session()?;
    let a = ctx.client(None, None)?;
    let job = a.client.submit(&SubmitSpec::new(
        "slow",
        json!({"seconds": 2.0, "tick": 0.25}),
    ))?;
    a.tap.wait_until(
        |t| t.job_events(&job, None).len() >= 3,
        5.0,
        "three events on the submitting session",
    )?;
    let b = ctx.client(None, None)?;
    let start = b.tap.len();
    b.client.subscribe(&job, true, Some(0))?;
    let req = b.tap.last_sent("job.subscribe")?;
    eq(
        &req["payload"],
        &json!({"job_id": job, "history": true, "from_event_seq": 0}),
        "job.subscribe payload",
    )?;
    let sf = b
        .tap
        .wait_for(|f| ty(f) == "job.subscribed", 3.0, "job.subscribed", start)?;
    let sp = payload(&sf);
    eq(&sp["job_id"], &json!(job), "job.subscribed job_id")?;
    eq(
        &sp["request_id"],
        &req["id"],
        "job.subscribed request_id (required by the reference client)",
    )?;
    eq(&sp["current_status"], &json!("running"), "current_status")?;
    eq(&sp["agent"], &json!("slow@1.0.0"), "job.subscribed agent")?;
    eq(&sp["lease"], &json!({}), "job.subscribed lease")?;
    check(
        sp.get("credentials").is_none_or(Value::is_null),
        "credentials in job.subscribed for a job without credentials",
    )?;
    let rp = &sp["replayed"];
    check(
        rp.as_u64().is_some_and(|n| n >= 3),
        format!(
            "job.subscribed replayed must be an integer count >= 3 (COMPAT D9), got {}",
            short(rp)
        ),
    )?;
    let ta = a.tap.wait_terminal(&job, 6.0)?;
    let tb = b.tap.wait_terminal(&job, 6.0)?;
    eq(
        &payload(&ta)["final_status"],
        &json!("success"),
        "submitter terminal",
    )?;
    eq(payload(&tb), payload(&ta), "subscriber terminal payload")?;
    let (fa, fb) = (a.tap.job_frames(&job), b.tap.job_frames(&job));
    eq(
        &json!(fa.len()),
        &json!(1 + 8 + 1),
        "frames of the slow job on the submitting session",
    )?;
    eq(
        &payload_view(&fb),
        &payload_view(&fa),
        "subscriber sees the full history + live stream, identical payloads",
    )?;
    assert_gap_free(&fb, "subscriber session", 1)?;
    let bsid = json!(b.tap.session_id());
    for f in &fb {
        eq(&f["session_id"], &bsid, "forwarded frame session_id")?;
    }
    let res = b.client.done(&job, secs(3.0))?;
    eq(
        &json!(res.final_status),
        &json!("success"),
        "subscription handle final_status",
    )
}

pub(super) fn unsubscribe(ctx: &Ctx) -> Res {
    ctx.require_multi_session()?;
    let a = ctx.client(None, None)?;
    let job = a.client.submit(&SubmitSpec::new(
        "slow",
        json!({"seconds": 2.4, "tick": 0.2}),
    ))?;
    a.tap.wait_until(
        |t| t.job_events(&job, None).len() >= 2,
        5.0,
        "two events on the submitting session",
    )?;
    let b = ctx.client(None, None)?;
    b.client.subscribe(&job, false, None)?;
    eq(
        &b.tap.last_sent("job.subscribe")?["payload"],
        &json!({"job_id": job, "history": false}),
        "job.subscribe payload",
    )?;
    b.tap.wait_for(
        |f| ty(f) == "job.event" && f["job_id"] == json!(job),
        3.0,
        "a live event on the subscriber",
        0,
    )?;
    let first_b = payload(&b.tap.job_events(&job, None)[0]).clone();
    // Delivery order across two connections is not protocol behaviour (the runtime may
    // write the subscriber's copy first): give the submitter's copy a bounded moment.
    let seen_by_a = |t: &crate::tap::Tap| {
        t.job_events(&job, None)
            .iter()
            .any(|f| *payload(f) == first_b)
    };
    let _ = a.tap.wait_until(
        seen_by_a,
        1.0,
        "the subscriber's first event on the submitting session",
    );
    eq(
        &json!(seen_by_a(&a.tap)),
        &json!(true),
        "subscriber event also seen by the submitter",
    )?;
    check(
        first_b["kind"] != json!("status"),
        "history=false subscription replayed the slow.start status event",
    )?;
    b.client.unsubscribe(&job)?;
    eq(
        &b.tap.last_sent("job.unsubscribe")?["payload"],
        &json!({"job_id": job}),
        "job.unsubscribe payload",
    )?;
    sleep(secs(0.3));
    let n = b.tap.job_frames(&job).len();
    a.tap.wait_terminal(&job, 5.0)?;
    sleep(secs(0.4));
    eq(
        &json!(b.tap.job_frames(&job).len()),
        &json!(n),
        "frames delivered to the subscriber after job.unsubscribe",
    )?;
    check(
        b.tap
            .frames(|f| TERMINAL_TYPES.contains(&ty(f)) && f["job_id"] == json!(job))
            .is_empty(),
        "unsubscribed session received the terminal",
    )
}

pub(super) fn subscriber_cannot_cancel(ctx: &Ctx) -> Res {
    ctx.require_multi_session()?;
    let a = ctx.client(None, None)?;
    let job = a.client.submit(&SubmitSpec::new(
        "slow",
        json!({"seconds": 1.5, "tick": 0.25}),
    ))?;
    let o = ctx.client(Some(&ctx.opts.observer_token.clone()), None)?;
    let lst = o.client.list_jobs(&json!({}))?;
    check(
        statuses(&lst).contains_key(job.as_str()),
        "observer principal cannot see the job in session.list_jobs",
    )?;
    o.client.subscribe(&job, false, None)?;
    let sf = o.tap.frames(|f| ty(f) == "job.subscribed");
    check(
        sf.last()
            .is_some_and(|f| payload(f)["job_id"] == json!(job)),
        "no job.subscribed for the observer",
    )?;
    let start = o.tap.len();
    // The API may refuse locally; the runtime's answer is what is checked.
    let _ = o.client.cancel(&job, "observer.cancel");
    let ta = a.tap.wait_terminal(&job, 5.0)?;
    eq(
        &ta["type"],
        &json!("job.result"),
        "terminal type on the submitter",
    )?;
    eq(
        &payload(&ta)["final_status"],
        &json!("success"),
        "final_status (observer cancel must be ignored)",
    )?;
    eq(
        &payload(&ta)["result"],
        &json!({"slept": 1.5, "ticks": 6}),
        "slow result",
    )?;
    let to = o.tap.wait_terminal(&job, 3.0)?;
    eq(
        &payload(&to)["final_status"],
        &json!("success"),
        "observer terminal",
    )?;
    for f in o.tap.inbound_from(start) {
        if ty(&f) == "session.error" {
            // COMPAT D7/D37: PERMISSION_DENIED or JOB_NOT_FOUND may answer it, silence too.
            let code = &payload(&f)["code"];
            check(
                *code == json!("PERMISSION_DENIED") || *code == json!("JOB_NOT_FOUND"),
                format!(
                    "observer cancel answered with {}; only PERMISSION_DENIED or JOB_NOT_FOUND may answer it",
                    code.as_str().unwrap_or("None")
                ),
            )?;
        }
    }
    Ok(())
}

pub(super) fn resume_replay(ctx: &Ctx) -> Res {
    ctx.require_multi_session()?;
    let a = ctx.client(None, None)?;
    let (sid, token1) = welcome_of(&a.tap)?;
    let job = a
        .client
        .submit(&SubmitSpec::new("chatty", json!({"count": 2})))?;
    a.tap.wait_terminal(&job, 10.0)?;
    let orig = a.tap.seq_frames();
    assert_gap_free(&orig, "original session", 1)?;
    eq(
        &json!(orig.len()),
        &json!(15),
        "seq frames of chatty(count=2)",
    )?;
    a.client.drop_transport();
    a.tap.wait_closed(3.0);
    let b = ctx.resume(&ctx.opts.alice_token, &sid, &token1, 5)?;
    let hello = b.tap.last_sent("session.hello")?;
    eq(
        &hello["payload"]["resume"],
        &json!({"session_id": sid, "resume_token": token1, "last_event_seq": 5}),
        "session.hello resume block",
    )?;
    let wb = b.tap.inbound_at(0).unwrap_or(Value::Null);
    eq(&wb["type"], &json!("session.welcome"), "reply to resume")?;
    eq(&wb["session_id"], &json!(sid), "resumed session_id")?;
    eq(
        &payload(&wb)["session_id"],
        &json!(sid),
        "resumed payload.session_id",
    )?;
    let token2 = payload(&wb)["resume_token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    check(
        !token2.is_empty() && token2 != token1,
        "resume_token must rotate on every welcome",
    )?;
    b.tap.wait_for(
        |f| f["event_seq"] == json!(15),
        5.0,
        "replay up to event_seq 15",
        0,
    )?;
    sleep(secs(0.3));
    let rep = b.tap.seq_frames();
    let seqs: Vec<Value> = rep.iter().map(|f| f["event_seq"].clone()).collect();
    eq(
        &json!(seqs),
        &json!((6..16).collect::<Vec<u64>>()),
        "replayed event_seq values",
    )?;
    eq(
        &payload_view(&rep),
        &payload_view(&orig[5..]),
        "replayed frames equal the originals",
    )?;
    let j2 = b
        .client
        .submit(&SubmitSpec::new("echo", json!("after-resume")))?;
    let t2 = b.tap.wait_terminal(&j2, 5.0)?;
    eq(
        &t2["event_seq"],
        &json!(16),
        "first new event_seq after the replay tail",
    )?;
    b.client.drop_transport();
    b.tap.wait_closed(3.0);
    let c = ctx.resume(&ctx.opts.alice_token, &sid, &token2, 16)?;
    sleep(secs(0.4));
    eq(
        &json!(c.tap.seq_frames()),
        &json!([]),
        "replay when last_event_seq is the latest",
    )?;
    let token3 = payload(&c.tap.inbound_at(0).unwrap_or(Value::Null))["resume_token"].clone();
    check(
        token3 != json!(token2) && token3 != json!(token1),
        "resume_token must rotate again",
    )?;
    c.client.drop_transport();
    c.tap.wait_closed(3.0);
    sleep(secs(0.2));
    // The first (stale) token must not be accepted any more.
    let (raw, first) = ctx.raw(
        None,
        None,
        Some(json!({"session_id": sid, "resume_token": token1, "last_event_seq": 16})),
        false,
    )?;
    eq(
        &first["type"],
        &json!("session.error"),
        "reply to a resume with a stale token",
    )?;
    eq(
        &payload(&first)["code"],
        &json!("PERMISSION_DENIED"),
        "stale-token resume error code (COMPAT D2)",
    )?;
    check(
        raw.tap.wait_closed(3.0),
        "runtime kept the connection open after rejecting the resume",
    )
}

pub(super) fn resume_live_job(ctx: &Ctx) -> Res {
    ctx.require_multi_session()?;
    let a = ctx.client(None, None)?;
    let (sid, token) = welcome_of(&a.tap)?;
    let job = a.client.submit(&SubmitSpec::new(
        "slow",
        json!({"seconds": 2.5, "tick": 0.25}),
    ))?;
    a.tap.wait_until(
        |t| t.seq_frames().len() >= 3,
        5.0,
        "three seq frames before the drop",
    )?;
    a.client.drop_transport();
    a.tap.wait_closed(3.0);
    let before = a.tap.seq_frames();
    let last = before
        .last()
        .and_then(|f| f["event_seq"].as_u64())
        .unwrap_or(0);
    sleep(secs(0.5));
    let b = ctx.resume(&ctx.opts.alice_token, &sid, &token, last)?;
    let term = b.tap.wait_terminal(&job, 6.0)?;
    let after = b.tap.seq_frames();
    let all: Vec<Value> = before.iter().chain(&after).cloned().collect();
    assert_gap_free(&all, "pre-drop + post-resume stream", 1)?;
    eq(
        &json!(all.len()),
        &json!(1 + 10 + 1),
        "frames of slow(2.5s, 0.25s tick) across the drop",
    )?;
    eq(
        &payload(&term)["result"],
        &json!({"slept": 2.5, "ticks": 10}),
        "slow result after resume",
    )
}

pub(super) fn ack(ctx: &Ctx) -> Res {
    let a = ctx.client(None, None)?;
    let (sid, token) = welcome_of(&a.tap)?;
    let job = a
        .client
        .submit(&SubmitSpec::new("chatty", json!({"count": 2})))?;
    a.tap.wait_terminal(&job, 10.0)?;
    let orig = a.tap.seq_frames();
    eq(
        &json!(orig.len()),
        &json!(15),
        "seq frames of chatty(count=2)",
    )?;
    let start = a.tap.len();
    a.client.ack(10)?;
    let sent = a.tap.last_sent("session.ack")?;
    eq(
        &sent["payload"],
        &json!({"last_processed_seq": 10}),
        "session.ack payload",
    )?;
    check(
        sent.get("event_seq").is_none(),
        "session.ack must not carry event_seq",
    )?;
    sleep(secs(0.5));
    let replies: Vec<Value> = a
        .tap
        .inbound_from(start)
        .into_iter()
        .filter(|f| !["session.ping", "session.pong"].contains(&ty(f)))
        .collect();
    eq(
        &json!(replies),
        &json!([]),
        "frames sent by the runtime in reply to session.ack",
    )?;
    let j2 = a
        .client
        .submit(&SubmitSpec::new("echo", json!("after-ack")))?;
    let t2 = a.tap.wait_terminal(&j2, 5.0)?;
    eq(&t2["event_seq"], &json!(16), "event_seq after an ack")?;
    if !ctx.multi_session() {
        return Ok(());
    }
    let orig = a.tap.seq_frames();
    a.client.drop_transport();
    a.tap.wait_closed(3.0);
    let b = ctx.resume(&ctx.opts.alice_token, &sid, &token, 10)?;
    b.tap.wait_for(
        |f| f["event_seq"] == json!(16),
        5.0,
        "replay up to event_seq 16",
        0,
    )?;
    sleep(secs(0.3));
    let rep = b.tap.seq_frames();
    let seqs: Vec<Value> = rep.iter().map(|f| f["event_seq"].clone()).collect();
    eq(
        &json!(seqs),
        &json!((11..17).collect::<Vec<u64>>()),
        "replay after resuming from the acked seq",
    )?;
    eq(
        &payload_view(&rep),
        &payload_view(&orig[10..]),
        "replayed frames equal the originals",
    )
}

pub(super) fn heartbeat(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let t_welcome = Instant::now();
    let hb = payload(&s.tap.inbound_at(0).unwrap_or(Value::Null))["heartbeat_interval_sec"].clone();
    let Some(hbn) = hb.as_u64().filter(|n| *n >= 1) else {
        return Err(Stop::fail(format!("heartbeat_interval_sec {}", short(&hb))));
    };
    let hbf = hbn as f64;
    let ping = s.tap.wait_for(
        |f| ty(f) == "session.ping",
        2.0 * hbf + 1.0,
        "runtime session.ping",
        0,
    )?;
    let pp = payload(&ping).clone();
    check(
        pp["nonce"].as_str().is_some_and(|n| !n.is_empty()),
        "ping nonce must be a non-empty string",
    )?;
    parse_ts(&pp["sent_at"])?;
    check(
        ping.get("event_seq").is_none() && ping.get("job_id").is_none(),
        "session.ping must not carry event_seq/job_id",
    )?;
    eq(
        &ping["session_id"],
        &json!(s.tap.session_id()),
        "session.ping session_id",
    )?;
    let answered = |t: &crate::tap::Tap| {
        t.outbound()
            .iter()
            .any(|f| ty(f) == "session.pong" && f["payload"]["ping_nonce"] == pp["nonce"])
    };
    let deadline = Instant::now() + secs(2.0);
    while Instant::now() < deadline && !answered(&s.tap) {
        sleep(secs(0.05));
    }
    check(answered(&s.tap), "client did not answer the runtime ping")?;
    let nonce = format!("p_{}", new_ulid());
    let start = s.tap.len();
    s.send(
        "session.ping",
        json!({"nonce": nonce, "sent_at": now_z(0.0, true)}),
    )?;
    let pong = s
        .tap
        .wait_for(|f| ty(f) == "session.pong", 2.0, "session.pong", start)?;
    eq(
        &payload(&pong)["ping_nonce"],
        &json!(nonce),
        "pong ping_nonce",
    )?;
    parse_ts(&payload(&pong)["received_at"])?;
    check(
        pong.get("event_seq").is_none(),
        "session.pong must not carry event_seq",
    )?;
    let rest = 2.5 * hbf - t_welcome.elapsed().as_secs_f64();
    if rest > 0.0 {
        sleep(secs(rest));
    }
    check(
        !s.tap.is_closed(),
        "runtime closed a session whose peer answers pings",
    )?;
    check(
        s.tap.frames(|f| ty(f) == "session.ping").len() >= 2,
        "runtime sent fewer than two pings in 2.5 intervals",
    )
}
