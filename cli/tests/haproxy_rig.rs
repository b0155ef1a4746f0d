//! Two `arcp serve --demo` nodes (no PostgreSQL) behind HAProxy (`support/haproxy.rs`:
//! `mode tcp`, `balance roundrobin`, health checks `GET /healthz`): both pass their health
//! checks, two successive connections land on different nodes (each node's own
//! `arcp_connections_opened_total`), and a node that gets SIGTERM while a job runs answers
//! `/healthz` 503, is taken out of the rotation, and every new connection goes to the other
//! node — while its running job still ends normally and its connection is closed 1001.
//!
//! Needs the `haproxy` binary (`bash .ci/haproxy.sh` installs it): without it the test prints
//! a skip note, unless CI=true (then it fails).

#[path = "support/haproxy.rs"]
mod haproxy;
#[path = "support/probe.rs"]
mod probe;
#[path = "support/robust.rs"]
mod robust;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/signal.rs"]
mod signal;
#[path = "support/slow_job.rs"]
mod slow_job;

use haproxy::HaProxy;
use serde_json::json;
use serve::Served;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The `haproxy` binary, or `None` with a skip note (a failure with CI=true).
fn haproxy_or_skip() -> Option<PathBuf> {
    if let Some(bin) = haproxy::binary() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no haproxy binary: the HAProxy test must run in CI \
         (bash .ci/haproxy.sh installs it)"
    );
    println!("SKIPPED haproxy_rig: no haproxy binary (bash .ci/haproxy.sh installs it)");
    None
}

/// A node: `arcp serve --demo --port 0 --metrics --metrics-addr 127.0.0.1:0`, and its
/// `/metrics` URL.
fn node() -> (Served, String) {
    let mut served = Served::start(&["--metrics", "--metrics-addr", "127.0.0.1:0"]);
    let metrics = served.line("METRICS ");
    (served, metrics)
}

/// Each node's `arcp_connections_opened_total`, polled (at most 10 s) until they add up to
/// `total` (the host publishes its counters a few ms after a change).
fn opened(nodes: &[(Served, String)], total: u64) -> Vec<u64> {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let counts: Vec<u64> = nodes
            .iter()
            .map(|(_, m)| probe::metric(m, "arcp_connections_opened_total"))
            .collect();
        if counts.iter().sum::<u64>() == total || Instant::now() > until {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `(name, status, check code)` rows, owned.
fn rows(want: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    want.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_spreads_connections_and_a_draining_node_leaves_the_rotation() {
    let Some(bin) = haproxy_or_skip() else {
        return;
    };
    let mut nodes = vec![node(), node()];
    let addrs: Vec<String> = nodes
        .iter()
        .map(|(s, _)| probe::authority(&s.url).to_owned())
        .collect();
    let proxy = HaProxy::start(&bin, &addrs);
    let both_up = rows(&[("n0", "UP", "200"), ("n1", "UP", "200")]);
    assert_eq!(
        proxy.wait_servers(&[("n0", "UP", "200"), ("n1", "UP", "200")]),
        both_up
    );
    // Health checks are plain HTTP requests: no WebSocket connection counted yet.
    assert_eq!(opened(&nodes, 0), [0, 0]);

    // Two successive connections: one on each node.
    let (mut first, _) = robust::open(&proxy.url(), "alice-token").await;
    let after_first = opened(&nodes, 1);
    let a = after_first
        .iter()
        .position(|&n| n == 1)
        .expect("one node has it");
    let b = 1 - a;
    let (_second, _) = robust::open(&proxy.url(), "alice-token").await;
    assert_eq!(opened(&nodes, 2), [1, 1]);

    // Node `a` runs a job (4 s in 8 ticks), then gets SIGTERM: it drains.
    slow_job::start_slow(&mut first, json!({"seconds": 4, "tick": 0.5})).await;
    signal::send(&nodes[a].0.child, "TERM");
    assert_eq!(
        probe::wait_healthz(&addrs[a], 503),
        (503, "draining".to_owned())
    );
    let name = |i: usize| format!("n{i}");
    let mut want = [(name(0), "UP", "200"), (name(1), "UP", "200")];
    want[a] = (name(a), "DOWN", "503");
    let want: Vec<(&str, &str, &str)> = want.iter().map(|(n, s, c)| (n.as_str(), *s, *c)).collect();
    assert_eq!(proxy.wait_servers(&want), rows(&want));

    // Out of the rotation: three new connections all land on node `b`.
    let mut later = Vec::new();
    for _ in 0..3 {
        let (ws, welcome) = robust::open(&proxy.url(), "alice-token").await;
        assert_eq!(welcome["type"], "session.welcome");
        later.push(ws);
    }
    let mut expected = [0, 0];
    expected[a] = 1;
    expected[b] = 4;
    assert_eq!(opened(&nodes, 5), expected);

    // The draining node's job still ends normally, then its connection is closed 1001.
    let (types, code) = slow_job::job_frames_until_close(&mut first).await;
    assert_eq!(
        types.last().map(String::as_str),
        Some("job.result"),
        "{types:?}"
    );
    assert_eq!(code, Some(1001));
    let status = signal::wait_exit(&mut nodes[a].0.child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
}
