//! CancelToken, JobEnds (and its bound), AgentRegistry and AgentError on their own.

use arcp_agents::{AgentError, AgentRegistry, CancelToken, JobContext, JobEnd, JobEnds};
use arcp_proto::runtime::{AgentSpec, RuntimeEvent};
use arcp_proto::wire::{AgentRef, ErrorCode, ErrorPayload, FinalStatus, JobId, JobStatus};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn poll<F: Future + Unpin>(f: &mut F, w: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(w))
}

fn end(status: FinalStatus) -> JobEnd {
    JobEnd {
        status,
        result: None,
        error_code: None,
    }
}

#[test]
fn cancel_token_wakes_every_waiter_once_and_is_shared_by_clones() {
    let t = CancelToken::new();
    let t2 = t.clone();
    assert!(!t.is_cancelled());
    let (c1, w1) = counter();
    let (c2, w2) = counter();
    let mut f1 = t.cancelled();
    let mut f2 = t2.cancelled();
    assert_eq!(poll(&mut f1, &w1), Poll::Pending);
    // Re-polling replaces the waker instead of adding one.
    assert_eq!(poll(&mut f1, &w1), Poll::Pending);
    assert_eq!(poll(&mut f2, &w2), Poll::Pending);
    assert_eq!(t.waiters(), 2);
    t2.cancel();
    assert!(t.is_cancelled());
    assert_eq!(c1.0.load(Ordering::SeqCst), 1);
    assert_eq!(c2.0.load(Ordering::SeqCst), 1);
    assert_eq!(t.waiters(), 0);
    assert_eq!(poll(&mut f1, &w1), Poll::Ready(()));
    assert_eq!(poll(&mut f2, &w2), Poll::Ready(()));
    // Idempotent; a later waiter is ready at once.
    t.cancel();
    assert_eq!(c1.0.load(Ordering::SeqCst), 1);
    let mut f3 = t.cancelled();
    assert_eq!(poll(&mut f3, &w1), Poll::Ready(()));
}

#[test]
fn cancel_token_dropped_waiters_unregister() {
    let t = CancelToken::new();
    let (_, w) = counter();
    for _ in 0..100 {
        let mut f = t.cancelled();
        assert_eq!(poll(&mut f, &w), Poll::Pending);
    }
    assert_eq!(t.waiters(), 0);
    let mut f = t.cancelled();
    assert_eq!(poll(&mut f, &w), Poll::Pending);
    assert_eq!(t.waiters(), 1);
    drop(f);
    assert_eq!(t.waiters(), 0);
}

fn id(s: &str) -> JobId {
    JobId::from(s)
}

#[test]
fn job_ends_wait_before_and_after_record() {
    let ends = JobEnds::new(8);
    let (c, w) = counter();
    let mut before = ends.wait(&id("job_a"));
    assert_eq!(poll(&mut before, &w), Poll::Pending);
    let done = JobEnd {
        status: FinalStatus::Error,
        result: None,
        error_code: Some(ErrorCode::PermissionDenied),
    };
    ends.record(&id("job_a"), done.clone());
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll(&mut before, &w), Poll::Ready(done.clone()));
    // Recorded: an later wait is ready at once; a second record is ignored.
    ends.record(&id("job_a"), end(FinalStatus::Success));
    let mut after = ends.wait(&id("job_a"));
    assert_eq!(poll(&mut after, &w), Poll::Ready(done.clone()));
    assert_eq!(ends.get(&id("job_a")), Some(done));
    assert_eq!(ends.len(), 1);
    // A dropped pending wait leaves nothing behind.
    let mut other = ends.wait(&id("job_b"));
    assert_eq!(poll(&mut other, &w), Poll::Pending);
    drop(other);
    assert_eq!(ends.get(&id("job_b")), None);
    assert_eq!(ends.len(), 1);
}

#[test]
fn job_ends_bound_forgets_the_oldest_unclaimed_end() {
    let ends = JobEnds::new(2);
    ends.record(&id("a"), end(FinalStatus::Success));
    ends.record(&id("b"), end(FinalStatus::Cancelled));
    ends.record(&id("c"), end(FinalStatus::TimedOut));
    assert_eq!(ends.len(), 2);
    assert_eq!(ends.get(&id("a")), None);
    assert_eq!(ends.get(&id("b")), Some(end(FinalStatus::Cancelled)));
    assert_eq!(ends.get(&id("c")), Some(end(FinalStatus::TimedOut)));
    // A wait for the forgotten end stays pending (as for a job that has not ended).
    let (_, w) = counter();
    let mut forgotten = ends.wait(&id("a"));
    assert_eq!(poll(&mut forgotten, &w), Poll::Pending);
    drop(forgotten);
    // A claimed end is kept past the bound until its waiter has seen it.
    let mut claimed = ends.wait(&id("d"));
    assert_eq!(poll(&mut claimed, &w), Poll::Pending);
    ends.record(&id("d"), end(FinalStatus::Error));
    ends.record(&id("e"), end(FinalStatus::Success));
    assert_eq!(ends.get(&id("d")), Some(end(FinalStatus::Error)));
    assert_eq!(ends.get(&id("b")), None);
    assert_eq!(ends.len(), 3);
    assert_eq!(poll(&mut claimed, &w), Poll::Ready(end(FinalStatus::Error)));
    // Seen: back under the bound (the oldest unclaimed, c, is forgotten).
    assert_eq!(ends.len(), 2);
    assert_eq!(ends.get(&id("c")), None);
    // A claimed end whose wait is dropped unseen becomes unclaimed: the bound applies again.
    let mut dropped = ends.wait(&id("f"));
    assert_eq!(poll(&mut dropped, &w), Poll::Pending);
    ends.record(&id("f"), end(FinalStatus::Success));
    assert_eq!(ends.len(), 3);
    drop(dropped);
    ends.record(&id("g"), end(FinalStatus::Success));
    assert_eq!(ends.len(), 2);
    assert_eq!(ends.get(&id("e")), None);
    assert_eq!(ends.get(&id("f")), Some(end(FinalStatus::Success)));
    assert_eq!(ends.get(&id("g")), Some(end(FinalStatus::Success)));
    // max_entries 0 means 1.
    let one = JobEnds::new(0);
    one.record(&id("x"), end(FinalStatus::Success));
    one.record(&id("y"), end(FinalStatus::Success));
    assert_eq!(one.len(), 1);
    assert_eq!(one.get(&id("y")), Some(end(FinalStatus::Success)));
}

#[test]
fn job_end_from_runtime_event() {
    let e = RuntimeEvent::JobEnded {
        job_id: "job_1".into(),
        status: JobStatus::Success,
        parent_job_id: Some("job_0".into()),
        result: Some(json!({"x": 1})),
        error_code: None,
    };
    assert_eq!(
        JobEnd::from_runtime_event(&e),
        Some((
            id("job_1"),
            JobEnd {
                status: FinalStatus::Success,
                result: Some(json!({"x": 1})),
                error_code: None,
            }
        ))
    );
    let e = RuntimeEvent::SessionExpired {
        session_id: "s".into(),
    };
    assert_eq!(JobEnd::from_runtime_event(&e), None);
}

async fn noop(input: Value, _ctx: JobContext) -> Result<Value, AgentError> {
    Ok(input)
}

#[test]
fn registry_specs_defaults_and_resolution() {
    let mut r = AgentRegistry::new();
    r.register("plain", None, noop)
        .register("v", Some("1.0.0"), noop)
        .register("v", Some("2.0.0"), noop);
    assert_eq!(
        r.specs(),
        vec![
            AgentSpec {
                name: "plain".into(),
                versions: vec![],
                default: None
            },
            AgentSpec::new("v", &["1.0.0", "2.0.0"]),
        ]
    );
    let bare = AgentRef::new("v", None);
    assert_eq!(
        r.resolve_ref(&bare),
        Some(AgentRef::new("v", Some("1.0.0".into())))
    );
    assert!(r.set_default("v", "2.0.0"));
    assert!(!r.set_default("v", "3.0.0"));
    assert!(!r.set_default("nope", "1.0.0"));
    assert_eq!(r.specs()[1].default.as_deref(), Some("2.0.0"));
    assert_eq!(
        r.resolve_ref(&bare),
        Some(AgentRef::new("v", Some("2.0.0".into())))
    );
    assert!(r.resolve(&bare).is_some());
    assert!(
        r.resolve(&AgentRef::new("v", Some("1.0.0".into())))
            .is_some()
    );
    assert!(
        r.resolve(&AgentRef::new("v", Some("9.0.0".into())))
            .is_none()
    );
    assert_eq!(
        r.resolve_ref(&AgentRef::new("v", Some("9.0.0".into()))),
        None
    );
    assert!(r.resolve(&AgentRef::new("plain", None)).is_some());
    assert_eq!(
        r.resolve_ref(&AgentRef::new("plain", None)),
        Some(AgentRef::new("plain", None))
    );
    assert!(r.resolve(&AgentRef::new("missing", None)).is_none());
}

#[test]
fn contract_inventory_matches_the_reference() {
    let specs = arcp_agents::contract_agents().specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "echo",
            "chatty",
            "slow",
            "budget",
            "lease-check",
            "chunked",
            "delegator",
            "failing",
            "rotator",
            "versioned"
        ]
    );
    for s in &specs[..9] {
        assert_eq!(s.versions, ["1.0.0"]);
        assert_eq!(s.default_version(), Some("1.0.0"));
    }
    assert_eq!(specs[9].versions, ["1.0.0", "2.0.0"]);
    assert_eq!(specs[9].default.as_deref(), Some("2.0.0"));
    // The welcome entries, as in the transcripts.
    assert_eq!(
        serde_json::to_value(specs[9].info(true)).unwrap(),
        json!({"name": "versioned", "versions": ["1.0.0", "2.0.0"], "default": "2.0.0"})
    );
}

#[test]
fn agent_error_conversions() {
    let mut p = ErrorPayload::new(ErrorCode::LeaseExpired, "late");
    p.retryable = true;
    let e = AgentError::from(p);
    assert_eq!(e.code, ErrorCode::LeaseExpired);
    assert_eq!(e.retryable, Some(true));
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "LEASE_EXPIRED: late");
    let e = AgentError::internal("x");
    assert!(e.is_retryable());
    assert!(e.to_payload().retryable);
    let e = AgentError::new(ErrorCode::PermissionDenied, "no");
    assert!(!e.to_payload().retryable);
    assert!(e.clone().with_retryable(true).to_payload().retryable);
    assert_eq!(
        AgentError::invalid_input("bad").code,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn job_ends_keep_only_children_until_their_parent_ends() {
    let ends = JobEnds::new(8);
    let (c, w) = counter();
    // A client-submitted job: its waits resolve, nothing is kept.
    let mut waiting = ends.wait(&id("top"));
    assert_eq!(poll(&mut waiting, &w), Poll::Pending);
    ends.record_ended(&id("top"), None, end(FinalStatus::Success));
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        poll(&mut waiting, &w),
        Poll::Ready(end(FinalStatus::Success))
    );
    assert_eq!((ends.len(), ends.bytes()), (0, 0));
    assert_eq!(ends.get(&id("top")), None);
    ends.record_ended(&id("top2"), None, end(FinalStatus::Success));
    assert_eq!((ends.len(), ends.bytes()), (0, 0));
    // A delegated child's end is kept, with its result's bytes, until its parent ends.
    let done = JobEnd {
        status: FinalStatus::Success,
        result: Some(json!("x".repeat(100))),
        error_code: None,
    };
    ends.record_ended(&id("kid"), Some(&id("parent")), done.clone());
    // 128 overhead + 3 (id) + 102 (the JSON string).
    assert_eq!((ends.len(), ends.bytes()), (1, 128 + 3 + 102));
    let mut later = ends.wait(&id("kid"));
    assert_eq!(poll(&mut later, &w), Poll::Ready(done.clone()));
    assert_eq!(ends.len(), 1);
    ends.record_ended(&id("parent"), None, end(FinalStatus::Success));
    assert_eq!((ends.len(), ends.bytes()), (0, 0));
}

#[test]
fn job_ends_byte_bound_forgets_the_oldest_unclaimed_end() {
    let big = |n: usize| JobEnd {
        status: FinalStatus::Success,
        result: Some(json!("x".repeat(n))),
        error_code: None,
    };
    // Each end of 1,000 result bytes counts 128 + 1 + 1,002 = 1,131 bytes.
    let ends = JobEnds::with_max_bytes(100, 2 * 1131);
    for k in ["a", "b", "c"] {
        ends.record_ended(&id(k), Some(&id("p")), big(1000));
    }
    assert_eq!((ends.len(), ends.bytes()), (2, 2 * 1131));
    assert_eq!(ends.get(&id("a")), None);
    assert_eq!(ends.get(&id("c")), Some(big(1000)));
    // One end larger than the bound is still kept (the newest always is).
    ends.record_ended(&id("d"), Some(&id("p")), big(5000));
    assert_eq!(ends.len(), 1);
    assert_eq!(ends.get(&id("d")), Some(big(5000)));
}
