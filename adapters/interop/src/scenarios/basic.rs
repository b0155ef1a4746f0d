//! handshake, submit_echo, event_ordering, progress_events, cancel, idempotent_resubmit,
//! agent_versions, list_jobs.

use super::AGENT_CONTRACT;
use crate::api::SubmitSpec;
use crate::check::{Res, check, close_to, eq, new_trace_id, new_ulid, parse_ts, short};
use crate::ctx::{
    Ctx, accepted_frame, assert_gap_free, expect_submit_error, last_accepted, submit_and_wait,
};
use crate::tap::{SEQ_TYPES, Tap, payload, ty};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::thread::sleep;
use std::time::{Duration, Instant};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub(super) fn handshake(ctx: &Ctx) -> Res {
    let a = ctx.client(None, None)?;
    let w = a.tap.inbound_at(0).unwrap_or(Value::Null);
    eq(&w["type"], &json!("session.welcome"), "first frame")?;
    eq(&w["arcp"], &json!("1.1"), "envelope arcp")?;
    check(
        w.get("event_seq").is_none() && w.get("job_id").is_none(),
        "session.welcome must not carry event_seq/job_id",
    )?;
    let p = payload(&w);
    let sid = &w["session_id"];
    check(
        sid.as_str().is_some_and(|s| s.starts_with("sess_")),
        format!(
            "envelope session_id must start with sess_, got {}",
            short(sid)
        ),
    )?;
    eq(
        &p["session_id"],
        sid,
        "payload.session_id (required by the reference client)",
    )?;
    check(
        p["resume_token"].as_str().is_some_and(|s| !s.is_empty()),
        "resume_token must be a non-empty string",
    )?;
    check(
        p["resume_window_sec"].as_u64().is_some(),
        "resume_window_sec must be an integer >= 0",
    )?;
    let hb = &p["heartbeat_interval_sec"];
    check(
        hb.as_u64().is_some_and(|n| n >= 1),
        format!(
            "heartbeat_interval_sec must be an integer >= 1, got {}",
            short(hb)
        ),
    )?;
    check(
        p["runtime"]["name"].is_string() && p["runtime"]["version"].is_string(),
        "runtime.name/runtime.version must be strings",
    )?;
    parse_ts(&p["accepted_at"])?;
    let caps = &p["capabilities"];
    check(
        caps["encodings"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("json"))),
        "capabilities.encodings must include json",
    )?;
    let feats: Vec<Value> = caps["features"].as_array().cloned().unwrap_or_default();
    let missing: Vec<&str> = ctx
        .features()
        .into_iter()
        .filter(|f| !feats.contains(&json!(f)))
        .collect();
    check(
        missing.is_empty(),
        format!("runtime does not advertise features {missing:?}"),
    )?;
    let want: Vec<&str> = ctx
        .features()
        .into_iter()
        .filter(|f| feats.contains(&json!(f)))
        .collect();
    eq(
        &json!(a.client.negotiated_features().to_names()),
        &json!(want),
        "negotiated features",
    )?;
    if ctx.opts.agents_from_peer {
        let agents = caps["agents"].as_array().cloned().unwrap_or_default();
        for (name, versions, default) in AGENT_CONTRACT {
            let entry = agents.iter().find(|a| a["name"] == json!(name));
            let Some(entry) = entry else {
                return Err(crate::check::Stop::fail(format!(
                    "agent {name:?} missing from welcome inventory"
                )));
            };
            eq(
                &entry["versions"],
                &json!(versions),
                &format!("versions of {name}"),
            )?;
            eq(
                &entry["default"],
                &json!(default),
                &format!("default version of {name}"),
            )?;
        }
    }

    // Second session: a narrow feature set including one unknown flag.
    let (raw, w2) = ctx.raw(
        None,
        Some(&["ack", "progress", "x-bogus.feature"]),
        None,
        true,
    )?;
    let p2 = payload(&w2);
    let feats2 = p2["capabilities"]["features"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    check(
        !feats2.contains(&json!("x-bogus.feature")),
        "runtime echoed an unknown feature flag",
    )?;
    check(
        p2.get("heartbeat_interval_sec").is_none_or(Value::is_null),
        "heartbeat_interval_sec present although heartbeat was not negotiated",
    )?;
    if ctx.opts.agents_from_peer {
        let names: BTreeSet<String> = p2["capabilities"]["agents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.as_str().or_else(|| a["name"].as_str()).map(str::to_owned))
            .collect();
        let lacking: Vec<&str> = AGENT_CONTRACT
            .iter()
            .map(|(n, _, _)| *n)
            .filter(|n| !names.contains(*n))
            .collect();
        check(
            lacking.is_empty(),
            format!("agent inventory without agent_versions lacks agents: {lacking:?}"),
        )?;
    }
    let mark = raw.tap.len();
    raw.send("session.list_jobs", json!({}))?;
    let err = raw.tap.wait_error(3.0, mark)?;
    eq(
        &payload(&err)["code"],
        &json!("INVALID_REQUEST"),
        "session.list_jobs without the list_jobs feature",
    )?;
    // No heartbeat negotiated: the runtime must not ping this session.
    sleep(secs(2.5));
    check(
        raw.tap.frames(|f| ty(f) == "session.ping").is_empty(),
        "runtime sent session.ping although heartbeat was not negotiated",
    )?;
    check(
        !raw.tap.is_closed(),
        "runtime closed a session that did not negotiate heartbeat",
    )
}

pub(super) fn submit_echo(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let trace = new_trace_id();
    let inp = json!({"text": "h\u{e9}llo \u{2713}", "n": [1, 2.5, -3], "nested": {"ok": true, "none": null}, "empty": {}});
    let mut spec = SubmitSpec::new("echo", inp.clone());
    spec.trace_id = Some(trace.clone());
    let (job, term) = submit_and_wait(&s, spec, 10.0)?;
    let sub = s.tap.last_sent("job.submit")?;
    eq(&sub["trace_id"], &json!(trace), "job.submit trace_id")?;
    let acc = accepted_frame(&s.tap, &sub["id"])?;
    let ap = payload(&acc);
    check(
        ap["job_id"].as_str().is_some_and(|j| j.starts_with("job_")),
        format!("job_id must start with job_, got {}", short(&ap["job_id"])),
    )?;
    eq(
        &acc["job_id"],
        &ap["job_id"],
        "job.accepted envelope job_id",
    )?;
    eq(
        &acc["session_id"],
        &json!(s.tap.session_id()),
        "job.accepted session_id",
    )?;
    eq(&ap["agent"], &json!("echo@1.0.0"), "resolved agent")?;
    eq(&ap["lease"], &json!({}), "effective lease")?;
    eq(
        &ap["trace_id"],
        &json!(trace),
        "job.accepted payload.trace_id",
    )?;
    eq(
        &acc["trace_id"],
        &json!(trace),
        "job.accepted envelope trace_id",
    )?;
    parse_ts(&ap["accepted_at"])?;
    check(
        acc.get("event_seq").is_none(),
        "job.accepted must not carry event_seq",
    )?;
    for k in ["budget", "credentials", "lease_constraints"] {
        check(
            ap.get(k).is_none(),
            format!("job.accepted carries {k} although the submit had none"),
        )?;
    }
    eq(&term["type"], &json!("job.result"), "terminal type")?;
    eq(&term["job_id"], &json!(job), "terminal job_id")?;
    eq(
        &term["event_seq"],
        &json!(1),
        "event_seq of the only seq-bearing frame in a fresh session",
    )?;
    eq(&term["trace_id"], &json!(trace), "job.result trace_id")?;
    let tp = payload(&term);
    eq(&tp["final_status"], &json!("success"), "final_status")?;
    eq(&tp["result"], &inp, "echoed result")?;
    check(
        tp.get("result_id").is_none(),
        "inline result must not carry result_id",
    )?;
    parse_ts(&tp["completed_at"])?;
    eq(
        &json!(s.tap.job_events(&job, None).len()),
        &json!(0),
        "echo emits no job.event",
    )?;
    let res = s.client.done(&job, secs(3.0))?;
    eq(
        &res.result.unwrap_or(Value::Null),
        &inp,
        "result surfaced by the client",
    )
}

/// The exact events of `chatty` with `count` rounds.
pub(super) fn chatty_expected_bodies(count: u64) -> Vec<(&'static str, Value)> {
    let mut out = vec![(
        "status",
        json!({"phase": "chatty.start", "message": format!("emitting {count} rounds")}),
    )];
    for i in 0..count {
        out.push((
            "log",
            json!({"level": "info", "message": format!("round {i}")}),
        ));
        out.push((
            "thought",
            json!({"text": format!("thinking about round {i}")}),
        ));
        out.push(("tool_call", json!({"tool_call_id": format!("call_{i}"), "name": "lookup", "arguments": {"round": i}})));
        out.push((
            "tool_result",
            json!({"tool_call_id": format!("call_{i}"), "output": {"round": i, "ok": true}}),
        ));
        out.push((
            "metric",
            json!({"name": "rounds.completed", "value": i + 1, "unit": "count"}),
        ));
        out.push((
            "progress",
            json!({"current": i + 1, "total": count, "units": "rounds", "message": format!("round {i}")}),
        ));
    }
    out.push((
        "artifact_ref",
        json!({"artifact_id": "art_chatty_summary", "media_type": "text/plain", "size_bytes": 2,
               "uri": "mem://chatty/summary", "summary": format!("{count} rounds")}),
    ));
    out
}

fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove(key);
    }
    v
}

fn assert_chatty(tap: &Tap, job: &str, count: u64) -> Res {
    let evs = tap.job_events(job, None);
    let exp = chatty_expected_bodies(count);
    let kinds: Vec<Value> = evs.iter().map(|e| payload(e)["kind"].clone()).collect();
    let want: Vec<&str> = exp.iter().map(|(k, _)| *k).collect();
    eq(&json!(kinds), &json!(want), "chatty event kinds in order")?;
    for (e, (kind, body)) in evs.iter().zip(&exp) {
        let got = &payload(e)["body"];
        parse_ts(&payload(e)["ts"])?;
        if *kind == "metric" {
            eq(
                &without(got, "value"),
                &without(body, "value"),
                "metric body",
            )?;
            close_to(
                &got["value"],
                body["value"].as_f64().unwrap_or(0.0),
                "metric value",
                1e-9,
            )?;
        } else {
            eq(got, body, &format!("{kind} body"))?;
        }
    }
    Ok(())
}

pub(super) fn event_ordering(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let j1 = s
        .client
        .submit(&SubmitSpec::new("chatty", json!({"count": 5})))?;
    let j2 = s.client.submit(&SubmitSpec::new("echo", json!({"i": 1})))?;
    let t1 = s.tap.wait_terminal(&j1, 10.0)?;
    s.tap.wait_terminal(&j2, 10.0)?;
    let seq = s.tap.seq_frames();
    eq(
        &json!(seq.len()),
        &json!((6 * 5 + 2) + 1 + 1),
        "number of seq-bearing frames",
    )?;
    assert_gap_free(&seq, "session", 1)?;
    for f in s.tap.inbound_from(0) {
        if !SEQ_TYPES.contains(&ty(&f)) {
            check(
                f.get("event_seq").is_none(),
                format!("{} must not carry event_seq", ty(&f)),
            )?;
        }
    }
    let sid = json!(s.tap.session_id());
    for f in &seq {
        eq(&f["session_id"], &sid, "seq frame session_id")?;
    }
    assert_chatty(&s.tap, &j1, 5)?;
    eq(
        &payload(&t1)["result"],
        &json!({"rounds": 5, "events": 32}),
        "chatty result",
    )?;
    let jf = s.tap.job_frames(&j1);
    eq(
        &jf.last().map_or(Value::Null, |f| f["type"].clone()),
        &json!("job.result"),
        "chatty terminal is its last frame",
    )
}

pub(super) fn progress_events(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let (job, term) = submit_and_wait(&s, SubmitSpec::new("chatty", json!({"count": 4})), 10.0)?;
    eq(
        &payload(&term)["final_status"],
        &json!("success"),
        "final_status",
    )?;
    let prog: Vec<Value> = s
        .tap
        .job_events(&job, Some("progress"))
        .iter()
        .map(|e| payload(e)["body"].clone())
        .collect();
    let want: Vec<Value> = (1..=4)
        .map(|k| json!({"current": k, "total": 4, "units": "rounds", "message": format!("round {}", k - 1)}))
        .collect();
    eq(&json!(prog), &json!(want), "progress bodies")?;
    let (j2, t2) = submit_and_wait(
        &s,
        SubmitSpec::new("slow", json!({"seconds": 0.6, "tick": 0.2})),
        10.0,
    )?;
    let prog2: Vec<Value> = s
        .tap
        .job_events(&j2, Some("progress"))
        .iter()
        .map(|e| payload(e)["body"].clone())
        .collect();
    let want2: Vec<Value> = (1..=3)
        .map(|k| json!({"current": k, "total": 3, "units": "ticks"}))
        .collect();
    eq(&json!(prog2), &json!(want2), "slow progress bodies")?;
    eq(
        &payload(&t2)["result"],
        &json!({"slept": 0.6, "ticks": 3}),
        "slow result",
    )?;
    assert_gap_free(&s.tap.seq_frames(), "session", 1)
}

/// `{job_id: status}` of a `session.jobs` payload.
pub(super) fn statuses(jobs: &Value) -> serde_json::Map<String, Value> {
    jobs["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|j| Some((j["job_id"].as_str()?.to_owned(), j["status"].clone())))
        .collect()
}

pub(super) fn cancel(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let job = s.client.submit(&SubmitSpec::new(
        "slow",
        json!({"seconds": 30, "tick": 0.2}),
    ))?;
    s.tap.wait_for(
        |f| f["job_id"] == json!(job) && payload(f)["kind"] == json!("progress"),
        5.0,
        "first progress tick",
        0,
    )?;
    s.client.cancel(&job, "interop.cancel")?;
    let c = s.tap.last_sent("job.cancel")?;
    eq(&c["job_id"], &json!(job), "job.cancel envelope job_id")?;
    eq(
        &c["payload"],
        &json!({"reason": "interop.cancel"}),
        "job.cancel payload",
    )?;
    let t0 = Instant::now();
    let term = s.tap.wait_terminal(&job, 3.0)?;
    check(t0.elapsed() < secs(3.0), "cancellation took too long")?;
    eq(
        &term["type"],
        &json!("job.result"),
        "terminal type after cancel",
    )?;
    eq(
        &payload(&term)["final_status"],
        &json!("cancelled"),
        "final_status after cancel",
    )?;
    check(
        payload(&term).get("result").is_none(),
        "cancelled job.result must not carry a result",
    )?;
    let res = s.client.done(&job, secs(3.0))?;
    eq(
        &json!(res.final_status),
        &json!("cancelled"),
        "client-visible final_status",
    )?;
    let n = s.tap.job_frames(&job).len();
    sleep(secs(0.6));
    eq(
        &json!(s.tap.job_frames(&job).len()),
        &json!(n),
        "frames for the job after its terminal",
    )?;
    let lst = s.client.list_jobs(&json!({}))?;
    eq(
        &statuses(&lst)
            .get(job.as_str())
            .cloned()
            .unwrap_or(Value::Null),
        &json!("cancelled"),
        "list_jobs status of the cancelled job",
    )?;
    assert_gap_free(&s.tap.seq_frames(), "session", 1)
}

pub(super) fn idempotent_resubmit(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let key = format!("interop-{}", new_ulid());
    let inp = json!({"k": 1});
    let mut spec = SubmitSpec::new("echo", inp.clone());
    spec.idempotency_key = Some(key.clone());
    let (j1, _t1) = submit_and_wait(&s, spec.clone(), 10.0)?;
    let s1 = s.tap.last_sent("job.submit")?;
    eq(
        &s1["payload"]["idempotency_key"],
        &json!(key),
        "idempotency_key on the wire",
    )?;
    let a1 = accepted_frame(&s.tap, &s1["id"])?;
    let j2 = s.client.submit(&spec)?;
    let a2 = last_accepted(&s.tap)?;
    eq(&json!(j2), &json!(j1), "job_id of the idempotent resubmit")?;
    eq(
        &without(payload(&a2), "request_id"),
        &without(payload(&a1), "request_id"),
        "job.accepted payload of the resubmit (modulo request_id)",
    )?;
    // The original job already finished: its terminal is replayed to the duplicate.
    let r2 = s.client.done(&j2, secs(5.0))?;
    eq(&r2.result.unwrap_or(Value::Null), &inp, "replayed result")?;
    let terms = s
        .tap
        .frames(|f| crate::tap::TERMINAL_TYPES.contains(&ty(f)) && f["job_id"] == json!(j1));
    eq(
        &json!(terms.len()),
        &json!(2),
        "terminal frames for the job (original + replay)",
    )?;
    eq(
        &payload(&terms[1])["result"],
        &inp,
        "replayed terminal result",
    )?;
    assert_gap_free(&s.tap.seq_frames(), "session", 1)?;
    let mut conflict = SubmitSpec::new("echo", json!({"k": 2}));
    conflict.idempotency_key = Some(key);
    expect_submit_error(&s, "DUPLICATE_KEY", conflict)?;
    // The session stays usable after a session.error.
    let (_j3, t3) = submit_and_wait(&s, SubmitSpec::new("echo", json!({"after": true})), 10.0)?;
    eq(
        &payload(&t3)["result"],
        &json!({"after": true}),
        "echo after DUPLICATE_KEY",
    )
}

pub(super) fn agent_versions(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    for (r, resolved) in [
        ("versioned", "versioned@2.0.0"),
        ("versioned@1.0.0", "versioned@1.0.0"),
        ("versioned@2.0.0", "versioned@2.0.0"),
    ] {
        let (_j, term) = submit_and_wait(&s, SubmitSpec::new(r, json!({"x": r})), 10.0)?;
        let acc = last_accepted(&s.tap)?;
        eq(
            &payload(&acc)["agent"],
            &json!(resolved),
            &format!("resolved agent for {r}"),
        )?;
        let version = resolved.split_once('@').map_or("", |(_, v)| v);
        eq(
            &payload(&term)["result"],
            &json!({"version": version, "input": {"x": r}}),
            &format!("result for {r}"),
        )?;
    }
    expect_submit_error(
        &s,
        "AGENT_VERSION_NOT_AVAILABLE",
        SubmitSpec::new("versioned@9.9.9", json!({})),
    )?;
    expect_submit_error(
        &s,
        "AGENT_NOT_AVAILABLE",
        SubmitSpec::new("no-such-agent", json!({})),
    )?;
    expect_submit_error(
        &s,
        "AGENT_NOT_AVAILABLE",
        SubmitSpec::new("no-such-agent@1.0.0", json!({})),
    )?;
    let (_j, term) = submit_and_wait(&s, SubmitSpec::new("echo", json!("still-alive")), 10.0)?;
    eq(
        &payload(&term)["result"],
        &json!("still-alive"),
        "echo after agent errors",
    )?;
    assert_gap_free(&s.tap.seq_frames(), "session", 1)
}

fn job_ids(jobs: &Value) -> BTreeSet<String> {
    statuses(jobs).keys().cloned().collect()
}

pub(super) fn list_jobs(ctx: &Ctx) -> Res {
    let s = ctx.client(None, None)?;
    let (hm, _) = submit_and_wait(&s, SubmitSpec::new("echo", json!("marker")), 10.0)?;
    let t0 = payload(&last_accepted(&s.tap)?)["accepted_at"].clone();
    sleep(secs(0.05));
    let (h1, _) = submit_and_wait(&s, SubmitSpec::new("echo", json!({"n": 1})), 10.0)?;
    let (h2, _) = submit_and_wait(
        &s,
        SubmitSpec::new("versioned@1.0.0", json!({"n": 2})),
        10.0,
    )?;
    let h3 = s
        .client
        .submit(&SubmitSpec::new("slow", json!({"seconds": 5, "tick": 0.5})))?;
    let mine: BTreeSet<String> = [&h1, &h2, &h3]
        .into_iter()
        .map(ToString::to_string)
        .collect();
    let start = s.tap.len();
    s.client
        .list_jobs(&json!({"filter": {"created_after": t0}}))?;
    let req = s.tap.last_sent("session.list_jobs")?;
    eq(
        &req["payload"],
        &json!({"filter": {"created_after": t0}}),
        "session.list_jobs payload",
    )?;
    let resp = s
        .tap
        .wait_for(|f| ty(f) == "session.jobs", 3.0, "session.jobs", start)?;
    eq(
        &payload(&resp)["request_id"],
        &req["id"],
        "session.jobs request_id",
    )?;
    check(
        resp.get("event_seq").is_none(),
        "session.jobs must not carry event_seq",
    )?;
    let got: serde_json::Map<String, Value> = payload(&resp)["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|j| Some((j["job_id"].as_str()?.to_owned(), j)))
        .collect();
    eq(
        &json!(got.keys().collect::<Vec<_>>()),
        &json!(mine),
        "jobs created after the marker",
    )?;
    eq(
        &got[h1.as_str()]["agent"],
        &json!("echo@1.0.0"),
        "listed agent (echo)",
    )?;
    eq(
        &got[h2.as_str()]["agent"],
        &json!("versioned@1.0.0"),
        "listed agent (versioned)",
    )?;
    eq(
        &got[h3.as_str()]["agent"],
        &json!("slow@1.0.0"),
        "listed agent (slow)",
    )?;
    eq(
        &got[h1.as_str()]["status"],
        &json!("success"),
        "listed status (echo)",
    )?;
    eq(
        &got[h3.as_str()]["status"],
        &json!("running"),
        "listed status (slow)",
    )?;
    for entry in got.values() {
        parse_ts(&entry["submitted_at"])?; // COMPAT D11: reference field
    }
    check(
        !got.contains_key(hm.as_str()),
        "created_after did not exclude the marker job",
    )?;
    let lst = s
        .client
        .list_jobs(&json!({"filter": {"created_after": t0, "status": ["running"]}}))?;
    eq(&json!(job_ids(&lst)), &json!([h3]), "status=running filter")?;
    let lst = s
        .client
        .list_jobs(&json!({"filter": {"created_after": t0, "agent": "versioned@1.0.0"}}))?;
    eq(&json!(job_ids(&lst)), &json!([h2]), "agent filter")?;
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..6 {
        let mut req = json!({"filter": {"created_after": t0}, "limit": 1});
        if !cursor.is_null() {
            req["cursor"] = cursor.clone();
        }
        let page = s.client.list_jobs(&req)?;
        let n = page["jobs"].as_array().map_or(0, Vec::len);
        check(n <= 1, format!("page larger than limit=1: {n}"))?;
        seen.extend(
            page["jobs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|j| j["job_id"].as_str().map(str::to_owned)),
        );
        cursor = page.get("next_cursor").cloned().unwrap_or(Value::Null);
        if cursor.is_null() {
            break;
        }
    }
    seen.sort();
    eq(&json!(seen), &json!(mine), "union of limit=1 pages")?;
    s.client.cancel(&h3, "cleanup")?;
    s.tap.wait_terminal(&h3, 5.0)?;
    Ok(())
}
