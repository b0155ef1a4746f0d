//! Credentials through a configured [`CredentialProvisioner`] (§9.8): advertised only with a
//! provisioner, minted within the job's budget and expiry, and a revocation that keeps
//! failing retried with backoff (1 s, then 2 s), then listed for operators.

mod support;

use arcp_host::server::{CredentialProvisioner, MintRequest, ServerOptions, UnrevokedCredential};
use arcp_proto::runtime::Feature;
use arcp_proto::wire::{Credential, JobId};
use std::sync::{Arc, Mutex};
use support::*;

/// Mints `cred_1` / `value-1`; every revoke fails; every call is logged.
#[derive(Clone, Default)]
struct Flaky {
    log: Arc<Mutex<Vec<String>>>,
}

impl CredentialProvisioner for Flaky {
    fn mint(&self, req: &MintRequest<'_>) -> Result<Vec<Credential>, String> {
        let mut log = self.log.lock().unwrap();
        log.push(format!(
            "mint {} budget={} expires={}",
            req.principal,
            serde_json::to_string(&req.budget).unwrap(),
            serde_json::to_string(&req.expires_at).unwrap()
        ));
        Ok(vec![Credential {
            id: "cred_1".into(),
            scheme: "bearer".into(),
            value: "value-1".into(),
            endpoint: None,
            profile: None,
            constraints: None,
        }])
    }

    fn rotate(&self, _job: &JobId, _id: &str, _unix_ms: u64) -> Result<String, String> {
        Ok("value-2".into())
    }

    fn revoke(&self, job: &JobId, id: &str, value: Option<&str>) -> Result<(), String> {
        self.log
            .lock()
            .unwrap()
            .push(format!("revoke {job} {id} {value:?}"));
        Err("upstream down".into())
    }
}

#[test]
fn provisioned_credentials_is_advertised_only_with_a_provisioner() {
    let agents = arcp_agents::contract_agents();
    let has = |o: &ServerOptions| {
        o.runtime_config("t", "0", &agents)
            .features
            .contains(Feature::ProvisionedCredentials)
    };
    assert!(!has(&ServerOptions::default()));
    let demo = ServerOptions {
        demo: true,
        ..ServerOptions::default()
    };
    assert!(has(&demo));
    let configured = ServerOptions {
        provisioner: Some(Arc::new(Flaky::default())),
        ..ServerOptions::default()
    };
    assert!(has(&configured));
    let off = ServerOptions {
        credentials: Some(false),
        ..configured
    };
    assert!(!has(&off));
}

#[test]
fn a_failing_revocation_is_retried_with_backoff_then_listed() {
    let flaky = Flaky::default();
    // Not demo mode: its own tokens, agents and provisioner.
    let mut opts = ServerOptions {
        provisioner: Some(Arc::new(flaky.clone())),
        agents: Some(arcp_agents::contract_agents()),
        ..ServerOptions::default()
    };
    opts.add_tokens([("alice-token", "alice")]);
    let mut r = Rig::new(&mut opts);
    let a = ConnId(1);
    r.open(a);
    r.feed(Input::Frame {
        conn: a,
        bytes: hello_with(
            "01J00000000000000000000001",
            "alice-token",
            &["provisioned_credentials", "model.use"],
        ),
    });
    r.run_auths();
    r.frame(
        a,
        serde_json::json!({"arcp": "1.1", "id": "01J00000000000000000000002", "type": "job.submit",
            "payload": {"agent": "echo", "lease_request": {"model.use": ["tier-fast/*"], "cost.budget": ["USD:0.50"]},
                "lease_constraints": {"expires_at": "2023-11-14T23:00:00Z"}}}),
    );
    let acc = r.frames(a).pop().unwrap();
    assert_eq!(acc["payload"]["credentials"][0]["value"], "value-1");
    let job = acc["job_id"].as_str().unwrap().to_owned();
    r.frame(
        a,
        serde_json::json!({"arcp": "1.1", "id": "01J00000000000000000000003", "type": "job.cancel",
            "job_id": job, "payload": {}}),
    );
    let revoke = format!("revoke {job} cred_1 Some(\"value-1\")");
    let log = |f: &Flaky| f.log.lock().unwrap().clone();
    assert_eq!(
        log(&flaky),
        vec![
            r#"mint alice budget={"USD":"USD:0.50"} expires="2023-11-14T23:00:00Z""#.to_owned(),
            revoke.clone(),
        ]
    );
    // The retries come 1 s, then 2 s after each failure (the host's deadlines, no clock).
    r.advance(999);
    r.tick();
    assert_eq!(log(&flaky).len(), 2);
    r.advance(1);
    r.tick();
    assert_eq!(log(&flaky).len(), 3);
    r.advance(1_999);
    r.tick();
    assert_eq!(log(&flaky).len(), 3);
    r.advance(1);
    r.tick();
    assert_eq!(log(&flaky)[1..], [revoke.clone(), revoke.clone(), revoke]);
    r.advance(60_000);
    r.tick();
    assert_eq!(log(&flaky).len(), 4, "three attempts in all");
    let m = r.h.metrics().get();
    assert_eq!(
        (m.unrevoked, m.unrevoked_dropped),
        (
            vec![UnrevokedCredential::new(
                JobId::from(job.as_str()),
                "cred_1",
                "upstream down"
            )],
            0
        )
    );
}
