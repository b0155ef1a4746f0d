//! The shared interop scenarios (arcp-interop) driven by the tokio client against the tokio
//! server in-process, over WebSocket: a fast subset that covers the trait (submit, frame
//! tap, raw send, subscribe from a second session, drop + resume, raw connections).
//! The full 25 run with `cargo run -p arcp-tokio --example interop -- --url …`.

#[path = "../examples/interop_harness/mod.rs"]
mod interop_harness;

use arcp_interop::Target;
use arcp_interop::ctx::Options;
use arcp_interop::runner::{run_all, select};
use arcp_tokio::server::Server;
use interop_harness::harness;
use std::sync::Arc;

#[test]
fn the_shared_scenarios_pass_against_the_tokio_server() {
    let (rt, harness) = harness().unwrap();
    let (url, _server) = rt
        .block_on(Server::builder().demo().bind_ws("127.0.0.1:0", "/arcp"))
        .unwrap();
    let opts = Options {
        target: Target::WebSocket(url),
        alice_token: "alice-token".into(),
        bob_token: "bob-token".into(),
        observer_token: "auditor-token".into(),
        agents_from_peer: true,
        credentials: true,
        python_peer: false,
        scenario_timeout: 30.0,
    };
    let names: Vec<String> = [
        "submit_echo",
        "event_ordering",
        "idempotent_resubmit",
        "subscribe",
        "resume_replay",
        "resume_live_job",
        "bad_token",
        "graceful_close",
    ]
    .map(String::from)
    .to_vec();
    let scenarios = select(&names).unwrap();
    let mut out = Vec::new();
    let code = run_all(&scenarios, &opts, &(Arc::new(harness) as _), &mut out);
    let text = String::from_utf8(out).unwrap();
    let mut want: String = names.iter().map(|n| format!("PASS {n}\n")).collect();
    want.push_str("8 passed, 0 failed\n");
    assert_eq!(text, want);
    assert_eq!(code, 0);
}
