//! What the runtime keeps after a job ends or a session expires, and for how long:
//! `Bounds::finished_job_ttl`, `Bounds::max_finished_job_bytes` and
//! `Bounds::expired_session_grace`, all counted in `RuntimeMetrics::retained_bytes`.

mod runtime_support;

use arcp_proto::runtime::AgentEvent;
use arcp_proto::wire::JobId;
use runtime_support::*;
use serde_json::json;
use std::time::Duration;

/// Ends `job` successfully (no result); drops the frames sent so far.
fn finish(h: &mut Host, job: &JobId) {
    h.rt.handle_agent_event(
        h.now,
        job,
        AgentEvent::Result {
            result: None,
            summary: None,
        },
    )
    .unwrap();
    h.drain();
    h.out.clear();
}

/// The job ids `session.list_jobs` on `c` answers (request `n`).
fn listed(h: &mut Host, c: arcp_proto::runtime::ConnId, n: u32) -> Vec<String> {
    let _ = h.take(c);
    h.send(
        c,
        json!({"id":eid(n),"type":"session.list_jobs","payload":{}}),
    );
    let out = h.take_json(c);
    assert_eq!(out[0]["type"], "session.jobs", "{out:?}");
    out[0]["payload"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Acks everything on `c` (request `n`), so the ring keeps nothing.
fn ack_all(h: &mut Host, c: arcp_proto::runtime::ConnId, n: u32) {
    h.send(
        c,
        json!({"id":eid(n),"type":"session.ack","payload":{"last_processed_seq":999}}),
    );
    let _ = h.take(c);
}

#[test]
fn a_finished_job_is_listed_until_the_resume_window_by_default_then_forgotten() {
    let mut cfg = contract_config();
    cfg.resume_window = Duration::from_secs(30);
    assert_eq!(
        cfg.bounds.finished_job_ttl, None,
        "default: the resume window"
    );
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &["list_jobs", "ack"]);
    let running = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let done = h.submit(c, &eid(2), json!({"agent":"slow"}));
    finish(&mut h, &done);
    ack_all(&mut h, c, 3);
    h.send(c, json!({"id":eid(4),"type":"session.bye","payload":{}}));
    h.close(c);
    assert_eq!(h.rt.job_count(), 2);

    // Another connection of the principal lists both until the TTL has passed…
    h.advance(Duration::from_millis(29_999));
    let (c2, _, _) = h.hello(2, "alice-token", &["list_jobs", "subscribe"]);
    assert_eq!(
        listed(&mut h, c2, 5),
        vec![running.to_string(), done.to_string()]
    );
    // (and a subscribe to the finished job is answered)…
    h.send(
        c2,
        json!({"id":eid(6),"type":"job.subscribe","payload":{"job_id":done}}),
    );
    let out = h.take_json(c2);
    assert_eq!(out[0]["type"], "job.subscribed", "{out:?}");
    // …then only the running one: a job that has not finished is never forgotten.
    h.advance(Duration::from_millis(1));
    assert_eq!(listed(&mut h, c2, 7), vec![running.to_string()]);
    assert_eq!(h.rt.job_count(), 1);
    // A subscribe now gets the answer for any job the principal may not see (D37).
    h.send(
        c2,
        json!({"id":eid(8),"type":"job.subscribe","payload":{"job_id":done}}),
    );
    let out = h.take_json(c2);
    assert_eq!(out[0]["payload"]["code"], "PERMISSION_DENIED", "{out:?}");
}

#[test]
fn finished_job_ttl_expires_the_record_and_the_retained_figure_returns_to_zero() {
    let mut cfg = contract_config();
    cfg.bounds.finished_job_ttl = Some(Duration::from_secs(1));
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &["list_jobs", "ack"]);
    assert_eq!(h.rt.metrics().retained_bytes, 0);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    finish(&mut h, &job);
    ack_all(&mut h, c, 2);
    let record = h.rt.metrics().retained_bytes;
    assert!(record > 0, "the finished record is counted: {record}");
    h.advance(Duration::from_millis(999));
    assert_eq!(listed(&mut h, c, 3), vec![job.to_string()]);
    ack_all(&mut h, c, 4);
    assert_eq!(h.rt.metrics().retained_bytes, record);
    h.advance(Duration::from_millis(1));
    assert_eq!(listed(&mut h, c, 5), Vec::<String>::new());
    ack_all(&mut h, c, 6);
    assert_eq!(h.rt.metrics().retained_bytes, 0);
    assert_eq!(h.rt.job_count(), 0);
}

#[test]
fn a_keyed_job_is_remembered_for_the_idempotency_ttl_d27() {
    let mut cfg = contract_config();
    cfg.bounds.finished_job_ttl = Some(Duration::from_secs(1));
    cfg.bounds.idempotency_ttl = Duration::from_secs(5);
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &[]);
    let job = h.submit(c, &eid(1), json!({"agent":"slow","idempotency_key":"k"}));
    finish(&mut h, &job);
    h.advance(Duration::from_millis(4_999));
    let again = h.submit(c, &eid(2), json!({"agent":"slow","idempotency_key":"k"}));
    assert_eq!(again, job, "the resubmit is answered from the kept job");
    assert_eq!(h.rt.job_count(), 1);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.rt.job_count(), 0);
}

#[test]
fn max_finished_job_bytes_forgets_the_oldest_finished_job() {
    // One finished record's estimate, then room for two and a half of them.
    let mut h = Host::contract();
    let (c, _, _) = h.hello(1, "alice-token", &["ack"]);
    let job = h.submit(c, &eid(1), json!({"agent":"slow"}));
    finish(&mut h, &job);
    ack_all(&mut h, c, 2);
    let record = h.rt.metrics().retained_bytes;
    assert!(record > 0);
    eprintln!("one finished record: {record} bytes");

    let mut cfg = contract_config();
    cfg.bounds.max_finished_job_bytes = usize::try_from(record * 5 / 2).unwrap();
    let mut h = Host::new(cfg);
    let (c, _, _) = h.hello(1, "alice-token", &["list_jobs", "ack"]);
    let running = h.submit(c, &eid(1), json!({"agent":"slow"}));
    let mut done = Vec::new();
    for n in 2..=4u32 {
        let job = h.submit(c, &eid(n), json!({"agent":"slow"}));
        finish(&mut h, &job);
        done.push(job.to_string());
    }
    ack_all(&mut h, c, 5);
    // The first finished job was forgotten; the running one (older still) stays.
    assert_eq!(
        listed(&mut h, c, 6),
        vec![running.to_string(), done[1].clone(), done[2].clone()]
    );
    ack_all(&mut h, c, 7);
    assert_eq!(h.rt.metrics().retained_bytes, 2 * record);
}

#[test]
fn an_expired_session_record_is_forgotten_after_its_grace() {
    let mut cfg = contract_config();
    cfg.resume_window = Duration::from_secs(10);
    cfg.bounds.expired_session_grace = Duration::from_secs(5);
    let mut h = Host::new(cfg);
    let (a, _, _) = h.hello(1, "alice-token", &[]);
    let (b, _, _) = h.hello(2, "alice-token", &[]);
    // b's job still runs when its grace ends: b's record stays.
    let job = h.submit(b, &eid(1), json!({"agent":"slow"}));
    h.close(a);
    h.close(b);
    assert_eq!(h.rt.session_count(), 2);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.rt.session_count(), 2, "expired, within the grace");
    h.advance(Duration::from_millis(4_999));
    assert_eq!(h.rt.session_count(), 2);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.rt.session_count(), 1, "a forgotten; b's job runs");
    finish(&mut h, &job);
    h.advance(Duration::from_secs(5));
    assert_eq!(h.rt.session_count(), 0);
}
