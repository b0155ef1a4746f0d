//! Liveness rows, the reap of a dead node (exactly one winner), isolation and leaving, on
//! PostgreSQL (liveness timeout 2 s, refresh every 200 ms).

mod support;

use std::time::{Duration, Instant};

use arcp_store::cluster::{ClusterEvent, ClusterWatch};
use arcp_store::suite::{credential, job, session};
use arcp_store::{Store, StoreOp};
use support::cluster::{collect, fast, join, live_nodes, scratch, wait_for};

fn count(events: &[ClusterEvent], f: impl Fn(&ClusterEvent) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

#[test]
fn a_node_that_stops_refreshing_is_reaped_exactly_once() {
    let Some(scratch) = scratch("reap") else {
        return;
    };
    // n-a never waits: its row is not refreshed after the join.
    let (mut a, _wa) = join(&scratch, "n-a", &fast());
    a.apply(&[
        StoreOp::PutSession(session("s1", 0, None)),
        StoreOp::PutJob(job("ja1", "s1", 1, false)),
        StoreOp::PutJob(job("ja2", "s1", 2, true)),
        StoreOp::PutCredential(credential("ca1", "ja1")),
    ])
    .unwrap();
    let (_b, wb) = join(&scratch, "n-b", &fast());
    let (_c, wc) = join(&scratch, "n-c", &fast());
    let run = |mut w: arcp_postgres::PostgresCluster| {
        std::thread::spawn(move || {
            let events = collect(&mut w, Duration::from_secs(4));
            (w, events)
        })
    };
    let (hb, hc) = (run(wb), run(wc));
    let (wb, eb) = hb.join().unwrap();
    let (wc, ec) = hc.join().unwrap();
    let mut all = eb.clone();
    all.extend(ec.clone());
    let lost = ClusterEvent::NodeLost {
        node_id: "n-a".into(),
        jobs: vec![job("ja1", "s1", 1, false)],
        credentials: vec![credential("ca1", "ja1")],
    };
    assert_eq!(all, vec![lost], "n-b: {eb:?}, n-c: {ec:?}");
    let mut c = scratch.client();
    assert_eq!(live_nodes(&mut c), vec!["n-b", "n-c"]);
    drop((wb, wc));
    assert_eq!(live_nodes(&mut c), Vec::<String>::new());
}

#[test]
fn a_node_that_cannot_refresh_is_isolated_once_then_rejoins() {
    let Some(scratch) = scratch("isolate") else {
        return;
    };
    let (mut a, mut wa) = join(&scratch, "n-a", &fast());
    a.apply(&[StoreOp::PutJob(job("ja1", "s1", 1, false))])
        .unwrap();
    assert_eq!(collect(&mut wa, Duration::from_millis(500)), vec![]);
    // Another session holds the nodes table locked: every refresh times out (after the
    // liveness interval), as it would on a server that no longer answers this node.
    let mut admin = scratch.client();
    let mut lock = admin.transaction().unwrap();
    lock.batch_execute("LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let start = Instant::now();
    let events = wait_for(&mut wa, Duration::from_secs(6), |e| {
        *e == ClusterEvent::Isolated
    });
    let took = start.elapsed();
    assert_eq!(events, vec![ClusterEvent::Isolated]);
    // 2 s timeout - 2 * 200 ms interval = 1.6 s after the last refresh (up to 200 ms before
    // the lock was taken).
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_secs(4),
        "isolated after {took:?}"
    );
    // Once only.
    assert_eq!(collect(&mut wa, Duration::from_secs(1)), vec![]);
    lock.commit().unwrap();
    // Nobody reaped it: it reaps itself (its jobs were stopped without terminals), then is a
    // live member again.
    let events = wait_for(&mut wa, Duration::from_secs(5), |e| {
        *e == ClusterEvent::Rejoined
    });
    assert_eq!(
        events,
        vec![
            ClusterEvent::NodeLost {
                node_id: "n-a".into(),
                jobs: vec![job("ja1", "s1", 1, false)],
                credentials: vec![],
            },
            ClusterEvent::Rejoined
        ]
    );
    assert_eq!(live_nodes(&mut admin), vec!["n-a"]);
}

#[test]
fn a_node_reaped_while_unaware_is_isolated_and_rejoins() {
    let Some(scratch) = scratch("reaped") else {
        return;
    };
    let (_a, mut wa) = join(&scratch, "n-a", &fast());
    let mut c = scratch.client();
    // As a reaper's transaction would.
    c.execute("DELETE FROM nodes WHERE node_id = 'n-a'", &[])
        .unwrap();
    let events = wait_for(&mut wa, Duration::from_secs(3), |e| {
        *e == ClusterEvent::Rejoined
    });
    assert_eq!(events, vec![ClusterEvent::Isolated, ClusterEvent::Rejoined]);
    assert_eq!(live_nodes(&mut c), vec!["n-a"]);
}

#[test]
fn a_terminated_watch_connection_reconnects_without_isolation() {
    let Some(url) = support::url() else {
        return;
    };
    let scratch = support::Scratch::new(&url, "terminate");
    let tag = scratch.schema.clone();
    let tagged = support::with_application_name(&url, &tag);
    let (mut a, mut wa) =
        arcp_postgres::PostgresStore::join(&tagged, &scratch.options(), "n-a", &fast()).unwrap();
    let (mut b, mut wb) = join(&scratch, "n-b", &fast());
    a.apply(&[StoreOp::PutSession(session("s1", 0, None))])
        .unwrap();
    // n-b stays alive meanwhile (else n-a reaps it).
    let keep_b = std::thread::spawn(move || {
        let events = collect(&mut wb, Duration::from_secs(4));
        (wb, events)
    });
    let mut admin = scratch.client();
    let killed: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1) t",
            &[&tag],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 2);
    // Three liveness timeouts' worth of waiting: never isolated, the row kept fresh.
    let events = collect(&mut wa, Duration::from_secs(3));
    assert_eq!(
        count(&events, |e| *e == ClusterEvent::Isolated),
        0,
        "{events:?}"
    );
    assert_eq!(events, vec![]);
    let fresh: bool = admin
        .query_one(
            "SELECT heartbeat_at > now() - interval '1 second' FROM nodes WHERE node_id = 'n-a'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(fresh);
    let (_wb, b_events) = keep_b.join().unwrap();
    assert_eq!(b_events, vec![]);
    // It listens again: a forward reaches it.
    b.apply(&[StoreOp::Forward(vec![
        arcp_store::cluster::ForwardedFrame {
            session_id: "s1".into(),
            job_id: "j1".into(),
            frame: b"{}".to_vec(),
        },
    ])])
    .unwrap();
    let events = wait_for(&mut wa, Duration::from_secs(3), |e| {
        matches!(e, ClusterEvent::Feed(_))
    });
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn leaving_deletes_the_liveness_row() {
    let Some(scratch) = scratch("leave") else {
        return;
    };
    let (_a, wa) = join(&scratch, "n-a", &fast());
    let (_b, wb) = join(&scratch, "n-b", &fast());
    let mut c = scratch.client();
    assert_eq!(live_nodes(&mut c), vec!["n-a", "n-b"]);
    assert_eq!(wa.node_id(), "n-a");
    wa.leave().unwrap();
    assert_eq!(live_nodes(&mut c), vec!["n-b"]);
    drop(wb);
    assert_eq!(live_nodes(&mut c), Vec::<String>::new());
}
