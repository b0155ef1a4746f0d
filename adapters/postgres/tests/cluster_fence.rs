//! A joined store's fenced writes and the claim of a session, on PostgreSQL.

mod support;

use std::time::Duration;

use arcp_postgres::PostgresStore;
use arcp_store::cluster::{Claimed, ClusterEvent};
use arcp_store::suite::{event, job, session};
use arcp_store::{Store, StoreOp, StoredEvent};
use support::cluster::{
    fast, feed_rows, frame, inbox_rows, join, owner, scratch, unstamped, wait_for,
};

fn job_event(session: &str, seq: u64, job: &str, kind: &str) -> StoredEvent {
    StoredEvent {
        session_id: session.into(),
        event_seq: seq,
        job_id: Some(job.into()),
        frame: frame(seq, job, kind),
    }
}

#[test]
fn a_non_owner_append_becomes_feed_rows_and_its_put_session_is_skipped() {
    let Some(scratch) = scratch("fence") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &fast());
    let (mut b, _wb) = join(&scratch, "n-b", &fast());
    assert_eq!(a.node_id(), Some("n-a"));
    assert_eq!(b.node_id(), Some("n-b"));
    a.apply(&[
        StoreOp::PutSession(session("s1", 2, None)),
        StoreOp::AppendEvents(vec![event("s1", 1, None), event("s1", 2, None)]),
    ])
    .unwrap();
    let mut c = scratch.client();
    assert_eq!(owner(&mut c, "s1"), (Some("n-a".into()), 1));
    b.apply(&[
        StoreOp::AppendEvents(vec![
            job_event("s1", 3, "j1", "job.event"),
            event("s1", 4, None),
            job_event("s2", 1, "j2", "job.accepted"),
            job_event("s1", 5, "j1", "job.result"),
        ]),
        StoreOp::PutSession(session("s1", 99, Some(7))),
    ])
    .unwrap();
    // s1 (owned by n-a): the job frames are queued unstamped, the frame without a job is
    // dropped, the record is untouched; s2 (no owner yet) is appended as usual.
    assert_eq!(
        feed_rows(&mut c),
        vec![
            ("s1".into(), "j1".into(), unstamped("j1", "job.event")),
            ("s1".into(), "j1".into(), unstamped("j1", "job.result")),
        ]
    );
    assert_eq!(
        a.read_events("s1", 0, 10).unwrap(),
        vec![event("s1", 1, None), event("s1", 2, None)]
    );
    assert_eq!(
        b.read_events("s2", 0, 10).unwrap(),
        vec![job_event("s2", 1, "j2", "job.accepted")]
    );
    assert_eq!(b.session("s1").unwrap(), Some(session("s1", 2, None)));
    assert_eq!(owner(&mut c, "s1"), (Some("n-a".into()), 1));
    // The owner's own update goes through.
    a.apply(&[StoreOp::PutSession(session("s1", 5, Some(9)))])
        .unwrap();
    assert_eq!(a.session("s1").unwrap(), Some(session("s1", 5, Some(9))));
    assert_eq!(owner(&mut c, "s1"), (Some("n-a".into()), 1));
    // A non-owner's DeleteSession leaves the session, its events and its feed alone.
    b.apply(&[StoreOp::DeleteSession("s1".into())]).unwrap();
    assert_eq!(a.session("s1").unwrap(), Some(session("s1", 5, Some(9))));
    assert_eq!(a.last_event_seq("s1").unwrap(), Some(2));
    assert_eq!(feed_rows(&mut c).len(), 2);
    // The owner's deletes all three.
    a.apply(&[StoreOp::DeleteSession("s1".into())]).unwrap();
    assert_eq!(a.session("s1").unwrap(), None);
    assert_eq!(a.last_event_seq("s1").unwrap(), None);
    assert_eq!(feed_rows(&mut c), vec![]);
}

#[test]
fn jobs_record_their_node_and_updates_never_move_them() {
    let Some(scratch) = scratch("jobs") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &fast());
    let (mut b, _wb) = join(&scratch, "n-b", &fast());
    a.apply(&[
        StoreOp::PutJob(job("ja", "s1", 1, false)),
        StoreOp::PutJob(job("jz", "s1", 0, true)),
    ])
    .unwrap();
    b.apply(&[StoreOp::PutJob(job("jb", "s1", 2, false))])
        .unwrap();
    // n-b ends n-a's job (as the winner of a reap would): the record changes, the node not.
    b.apply(&[StoreOp::PutJob(job("ja", "s1", 1, true))])
        .unwrap();
    assert_eq!(
        a.node_jobs().unwrap(),
        vec![job("jz", "s1", 0, true), job("ja", "s1", 1, true)]
    );
    assert_eq!(b.node_jobs().unwrap(), vec![job("jb", "s1", 2, false)]);
    assert_eq!(a.jobs().unwrap().len(), 3);
    let nodes: Vec<(String, String)> = scratch
        .client()
        .query("SELECT job_id, node_id FROM jobs ORDER BY job_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("ja".into(), "n-a".into()),
            ("jb".into(), "n-b".into()),
            ("jz".into(), "n-a".into())
        ]
    );
}

#[test]
fn a_store_that_is_not_joined_writes_no_owner_and_a_joined_one_takes_it() {
    let Some(scratch) = scratch("plain") else {
        return;
    };
    let mut plain = PostgresStore::connect_with(&scratch.url, &scratch.options()).unwrap();
    plain
        .apply(&[
            StoreOp::PutSession(session("s1", 1, None)),
            StoreOp::PutJob(job("j1", "s1", 1, false)),
        ])
        .unwrap();
    let mut c = scratch.client();
    assert_eq!(owner(&mut c, "s1"), (None, 0));
    let (mut a, _wa) = join(&scratch, "n-a", &fast());
    assert_eq!(a.node_jobs().unwrap(), vec![]);
    a.apply(&[StoreOp::PutSession(session("s1", 2, None))])
        .unwrap();
    assert_eq!(owner(&mut c, "s1"), (Some("n-a".into()), 1));
    assert_eq!(plain.node_jobs().unwrap(), vec![job("j1", "s1", 1, false)]);
}

#[test]
fn a_claim_moves_the_session_and_tells_the_old_owner() {
    let Some(scratch) = scratch("claim") else {
        return;
    };
    let (mut a, mut wa) = join(&scratch, "n-a", &fast());
    let (mut b, mut wb) = join(&scratch, "n-b", &fast());
    a.apply(&[
        StoreOp::PutSession(session("s1", 3, Some(500))),
        StoreOp::AppendEvents((1..=3).map(|n| event("s1", n, None)).collect()),
        StoreOp::PutJob(job("ja", "s1", 1, false)),
        StoreOp::PutJob(job("ja-done", "s1", 2, true)),
        StoreOp::PutJob(job("ja-other", "s9", 3, false)),
    ])
    .unwrap();
    b.apply(&[StoreOp::PutJob(job("jb", "s1", 4, false))])
        .unwrap();
    let claimed = b.claim_session("s1").unwrap();
    assert_eq!(
        claimed,
        Some(Claimed {
            session: session("s1", 3, Some(500)),
            last_stored_seq: Some(3),
            jobs: vec![job("ja", "s1", 1, false)],
        })
    );
    let mut c = scratch.client();
    assert_eq!(owner(&mut c, "s1"), (Some("n-b".into()), 2));
    assert_eq!(
        inbox_rows(&mut c),
        vec![("n-a".into(), "released".into(), "s1".into())]
    );
    // The old owner hears of it (and the inbox row is gone); the new one hears nothing.
    let events = wait_for(&mut wa, Duration::from_secs(5), |e| {
        matches!(e, ClusterEvent::Released(_))
    });
    assert_eq!(events, vec![ClusterEvent::Released(vec!["s1".into()])]);
    assert_eq!(inbox_rows(&mut c), vec![]);
    assert_eq!(
        support::cluster::collect(&mut wb, Duration::from_millis(300)),
        vec![]
    );
    // From now on n-a's appends to s1 are forwarded, n-b's stamped.
    a.apply(&[StoreOp::AppendEvents(vec![job_event(
        "s1",
        4,
        "ja",
        "job.event",
    )])])
    .unwrap();
    b.apply(&[StoreOp::AppendEvents(vec![event("s1", 4, None)])])
        .unwrap();
    assert_eq!(
        feed_rows(&mut c),
        vec![("s1".into(), "ja".into(), unstamped("ja", "job.event"))]
    );
    assert_eq!(b.last_event_seq("s1").unwrap(), Some(4));
    // Claiming again from the owner: the epoch moves, nobody is told.
    let again = b.claim_session("s1").unwrap().unwrap();
    assert_eq!(again.last_stored_seq, Some(4));
    assert_eq!(owner(&mut c, "s1"), (Some("n-b".into()), 3));
    assert_eq!(inbox_rows(&mut c), vec![]);
    // An unknown session: None, nothing written.
    assert_eq!(b.claim_session("nope").unwrap(), None);
    assert_eq!(inbox_rows(&mut c), vec![]);
}

/// The owner and a node that still believes it holds the session (its release not yet
/// seen) write the same session at the same time, appends and record together: neither
/// batch fails (no deadlock between the session row's locks), the owner's events are all
/// stamped and the other's job frames all forwarded.
#[test]
fn concurrent_owner_and_non_owner_batches_do_not_deadlock() {
    let Some(scratch) = scratch("race") else {
        return;
    };
    let (mut a, _wa) = join(&scratch, "n-a", &fast());
    let (mut b, _wb) = join(&scratch, "n-b", &fast());
    a.apply(&[StoreOp::PutSession(session("s1", 0, None))])
        .unwrap();
    const ROUNDS: u64 = 40;
    let owner_side = std::thread::spawn(move || {
        for n in 1..=ROUNDS {
            a.apply(&[
                StoreOp::AppendEvents(vec![event("s1", n, None)]),
                StoreOp::PutSession(session("s1", n, None)),
            ])
            .unwrap();
        }
        a
    });
    let other_side = std::thread::spawn(move || {
        for n in 1..=ROUNDS {
            let put = StoreOp::PutSession(session("s1", 1000 + n, None));
            let append = StoreOp::AppendEvents(vec![job_event("s1", 1000 + n, "jb", "job.event")]);
            // Both orders.
            let batch = if n % 2 == 0 {
                [put, append]
            } else {
                [append, put]
            };
            b.apply(&batch).unwrap();
        }
        b
    });
    let mut a = owner_side.join().unwrap();
    other_side.join().unwrap();
    assert_eq!(
        a.read_events("s1", 0, 100).unwrap(),
        (1..=ROUNDS)
            .map(|n| event("s1", n, None))
            .collect::<Vec<_>>()
    );
    assert_eq!(a.session("s1").unwrap(), Some(session("s1", ROUNDS, None)));
    let mut c = scratch.client();
    assert_eq!(feed_rows(&mut c).len(), 40);
    assert_eq!(owner(&mut c, "s1"), (Some("n-a".into()), 1));
}

#[test]
fn the_cap_on_detached_sessions_holds_across_nodes() {
    let Some(scratch) = scratch("rescap") else {
        return;
    };
    let capped = fast().max_resumable_sessions_per_principal(2);
    let (mut a, _wa) = join(&scratch, "n-a", &capped);
    let (mut b, _wb) = join(&scratch, "n-b", &capped);
    let mut bob = session("bob1", 1, Some(50));
    bob.principal = "bob".into();
    // Alice: s1 detached on A (window closes at 100), s2 attached on A, s3 detached on B
    // (200); bob's session detached on A.
    a.apply(&[
        StoreOp::PutSession(session("s1", 1, Some(100))),
        StoreOp::AppendEvents(vec![event("s1", 1, None)]),
        StoreOp::PutSession(session("s2", 0, None)),
        StoreOp::PutSession(bob),
    ])
    .unwrap();
    b.apply(&[StoreOp::PutSession(session("s3", 0, Some(200)))])
        .unwrap();
    let ids = |s: &mut PostgresStore| -> Vec<String> {
        s.sessions()
            .unwrap()
            .into_iter()
            .map(|r| r.session_id)
            .collect()
    };
    // Two detached sessions of alice: at the cap, nothing expired.
    assert_eq!(ids(&mut a), vec!["bob1", "s1", "s2", "s3"]);
    // A third one detaches on A: s1, whose window closes first, is expired with its events,
    // though B's s3 is the other node's.
    a.apply(&[StoreOp::PutSession(session("s2", 0, Some(300)))])
        .unwrap();
    assert_eq!(ids(&mut b), vec!["bob1", "s2", "s3"]);
    assert_eq!(a.read_events("s1", 0, 10).unwrap(), Vec::new());
    // Without a cap (the default) nothing is expired.
    let (mut c, _wc) = join(&scratch, "n-c", &fast());
    c.apply(&[StoreOp::PutSession(session("s4", 0, Some(400)))])
        .unwrap();
    assert_eq!(ids(&mut c), vec!["bob1", "s2", "s3", "s4"]);
}
