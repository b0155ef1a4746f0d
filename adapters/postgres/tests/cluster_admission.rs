//! Cluster-wide admission on PostgreSQL: one idempotency key space and one cap of unfinished
//! jobs (and of attached sessions) per principal across the nodes.

mod support;

use std::sync::Barrier;
use std::time::{SystemTime, UNIX_EPOCH};

use arcp_postgres::{ClusterOptions, PostgresStore};
use arcp_store::cluster::{Claimed, StoreAdmission};
use arcp_store::suite::{idem, job, session};
use arcp_store::{IdempotencyRecord, JobRecord, SessionRecord, Store, StoreOp};
use support::cluster::{join, scratch};

fn now_micros() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// The placeholder an admission leaves for `job` of `session` (its `submitted_at` is the
/// server's clock: taken from `got`, after checking it is about now).
fn placeholder(got: &JobRecord, job: &str, session: &str, principal: &str) -> JobRecord {
    let skew = (got.submitted_at - now_micros()).abs();
    assert!(
        skew < 60_000_000,
        "submitted_at {} is not now",
        got.submitted_at
    );
    JobRecord {
        job_id: job.into(),
        session_id: session.into(),
        principal: principal.into(),
        agent: String::new(),
        status: "pending".into(),
        submitted_at: got.submitted_at,
        terminal: false,
        data: b"{}".to_vec(),
    }
}

/// `idem(principal, key, expires_at)` with another fingerprint and job.
fn idem_as(principal: &str, key: &str, expires_at: i64, tag: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        fingerprint: format!("fp:{key}:{tag}"),
        job_id: format!("job_{key}_{tag}"),
        ..idem(principal, key, expires_at)
    }
}

fn of(principal: &str, mut j: JobRecord) -> JobRecord {
    j.principal = principal.into();
    j
}

fn session_of(principal: &str, id: &str, window: Option<i64>) -> SessionRecord {
    SessionRecord {
        principal: principal.into(),
        ..session(id, 0, window)
    }
}

fn node_of(c: &mut postgres::Client, job: &str) -> Option<String> {
    c.query_one("SELECT node_id FROM jobs WHERE job_id = $1", &[&job])
        .unwrap()
        .get(0)
}

#[test]
fn admitted_then_the_same_key_is_a_duplicate_of_the_first() {
    let Some(scratch) = scratch("admit_dup") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &ClusterOptions::default());
    let (mut b, _wb) = join(&scratch, "n-b", &ClusterOptions::default());
    a.apply(&[StoreOp::PutSession(session("s1", 0, None))])
        .unwrap();
    let key = idem("alice", "k1", i64::MAX);
    assert_eq!(
        a.admit_job("alice", "s1", "job_k1", 10, Some(&key))
            .unwrap(),
        StoreAdmission::Admitted
    );
    assert_eq!(a.idempotency_records().unwrap(), vec![key.clone()]);
    let got = a.job("job_k1").unwrap().unwrap();
    assert_eq!(got, placeholder(&got, "job_k1", "s1", "alice"));
    let mut c = scratch.client();
    assert_eq!(node_of(&mut c, "job_k1"), Some("n-a".into()));
    // Another node, the same key (another fingerprint, another job): the first's.
    let second = idem_as("alice", "k1", i64::MAX, "b");
    for max in [10, 0] {
        assert_eq!(
            b.admit_job("alice", "s2", "job_k1_b", max, Some(&second))
                .unwrap(),
            StoreAdmission::Duplicate {
                fingerprint: "fp:k1".into(),
                job_id: "job_k1".into(),
            }
        );
    }
    assert_eq!(b.job("job_k1_b").unwrap(), None);
    assert_eq!(b.idempotency_records().unwrap(), vec![key.clone()]);
    // Another principal's key of the same name is its own.
    let bob = idem_as("bob", "k1", i64::MAX, "bob");
    assert_eq!(
        b.admit_job("bob", "s2", "job_k1_bob", 10, Some(&bob))
            .unwrap(),
        StoreAdmission::Admitted
    );
    // Every reader copes with the placeholder: listings, this node's jobs, a claim.
    assert_eq!(a.jobs().unwrap().len(), 2);
    assert_eq!(a.node_jobs().unwrap(), vec![got.clone()]);
    let claimed = b.claim_session("s1").unwrap().unwrap();
    assert_eq!(
        claimed,
        Claimed {
            session: session("s1", 0, None),
            last_stored_seq: None,
            jobs: vec![got],
        }
    );
    // The runtime's PutJob replaces the placeholder; the job stays on its node.
    a.apply(&[StoreOp::PutJob(job("job_k1", "s1", 5, false))])
        .unwrap();
    assert_eq!(
        a.job("job_k1").unwrap(),
        Some(job("job_k1", "s1", 5, false))
    );
    assert_eq!(node_of(&mut c, "job_k1"), Some("n-a".into()));
}

#[test]
fn an_expired_key_does_not_count_and_is_replaced() {
    let Some(scratch) = scratch("admit_exp") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &ClusterOptions::default());
    let expired = idem("alice", "k2", now_micros() - 1_000_000);
    a.apply(&[StoreOp::PutIdempotency(expired)]).unwrap();
    let fresh = idem_as("alice", "k2", i64::MAX, "new");
    assert_eq!(
        a.admit_job("alice", "s1", "job_k2_new", 10, Some(&fresh))
            .unwrap(),
        StoreAdmission::Admitted
    );
    assert_eq!(a.idempotency("alice", "k2").unwrap(), Some(fresh));
    assert!(a.job("job_k2_new").unwrap().is_some());
    // An admission without a key writes no entry.
    assert_eq!(
        a.admit_job("alice", "s1", "job_plain", 10, None).unwrap(),
        StoreAdmission::Admitted
    );
    assert_eq!(a.idempotency_records().unwrap().len(), 1);
}

#[test]
fn the_cap_counts_unfinished_jobs_of_live_nodes_only() {
    let Some(scratch) = scratch("admit_cap") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &ClusterOptions::default());
    let (mut b, wb) = join(&scratch, "n-b", &ClusterOptions::default());
    let mut plain = PostgresStore::connect_with(&scratch.url, &scratch.options()).unwrap();
    a.apply(&[
        StoreOp::PutJob(job("a-run", "s1", 1, false)),
        StoreOp::PutJob(job("a-done", "s1", 2, true)),
        StoreOp::PutJob(of("bob", job("a-bob", "s1", 3, false))),
    ])
    .unwrap();
    b.apply(&[StoreOp::PutJob(job("b-run", "s2", 4, false))])
        .unwrap();
    // Written by a store that is not joined: on no node, counted.
    plain
        .apply(&[StoreOp::PutJob(job("plain-run", "s3", 5, false))])
        .unwrap();
    // n-b leaves: its unfinished job no longer counts.
    wb.leave().unwrap();
    let mut c = scratch.client();
    assert_eq!(node_of(&mut c, "plain-run"), None);
    // alice: a-run and plain-run.
    assert_eq!(
        a.admit_job("alice", "s1", "j3", 2, None).unwrap(),
        StoreAdmission::OverLimit
    );
    let key = idem("alice", "k3", i64::MAX);
    assert_eq!(
        a.admit_job("alice", "s1", "job_k3", 2, Some(&key)).unwrap(),
        StoreAdmission::OverLimit
    );
    // Refused: nothing written.
    assert_eq!(a.job("j3").unwrap(), None);
    assert_eq!(a.job("job_k3").unwrap(), None);
    assert_eq!(a.idempotency_records().unwrap(), vec![]);
    assert_eq!(
        a.admit_job("alice", "s1", "job_k3", 3, Some(&key)).unwrap(),
        StoreAdmission::Admitted
    );
    // The placeholder counts now.
    assert_eq!(
        a.admit_job("alice", "s1", "j4", 3, None).unwrap(),
        StoreAdmission::OverLimit
    );
    // A finished job frees its place.
    a.apply(&[StoreOp::PutJob(job("a-run", "s1", 1, true))])
        .unwrap();
    assert_eq!(
        a.admit_job("alice", "s1", "j4", 3, None).unwrap(),
        StoreAdmission::Admitted
    );
    // A key already taken is a duplicate even at the cap.
    assert_eq!(
        a.admit_job("alice", "s1", "j5", 3, Some(&key)).unwrap(),
        StoreAdmission::Duplicate {
            fingerprint: "fp:k3".into(),
            job_id: "job_k3".into(),
        }
    );
    // A cap of 0 admits nothing.
    assert_eq!(
        a.admit_job("carol", "s1", "j6", 0, None).unwrap(),
        StoreAdmission::OverLimit
    );
}

/// Two nodes admitting the same key at once, many times: exactly one is admitted, the other
/// gets the winner's fingerprint and job.
#[test]
fn concurrent_admissions_of_one_key_admit_exactly_one() {
    let Some(scratch) = scratch("admit_race") else {
        return;
    };
    const ROUNDS: usize = 60;
    let (a, _wa) = join(&scratch, "n-a", &ClusterOptions::default());
    let (b, _wb) = join(&scratch, "n-b", &ClusterOptions::default());
    let barrier = Barrier::new(2);
    let run = |mut store: PostgresStore, tag: &'static str| {
        let barrier = &barrier;
        move || {
            let mut out = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                let key = idem_as("alice", &format!("r{round}"), i64::MAX, tag);
                barrier.wait();
                out.push(
                    store
                        .admit_job("alice", "s1", &key.job_id, 1000, Some(&key))
                        .unwrap(),
                );
            }
            out
        }
    };
    let (got_a, got_b) = std::thread::scope(|s| {
        let ta = s.spawn(run(a, "a"));
        let tb = s.spawn(run(b, "b"));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let mut c = scratch.client();
    for (round, (x, y)) in got_a.into_iter().zip(got_b).enumerate() {
        let winner = match (&x, &y) {
            (StoreAdmission::Admitted, StoreAdmission::Duplicate { .. }) => "a",
            (StoreAdmission::Duplicate { .. }, StoreAdmission::Admitted) => "b",
            other => panic!("round {round}: {other:?}"),
        };
        let loser = if winner == "a" { &y } else { &x };
        assert_eq!(
            *loser,
            StoreAdmission::Duplicate {
                fingerprint: format!("fp:r{round}:{winner}"),
                job_id: format!("job_r{round}_{winner}"),
            }
        );
        let jobs: i64 = c
            .query_one(
                "SELECT count(*) FROM jobs WHERE job_id IN ($1, $2)",
                &[&format!("job_r{round}_a"), &format!("job_r{round}_b")],
            )
            .unwrap()
            .get(0);
        assert_eq!(jobs, 1, "round {round}");
    }
}

/// Two nodes admitting the last place under a cap at once: exactly one gets it.
#[test]
fn concurrent_admissions_under_a_cap_admit_exactly_one() {
    let Some(scratch) = scratch("admit_race_cap") else {
        return;
    };
    const ROUNDS: usize = 40;
    let (a, _wa) = join(&scratch, "n-a", &ClusterOptions::default());
    let (b, _wb) = join(&scratch, "n-b", &ClusterOptions::default());
    let barrier = Barrier::new(2);
    let run = |mut store: PostgresStore, tag: &'static str| {
        let barrier = &barrier;
        move || {
            let mut out = Vec::with_capacity(ROUNDS);
            for round in 0..ROUNDS {
                barrier.wait();
                out.push(
                    store
                        .admit_job(
                            &format!("p{round}"),
                            "s1",
                            &format!("j{round}{tag}"),
                            1,
                            None,
                        )
                        .unwrap(),
                );
            }
            out
        }
    };
    let (got_a, got_b) = std::thread::scope(|s| {
        let ta = s.spawn(run(a, "a"));
        let tb = s.spawn(run(b, "b"));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for (round, pair) in got_a.into_iter().zip(got_b).enumerate() {
        assert!(
            matches!(
                pair,
                (StoreAdmission::Admitted, StoreAdmission::OverLimit)
                    | (StoreAdmission::OverLimit, StoreAdmission::Admitted)
            ),
            "round {round}: {pair:?}"
        );
    }
}

#[test]
fn admit_session_counts_other_attached_sessions_of_live_nodes() {
    let Some(scratch) = scratch("admit_sess") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &ClusterOptions::default());
    let (mut b, wb) = join(&scratch, "n-b", &ClusterOptions::default());
    let (mut gone, wgone) = join(&scratch, "n-gone", &ClusterOptions::default());
    let mut plain = PostgresStore::connect_with(&scratch.url, &scratch.options()).unwrap();
    a.apply(&[
        StoreOp::PutSession(session_of("alice", "s1", None)),
        // Detached (its resume window runs): not counted.
        StoreOp::PutSession(session_of("alice", "s3", Some(i64::MAX))),
        StoreOp::PutSession(session_of("bob", "s5", None)),
    ])
    .unwrap();
    b.apply(&[StoreOp::PutSession(session_of("alice", "s2", None))])
        .unwrap();
    gone.apply(&[StoreOp::PutSession(session_of("alice", "s4", None))])
        .unwrap();
    // Owned by no node: not counted.
    plain
        .apply(&[StoreOp::PutSession(session_of("alice", "s6", None))])
        .unwrap();
    wgone.leave().unwrap();
    // alice: s1 (n-a) and s2 (n-b).
    assert!(a.admit_session("alice", "s9", 3).unwrap());
    assert!(!a.admit_session("alice", "s9", 2).unwrap());
    assert!(!b.admit_session("alice", "s9", 0).unwrap());
    // The session being admitted is not one of the others.
    assert!(a.admit_session("alice", "s1", 2).unwrap());
    assert!(!a.admit_session("alice", "s1", 1).unwrap());
    assert!(a.admit_session("bob", "s9", 2).unwrap());
    assert!(!a.admit_session("bob", "s9", 1).unwrap());
    assert!(a.admit_session("carol", "s9", 1).unwrap());
    // n-b leaves: its session no longer counts.
    wb.leave().unwrap();
    assert!(a.admit_session("alice", "s9", 2).unwrap());
    assert!(!a.admit_session("alice", "s9", 1).unwrap());
    // Nothing was written.
    assert_eq!(a.sessions().unwrap().len(), 6);
}

#[test]
fn a_store_that_is_not_joined_refuses_admissions() {
    let Some((mut plain, _scratch)) = support::store("admit_plain") else {
        return;
    };
    let key = idem("alice", "k1", i64::MAX);
    let err = plain
        .admit_job("alice", "s1", "job_k1", 10, Some(&key))
        .unwrap_err();
    assert_eq!(err.to_string(), "admit_job needs a clustered store");
    let err = plain.admit_session("alice", "s1", 10).unwrap_err();
    assert_eq!(err.to_string(), "admit_session needs a clustered store");
    assert_eq!(plain.jobs().unwrap(), vec![]);
    assert_eq!(plain.idempotency_records().unwrap(), vec![]);
}
