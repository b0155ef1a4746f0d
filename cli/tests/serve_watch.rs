//! `arcp serve` (the real binary) with `--dashboard --metrics`: exact `/metrics` counter
//! values after a scripted run, the dashboard page with its Content-Security-Policy, and a
//! browser origin refused 403 at the WebSocket upgrade.

#[path = "support/serve.rs"]
mod serve;

use arcp_tokio::client::{Client, SubmitRequest};
use serde_json::json;
use serve::Served;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// `arcp serve --demo --port 0 --dashboard --metrics EXTRA…`: the server, and the
/// `DASHBOARD` and `METRICS` URLs it printed after `LISTENING`.
fn start(extra: &[&str]) -> (Served, String, String) {
    let mut args = vec!["--dashboard", "--metrics"];
    args.extend_from_slice(extra);
    let mut served = Served::start(&args);
    let dashboard = served.line("DASHBOARD ");
    let metrics = served.line("METRICS ");
    (served, dashboard, metrics)
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
}

/// A GET of `url`: status, the value of `header`, the body.
async fn get(url: &str, header: &'static str) -> (u16, Option<String>, String) {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent.get(&url).call().expect("GET");
        let h = resp
            .headers()
            .get(header)
            .map(|v| v.to_str().expect("ascii").to_owned());
        let body = resp.body_mut().read_to_string().expect("body");
        (resp.status().as_u16(), h, body)
    })
    .await
    .expect("join")
}

/// The samples of a scrape that are not comments, sorted.
fn samples(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn metrics_count_a_scripted_run_exactly() {
    let (served, _, metrics) = start(&["--metrics-addr", "127.0.0.1:0"]);
    assert!(metrics.starts_with("http://127.0.0.1:"), "{}", metrics);
    let alice = within("alice", Client::connect(&served.url, "alice-token"))
        .await
        .expect("alice");
    for i in 0..3 {
        let job = within(
            "submit",
            alice.submit(SubmitRequest::new("echo", json!({"n": i}))),
        )
        .await
        .expect("submit");
        within("echo", job.done()).await.expect("echo done");
    }
    let job = within(
        "submit",
        alice.submit(SubmitRequest::new("failing", json!({}))),
    )
    .await
    .expect("submit");
    let _ = within("failing", job.done()).await;
    let refused = within("bad token", Client::connect(&served.url, "wrong-token")).await;
    assert!(refused.is_err());
    within("close", alice.close()).await.expect("close");

    // The snapshot is published within 5 ms of a change: scrape until the run is in it.
    let mut text = String::new();
    for _ in 0..1000 {
        text = get(&metrics, "content-type").await.2;
        if text.lines().any(|l| l == "arcp_connections_open 0")
            && text
                .lines()
                .any(|l| l == "arcp_jobs_ended_total{status=\"error\"} 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = samples(&text);
    let has = |line: &str| assert!(s.iter().any(|l| l == line), "{line:?} not in\n{text}");
    for line in [
        "arcp_jobs_ended_total{status=\"success\"} 3",
        "arcp_jobs_ended_total{status=\"error\"} 1",
        "arcp_jobs_ended_total{status=\"cancelled\"} 0",
        "arcp_jobs_ended_total{status=\"timed_out\"} 0",
        "arcp_jobs_running 0",
        "arcp_sessions_opened_total 1",
        "arcp_sessions{state=\"live\"} 0",
        // alice's connection is closed; her session stays resumable for its window.
        "arcp_sessions{state=\"resumable\"} 1",
        "arcp_connections_opened_total 2",
        "arcp_connections_open 0",
        "arcp_auth_failures_total{reason=\"unknown_token\"} 1",
        "arcp_resumes_total{outcome=\"succeeded\"} 0",
        "arcp_slow_consumer_cuts_total 0",
        "arcp_subscribe_decisions_total{decision=\"accepted\"} 0",
        "arcp_limit_hits_total{limit=\"max_jobs_per_principal\"} 0",
        "arcp_unrevoked_credentials 0",
        "arcp_store_batch_duration_seconds_count 0",
        // The failing agent emits one log event before failing; echo none.
        "arcp_events_emitted_total 1",
        // The demo's contract agents and tool-user.
        "arcp_agents 11",
    ] {
        has(line);
    }
}

#[tokio::test]
async fn the_dashboard_has_a_strict_csp_and_a_foreign_origin_is_refused() {
    let (served, dashboard, metrics) = start(&[
        "--metrics-addr",
        "same",
        "--allow-origin",
        "https://ops.example",
    ]);
    let port = served
        .url
        .rsplit_once(':')
        .expect("port")
        .1
        .split('/')
        .next()
        .expect("port");
    assert_eq!(dashboard, format!("http://127.0.0.1:{port}/"));
    assert_eq!(metrics, format!("http://127.0.0.1:{port}/metrics"));
    let (status, csp, page) = get(&dashboard, "content-security-policy").await;
    assert_eq!(status, 200);
    assert_eq!(
        csp.as_deref(),
        Some(
            format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' \
ws://127.0.0.1:{port}; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
form-action 'none'"
            )
            .as_str()
        )
    );
    let title = page
        .split_once("<title>")
        .and_then(|(_, t)| t.split_once("</title>"))
        .map(|(t, _)| t);
    assert!(title.is_some_and(|t| t.contains("ARCP")), "{page}");
    let (status, _, text) = get(&metrics, "content-type").await;
    assert_eq!(status, 200);
    assert!(
        text.lines().any(|l| l == "arcp_sessions_opened_total 0"),
        "{text}"
    );

    let upgrade = |origin: &'static str| {
        let mut req = served.url.as_str().into_client_request().expect("request");
        req.headers_mut()
            .insert("Origin", HeaderValue::from_static(origin));
        tokio_tungstenite::connect_async(req)
    };
    match within("evil", upgrade("http://evil.example")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    within("allowed", upgrade("https://ops.example"))
        .await
        .expect("an allowed origin upgrades");
    let own: &'static str = format!("http://127.0.0.1:{port}").leak();
    within("own", upgrade(own))
        .await
        .expect("the own origin upgrades");
}
