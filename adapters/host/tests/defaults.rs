//! Secure by default: without demo mode a server hosts no agent, accepts no token, provisions
//! no credential and refuses to start with no authentication configured; demo mode brings the
//! contract agents, tokens, observer and provisioner, each only where not set explicitly.
//! Plus the warning for plain `ws://` on a non-loopback address.

mod support;

use arcp_host::server::{Built, ServerError, ServerOptions, exposure_warning, warn_if_exposed};
use arcp_proto::runtime::Feature;
use arcp_proto::time::{Instant, WallClock};
use std::net::SocketAddr;
use support::*;

fn build(opts: &mut ServerOptions) -> Result<Built, ServerError> {
    let now = Instant::from_micros(0);
    opts.build(
        "t",
        "0",
        now,
        WallClock::new(now, UNIX_MICROS_AT_0),
        Box::new(SeededEntropy::new(1)),
    )
}

fn agent_names(b: &Built) -> Vec<String> {
    b.registry.specs().into_iter().map(|s| s.name).collect()
}

fn principal(b: &Built, token: &str) -> Option<String> {
    b.auth.authenticate(token).ok().map(|p| p.into_string())
}

#[test]
fn without_authentication_or_demo_a_server_refuses_to_start() {
    let mut opts = ServerOptions::default();
    assert!(matches!(opts.check(), Err(ServerError::NoAuthentication)));
    let err = build(&mut opts).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "no authentication configured: add .tokens([(token, principal)]) or .authenticator(..), \
         or .demo() for the demo agents and tokens (arcp serve: --token TOKEN=PRINCIPAL or --demo)"
    );
}

#[test]
fn a_configured_server_hosts_no_agent_accepts_only_its_tokens_and_provisions_nothing() {
    let mut opts = ServerOptions::default();
    opts.add_tokens([("s3cret", "carol")]);
    assert!(opts.check().is_ok());
    assert!(!opts.provisions_credentials());
    let b = build(&mut opts).expect("starts");
    assert_eq!(agent_names(&b), Vec::<String>::new());
    assert_eq!(principal(&b, "s3cret"), Some("carol".to_owned()));
    assert_eq!(principal(&b, "alice-token"), None);
    assert_eq!(principal(&b, "auditor-token"), None);
    let cfg = b.runtime.config();
    assert_eq!(cfg.observer_policy.observers, Vec::<String>::new());
    assert!(!cfg.features.contains(Feature::ProvisionedCredentials));
    assert!(cfg.features.contains(Feature::Heartbeat));
}

#[test]
fn demo_mode_brings_the_contract_agents_tokens_observer_and_credentials() {
    let mut opts = demo_opts();
    assert!(opts.provisions_credentials());
    let b = build(&mut opts).expect("starts");
    assert_eq!(
        agent_names(&b),
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
            "versioned",
            "tool-user",
        ]
    );
    assert_eq!(b.tools.names(), ["lookup"]);
    assert_eq!(principal(&b, "alice-token"), Some("alice".to_owned()));
    assert_eq!(principal(&b, "bob-token"), Some("bob".to_owned()));
    assert_eq!(principal(&b, "auditor-token"), Some("auditor".to_owned()));
    let cfg = b.runtime.config();
    assert_eq!(cfg.observer_policy.observers, ["auditor"]);
    assert!(cfg.features.contains(Feature::ProvisionedCredentials));
}

#[test]
fn explicit_settings_win_over_demo_mode() {
    let mut opts = demo_opts();
    opts.add_tokens([("s3cret", "carol")]);
    opts.credentials = Some(false);
    let mut agents = arcp_agents::AgentRegistry::new();
    agents.register("echo", None, arcp_agents::agents::echo);
    opts.agents = Some(agents);
    let b = build(&mut opts).expect("starts");
    assert_eq!(agent_names(&b), ["echo"]);
    assert_eq!(principal(&b, "alice-token"), None);
    assert_eq!(principal(&b, "s3cret"), Some("carol".to_owned()));
    let cfg = b.runtime.config();
    assert_eq!(cfg.observer_policy.observers, Vec::<String>::new());
    assert!(!cfg.features.contains(Feature::ProvisionedCredentials));

    // Credentials asked for explicitly outside demo mode: only with a provisioner (the
    // demo one never runs outside demo mode, issue #24).
    let mut opts = ServerOptions {
        credentials: Some(true),
        ..ServerOptions::default()
    };
    opts.add_tokens([("s3cret", "carol")]);
    assert!(!opts.provisions_credentials());
    let b = build(&mut opts).expect("starts");
    assert!(
        !b.runtime
            .config()
            .features
            .contains(Feature::ProvisionedCredentials)
    );
}

#[test]
fn plain_ws_on_a_non_loopback_address_is_warned_about() {
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
    assert_eq!(
        exposure_warning(addr("0.0.0.0:7777"), false).as_deref(),
        Some(
            "serving plain ws:// on non-loopback address 0.0.0.0:7777 without TLS: bearer tokens \
             and job data cross the network unencrypted; configure TLS (.tls(cert, key) / \
             --tls-cert and --tls-key) or bind 127.0.0.1"
        )
    );
    assert_eq!(exposure_warning(addr("0.0.0.0:7777"), true), None);
    assert_eq!(exposure_warning(addr("127.0.0.1:7777"), false), None);
    assert_eq!(exposure_warning(addr("[::1]:7777"), false), None);
    assert!(exposure_warning(addr("192.168.1.5:80"), false).is_some());
    assert!(warn_if_exposed(addr("10.0.0.1:80"), false));
    assert!(!warn_if_exposed(addr("127.0.0.1:80"), false));
}
