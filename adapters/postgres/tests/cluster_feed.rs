//! Forwarded frames and routed cancels between joined nodes, on PostgreSQL.

mod support;

use std::time::{Duration, Instant};

use arcp_postgres::ClusterOptions;
use arcp_store::cluster::{ClusterEvent, ClusterWatch, FeedRow, ForwardedFrame};
use arcp_store::suite::{job, session};
use arcp_store::{Store, StoreOp};
use support::cluster::{collect, fast, feed_rows, inbox_rows, join, scratch, unstamped, wait_for};

fn forwarded(session: &str, job: &str, kind: &str) -> ForwardedFrame {
    ForwardedFrame {
        session_id: session.into(),
        job_id: job.into(),
        frame: unstamped(job, kind),
    }
}

fn is_feed(e: &ClusterEvent) -> bool {
    matches!(e, ClusterEvent::Feed(_))
}

#[test]
fn forwarded_frames_reach_the_owner_until_consumed() {
    let Some(scratch) = scratch("feed") else {
        return;
    };
    let (mut a, mut wa) = join(&scratch, "n-a", &fast());
    let (mut b, mut wb) = join(&scratch, "n-b", &fast());
    a.apply(&[StoreOp::PutSession(session("s1", 0, None))])
        .unwrap();
    b.apply(&[StoreOp::PutSession(session("s2", 0, None))])
        .unwrap();
    b.apply(&[StoreOp::Forward(vec![
        forwarded("s1", "j1", "job.event"),
        forwarded("s1", "j1", "job.result"),
    ])])
    .unwrap();
    let events = wait_for(&mut wa, Duration::from_secs(5), is_feed);
    let [ClusterEvent::Feed(rows)] = events.as_slice() else {
        panic!("expected one Feed, got {events:?}");
    };
    assert_eq!(rows.len(), 2);
    let (first, second) = (rows[0].id, rows[1].id);
    assert!(first < second, "{first} < {second}");
    assert_eq!(
        rows,
        &vec![
            FeedRow {
                id: first,
                session_id: "s1".into(),
                job_id: "j1".into(),
                frame: unstamped("j1", "job.event"),
            },
            FeedRow {
                id: second,
                session_id: "s1".into(),
                job_id: "j1".into(),
                frame: unstamped("j1", "job.result"),
            },
        ]
    );
    // n-b owns none of them: it hears nothing.
    assert_eq!(collect(&mut wb, Duration::from_millis(300)), vec![]);
    // Not consumed: delivered again.
    let again = wait_for(&mut wa, Duration::from_secs(5), is_feed);
    assert_eq!(again, events);
    // Consuming exactly one id leaves the other.
    a.apply(&[StoreOp::ConsumeFeed(vec![first])]).unwrap();
    let rest = wait_for(&mut wa, Duration::from_secs(5), is_feed);
    assert_eq!(
        rest,
        vec![ClusterEvent::Feed(vec![FeedRow {
            id: second,
            session_id: "s1".into(),
            job_id: "j1".into(),
            frame: unstamped("j1", "job.result"),
        }])]
    );
    a.apply(&[StoreOp::ConsumeFeed(vec![second, second + 1000, -1])])
        .unwrap();
    assert_eq!(feed_rows(&mut scratch.client()), vec![]);
    assert_eq!(collect(&mut wa, Duration::from_millis(300)), vec![]);
}

#[test]
fn a_forward_wakes_the_owner_before_its_poll_interval() {
    let Some(scratch) = scratch("notify") else {
        return;
    };
    let slow = ClusterOptions::default()
        .poll_interval(Duration::from_secs(30))
        .liveness_interval(Duration::from_secs(30))
        .liveness_timeout(Duration::from_secs(120));
    let (mut a, mut wa) = join(&scratch, "n-a", &slow);
    let (mut b, _wb) = join(&scratch, "n-b", &slow);
    a.apply(&[StoreOp::PutSession(session("s1", 0, None))])
        .unwrap();
    // The first wait catches up at once (nothing yet); the next blocks on LISTEN.
    assert_eq!(wa.wait().unwrap(), vec![]);
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        b.apply(&[StoreOp::Forward(vec![forwarded("s1", "j1", "job.event")])])
            .unwrap();
    });
    let start = Instant::now();
    let events = wa.wait().unwrap();
    let took = start.elapsed();
    writer.join().unwrap();
    assert!(took < Duration::from_secs(5), "woken after {took:?}");
    let [ClusterEvent::Feed(rows)] = events.as_slice() else {
        panic!("expected one Feed, got {events:?}");
    };
    assert_eq!(
        rows.iter().map(|r| r.frame.clone()).collect::<Vec<_>>(),
        vec![unstamped("j1", "job.event")]
    );
}

#[test]
fn a_cancel_is_routed_to_the_node_running_the_job() {
    let Some(scratch) = scratch("cancel") else {
        return;
    };
    let (mut a, mut wa) = join(&scratch, "n-a", &fast());
    let (mut b, mut wb) = join(&scratch, "n-b", &fast());
    a.apply(&[StoreOp::PutJob(job("ja", "s1", 1, false))])
        .unwrap();
    b.apply(&[
        StoreOp::ForwardCancel {
            job_id: "ja".into(),
        },
        StoreOp::ForwardCancel {
            job_id: "unknown".into(),
        },
    ])
    .unwrap();
    let mut c = scratch.client();
    assert_eq!(
        inbox_rows(&mut c),
        vec![("n-a".into(), "cancel".into(), "ja".into())]
    );
    let events = wait_for(&mut wa, Duration::from_secs(5), |e| {
        matches!(e, ClusterEvent::Cancel(_))
    });
    assert_eq!(events, vec![ClusterEvent::Cancel(vec!["ja".into()])]);
    assert_eq!(inbox_rows(&mut c), vec![]);
    assert_eq!(collect(&mut wa, Duration::from_millis(300)), vec![]);
    assert_eq!(collect(&mut wb, Duration::from_millis(300)), vec![]);
}
