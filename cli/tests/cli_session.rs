//! The CLI a person lives in, through the real binary: `arcp serve` refusing to start
//! without authentication, client commands refusing to run without a token, `submit`'s lease
//! and job flags, `--detach` then `cancel` and `tail` through the submitting session (the
//! 0600 state file), `jobs --json`, shell completions, and TLS for newcomers
//! (`--tls-self-signed`, the `CaUsedAsEndEntity` hint).

#[path = "support/serve.rs"]
mod serve;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serve::{ARCP, Served};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `arcp ARGS` with `state` as the state file and `token` (if any) as `ARCP_TOKEN`.
fn run(state: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(ARCP);
    cmd.args(args)
        .env_remove("ARCP_URL")
        .env_remove("ARCP_CA_FILE")
        .env_remove("ARCP_TOKEN")
        .env("ARCP_STATE_FILE", state);
    if let Some(t) = token {
        cmd.env("ARCP_TOKEN", t);
    }
    cmd.output().expect("run arcp")
}

/// A test's state file and runtime.
struct Fixture {
    _dir: tempfile::TempDir,
    state: PathBuf,
    served: Served,
}

impl Fixture {
    fn new(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state").join("sessions.json");
        let served = serve_piped(extra);
        Fixture {
            _dir: dir,
            state,
            served,
        }
    }

    /// `arcp CMD --url URL ARGS…` as alice.
    fn alice(&self, cmd: &str, args: &[&str]) -> Output {
        self.as_token("alice-token", cmd, args)
    }

    fn as_token(&self, token: &str, cmd: &str, args: &[&str]) -> Output {
        let mut all = vec![cmd, "--url", &self.served.url];
        all.extend_from_slice(args);
        run(&self.state, Some(token), &all)
    }

    fn state_json(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(&self.state).expect("state file"))
            .expect("state JSON")
    }
}

/// `arcp serve --demo --port 0 EXTRA…` (killed on drop), with its stderr piped.
fn serve_piped(extra: &[&str]) -> Served {
    Served::start_with(extra, |cmd| {
        cmd.stderr(Stdio::piped());
    })
}

/// The first stderr line of `served` (printed before LISTENING).
fn stderr_line(served: &mut Served) -> String {
    let mut line = String::new();
    BufReader::new(served.child.stderr.take().expect("stderr"))
        .read_line(&mut line)
        .expect("read");
    line
}

const NO_AUTH: &str = "error: no authentication configured: add --token TOKEN=PRINCIPAL or a \
JWT flag (--jwt-secret, --jwt-public-key, --jwks-url), or --demo to try the runtime out with \
the demo agents and tokens\n";

#[test]
fn serve_without_authentication_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    for mode in [&["--port", "0"][..], &["--stdio"][..]] {
        let mut args = vec!["serve"];
        args.extend_from_slice(mode);
        let out = run(&state, None, &args);
        assert_eq!(out.status.code(), Some(2), "{mode:?}");
        assert_eq!(text(&out.stderr), NO_AUTH, "{mode:?}");
        assert_eq!(text(&out.stdout), "", "{mode:?}");
    }
    // A token is enough to start (then no agents are hosted without --demo).
    let out = run(
        &state,
        None,
        &[
            "serve",
            "--port",
            "0",
            "--token",
            "t=p",
            "--exit-after",
            "0.1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("LISTENING ws://127.0.0.1:"));
    assert_eq!(
        text(&out.stderr),
        "note: no agents hosted (the contract agents come with --demo)\n"
    );
}

#[test]
fn serve_warns_on_a_non_loopback_address_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &dir.path().join("s.json"),
        None,
        &[
            "serve",
            "--demo",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--exit-after",
            "0.1",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "warning: serving ws:// on 0.0.0.0 without TLS: tokens and job data cross the network \
in cleartext (add --tls-cert/--tls-key, or --tls-self-signed for development)\n"
    );
}

#[test]
fn client_commands_without_a_token_fail_with_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    let url = "ws://127.0.0.1:9/arcp";
    for args in [
        &["submit", "--url", url, "echo"][..],
        &["jobs", "--url", url][..],
        &["tail", "--url", url, "job_1"][..],
        &["cancel", "--url", url, "job_1"][..],
    ] {
        let out = run(&state, None, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            "error: no token: pass --token TOKEN or set ARCP_TOKEN (a runtime started with \
`arcp serve --demo` accepts alice-token)\n",
            "{args:?}"
        );
    }
    assert!(!state.exists(), "nothing recorded");
}

/// Reads the state file's only session: (session id, jobs).
fn only_session(state: &serde_json::Value) -> (String, Vec<String>) {
    let sessions = state["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{state}");
    let s = &sessions[0];
    let jobs = s["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_str().unwrap().to_owned())
        .collect();
    (s["session_id"].as_str().unwrap().to_owned(), jobs)
}

#[test]
fn submit_detach_then_cancel_through_the_submitting_session() {
    let f = Fixture::new(&[]);
    let out = f.alice(
        "submit",
        &["--detach", "slow", r#"{"seconds": 30, "tick": 0.5}"#],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let job = stdout.trim().to_owned();
    assert_eq!(stdout, format!("{job}\n"));
    assert!(job.starts_with("job_"), "{stdout}");

    // The state file: readable by the user only, the session and its job.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&f.state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let state = f.state_json();
    let (session, jobs) = only_session(&state);
    assert_eq!(jobs, vec![job.clone()]);
    let entry = &state["sessions"][0];
    assert_eq!(entry["url"], f.served.url.as_str());
    assert_eq!(entry["resume_window_sec"], 600);
    let first_token = entry["resume_token"].as_str().unwrap().to_owned();
    assert!(first_token.starts_with("rtk_"), "{entry}");
    assert!(
        !state.to_string().contains("alice-token"),
        "no bearer token"
    );

    // Still running, as `jobs --json` shows, with its latest progress (once the first tick
    // has been reported).
    let listed = (0..100)
        .find_map(|_| {
            let out = f.alice("jobs", &["--json"]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            if listed[0]["progress"].is_null() {
                std::thread::sleep(std::time::Duration::from_millis(100));
                None
            } else {
                Some(listed)
            }
        })
        .expect("a progress event within 100 polls");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 1);
    let row = listed[0].as_object().unwrap();
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "age_sec",
            "agent",
            "job_id",
            "last_event_seq",
            "parent_job_id",
            "progress",
            "status",
            "submitted_at"
        ]
    );
    let progress = &row["progress"];
    assert_eq!(progress["total"], 60, "{progress}");
    assert_eq!(progress["units"], "ticks", "{progress}");
    assert!(
        progress["current"]
            .as_u64()
            .is_some_and(|c| (1..=60).contains(&c))
    );
    assert_eq!(row["job_id"], job.as_str());
    assert_eq!(row["status"], "running");
    assert_eq!(row["agent"], "slow@1.0.0");
    assert_eq!(row["parent_job_id"], serde_json::Value::Null);
    assert!(row["age_sec"].as_u64().is_some_and(|a| a < 600), "{row:?}");

    // Another principal has no record of it: the runtime hides the job (JOB_NOT_FOUND).
    let out = f.as_token("bob-token", "cancel", &[&job]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: JOB_NOT_FOUND: job \"{job}\" not found (this CLI submitted it with another \
token: cancel it with that one)\n"
        )
    );

    // The submitter cancels: the CLI resumes the submitting session (D7).
    let out = f.alice("cancel", &[&job]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("cancel accepted for {job} (session {session})\n")
    );
    // The resume rotated the token; the record stays until the job's end is seen.
    let state = f.state_json();
    assert_eq!(only_session(&state), (session.clone(), vec![job.clone()]));
    assert_ne!(state["sessions"][0]["resume_token"], first_token.as_str());

    // Tail of one's own job resumes the session and sees its end.
    let out = f.alice("tail", &[&job]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some(format!("job {job}, resumed session {session}").as_str())
    );
    assert_eq!(lines.last().copied(), Some("cancelled"), "{stdout}");
    assert_eq!(f.state_json()["sessions"], serde_json::json!([]));

    let out = f.alice("jobs", &["--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(listed[0]["status"], "cancelled");
}

#[test]
fn tail_of_ones_own_job_resumes_with_every_event_once() {
    let f = Fixture::new(&[]);
    let out = f.alice(
        "submit",
        &["--detach", "slow", r#"{"seconds": 1, "tick": 0.25}"#],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let job = text(&out.stdout).trim().to_owned();
    let (session, _) = only_session(&f.state_json());
    let out = f.alice("tail", &[&job]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Not a TTY: plain progress lines. Replayed, then live: each exactly once.
    let expected = [
        format!("job {job}, resumed session {session}"),
        "status  slow.start: sleeping 1s in 4 ticks".to_owned(),
        "[########......................] 1/4 ticks".to_owned(),
        "[###############...............] 2/4 ticks".to_owned(),
        "[#######################.......] 3/4 ticks".to_owned(),
        "[##############################] 4/4 ticks".to_owned(),
        "result: {\"slept\":1,\"ticks\":4}".to_owned(),
    ];
    assert_eq!(text(&out.stdout), expected.join("\n") + "\n");
    assert_eq!(f.state_json()["sessions"], serde_json::json!([]));

    // A session that cannot be resumed: the record goes, tail subscribes instead.
    let out = f.alice("submit", &["--detach", "echo", "7"]);
    let job = text(&out.stdout).trim().to_owned();
    let mut state = f.state_json();
    let session = state["sessions"][0]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    state["sessions"][0]["resume_token"] = "rtk_forged".into();
    std::fs::write(&f.state, state.to_string()).unwrap();
    let out = f.alice("tail", &[&job]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "note: job {job}: the session that submitted it ({session}) cannot be resumed: its \
resume token was refused (PERMISSION_DENIED: invalid resume token); subscribing instead\n"
        )
    );
    assert_eq!(
        text(&out.stdout),
        format!("job {job} (echo@1.0.0), 1 replayed\nresult: 7\n")
    );
    assert_eq!(f.state_json()["sessions"], serde_json::json!([]));
}

#[test]
fn submit_flags_reach_the_job() {
    let f = Fixture::new(&[]);
    // --lease: patterns of one namespace add up; the lease gate decides each op.
    let ops = r#"{"ops": [
        {"capability": "tool.call", "target": "search.web"},
        {"capability": "tool.call", "target": "fetch.one"},
        {"capability": "tool.call", "target": "delete.all"}], "fatal": false}"#;
    let out = f.alice(
        "submit",
        &[
            "--lease",
            "tool.call=search.*",
            "--lease",
            "tool.call=fetch.one",
            "lease-check",
            ops,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .ends_with("result: {\"results\":[\"OK\",\"OK\",\"PERMISSION_DENIED\"]}\n"),
        "{}",
        text(&out.stdout)
    );

    // --budget: USD:1.00 in cost.budget; the fourth 0.40 step is refused.
    let out = f.alice(
        "submit",
        &[
            "--budget",
            "USD:1.00",
            "--lease",
            "tool.call=paid-tool",
            "budget",
            r#"{"cost": "0.40", "steps": 5}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: BUDGET_EXHAUSTED: budget for USD exhausted (remaining=-0.20)\n"
    );

    // --expires-at in the past: refused by the runtime.
    let out = f.alice(
        "submit",
        &["--expires-at", "2020-01-01T00:00:00Z", "echo", "1"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: INVALID_REQUEST: lease_constraints.expires_at 2020-01-01T00:00:00Z is not in the future\n"
    );

    // --expires-in: the lease expires under a job that waits past it.
    let out = f.alice(
        "submit",
        &[
            "--expires-in",
            "1",
            "--lease",
            "tool.call=x",
            "lease-check",
            r#"{"ops": [{"capability": "tool.call", "target": "x", "delay_sec": 1.5}]}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: LEASE_EXPIRED: lease expired while job was running\n"
    );

    // --max-runtime: the job is timed out.
    let out = f.alice(
        "submit",
        &[
            "--max-runtime",
            "1",
            "slow",
            r#"{"seconds": 30, "tick": 10}"#,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("\ntimed out\n"),
        "{}",
        text(&out.stdout)
    );

    // --idempotency-key: the same key and input give the same job.
    let submit = || {
        f.alice(
            "submit",
            &["--detach", "--idempotency-key", "k1", "echo", "[1]"],
        )
    };
    let (a, b) = (submit(), submit());
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(text(&a.stdout), text(&b.stdout));

    // --detach --json: one line.
    let out = f.alice("submit", &["--detach", "--json", "echo", "1"]);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(line["type"], "job.accepted");
    assert_eq!(line["agent"], "echo@1.0.0");
    assert!(line["job_id"].as_str().unwrap().starts_with("job_"));
    assert!(line["session_id"].as_str().unwrap().starts_with("sess_"));

    // Flag values are checked before anything is sent.
    for (args, msg) in [
        (
            &["--lease", "tool.call", "echo"][..],
            "invalid value 'tool.call' for '--lease <NS=PATTERN>': expected NS=PATTERN, e.g. tool.call=search.*, got \"tool.call\"",
        ),
        (
            &["--budget", "5", "echo"][..],
            "invalid value '5' for '--budget <CURRENCY:AMOUNT>': expected CURRENCY:AMOUNT, e.g. USD:5.00, got \"5\"",
        ),
        (
            &["--max-runtime", "0", "echo"][..],
            "invalid value '0' for '--max-runtime <SEC>': 0 is not in 1..=86400",
        ),
    ] {
        let out = f.alice("submit", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            format!("error: {msg} (see `arcp --help`)\n")
        );
    }
}

#[test]
fn completions_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s.json");
    let out = run(&state, None, &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = text(&out.stdout);
    assert!(script.starts_with("_arcp() {\n"), "{script}");
    for word in [
        "submit",
        "cancel",
        "completions",
        "--detach",
        "--tls-self-signed",
    ] {
        assert!(script.contains(word), "{word}");
    }
    let out = run(&state, None, &["completions", "zsh"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("#compdef arcp\n"));
}

#[test]
fn tls_self_signed_and_ca_file_round_trip() {
    let mut f = Fixture::new(&["--tls-self-signed"]);
    assert!(
        f.served.url.starts_with("wss://127.0.0.1:"),
        "{}",
        f.served.url
    );
    let line = stderr_line(&mut f.served);
    let ca = line
        .trim()
        .strip_prefix("TLS development CA written to ")
        .and_then(|rest| rest.split_once(": clients pass --ca-file "))
        .map(|(a, b)| {
            assert_eq!(a, b);
            a.to_owned()
        })
        .unwrap_or_else(|| panic!("{line:?}"));
    let out = f.alice("submit", &["--ca-file", &ca, "echo", "[1]"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("result: [1]\n"));

    let out = f.alice("submit", &["echo", "[1]"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: cannot connect to {}: IO error: invalid peer certificate: UnknownIssuer (the \
runtime's certificate is not signed by a CA this client trusts: pass that CA with --ca-file)\n",
            f.served.url
        )
    );
    // The files go when the server stops (SIGTERM).
    let pid = f.served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    assert_eq!(f.served.child.wait().unwrap().code(), Some(0));
    assert!(!Path::new(&ca).exists(), "{ca}");
}

/// What `openssl req -x509 -newkey … -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1`
/// makes: one self-signed certificate with `CA:TRUE`, served as the server certificate and
/// given to the client as its CA.
#[test]
fn a_ca_used_as_the_server_certificate_gets_a_hint() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let f = Fixture::new(&[
        "--tls-cert",
        cert_pem.to_str().unwrap(),
        "--tls-key",
        key_pem.to_str().unwrap(),
    ]);
    let out = f.alice("jobs", &["--ca-file", cert_pem.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: cannot connect to {}: IO error: invalid peer certificate: \
Other(OtherError(CaUsedAsEndEntity)) (the runtime presents a CA certificate as its own server \
certificate (what a one-line `openssl req -x509` makes), which TLS clients refuse: sign a server \
certificate with a CA, serve that and pass the CA to --ca-file, or use `arcp serve \
--tls-self-signed` for development)\n",
            f.served.url
        )
    );
}
