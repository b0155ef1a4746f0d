//! The scenario context (peer_client.py's `Ctx`): opens clients and raw connections, each
//! with its own tap, and closes them all afterwards; plus the shared scenario helpers.

use crate::api::{
    ClientError, ConnectRequest, Harness, RawLink, Resume, ScenarioClient, SubmitSpec, Target,
};
use crate::check::{Res, Stop, check, eq, short};
use crate::tap::{Tap, payload, ty};
use arcp_proto::wire::JobId;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `client.name` of every hello.
pub const RUNNER_NAME: &str = "arcp-interop-runner";
/// `client.version` of every hello.
pub const RUNNER_VERSION: &str = "1.0.0";

/// The nine v1.1 feature flags.
pub const V1_1_FEATURES: [&str; 9] = [
    "heartbeat",
    "ack",
    "list_jobs",
    "subscribe",
    "lease_expires_at",
    "cost.budget",
    "progress",
    "result_chunk",
    "agent_versions",
];
/// The credential features.
pub const CREDENTIAL_FEATURES: [&str; 2] = ["model.use", "provisioned_credentials"];

/// What the command line chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The runtime under test.
    pub target: Target,
    /// Token of the submitting principal.
    pub alice_token: String,
    /// Token of an unrelated principal.
    pub bob_token: String,
    /// Token of the observer principal.
    pub observer_token: String,
    /// The runtime hosts the agent contract.
    pub agents_from_peer: bool,
    /// The runtime offers credential provisioning.
    pub credentials: bool,
    /// The runtime is peer_runtime.py (skip `KNOWN_PYTHON_DEVIATIONS`).
    pub python_peer: bool,
    /// Per-scenario limit in seconds.
    pub scenario_timeout: f64,
}

/// A client session and its tap.
pub struct Session {
    /// The adapter's client.
    pub client: Arc<dyn ScenarioClient>,
    /// Its frames.
    pub tap: Arc<Tap>,
}

impl Session {
    /// Writes an envelope by hand on the client's transport; returns it.
    pub fn send(&self, type_: &str, payload: Value) -> Res<Value> {
        let env = self.tap.envelope(type_, payload);
        self.client.send_raw(&env.to_string())?;
        Ok(env)
    }
}

/// A bare connection and its tap.
pub struct Raw {
    /// The transport.
    pub link: Arc<dyn RawLink>,
    /// Its frames.
    pub tap: Arc<Tap>,
}

impl Raw {
    /// Writes an envelope; returns it.
    pub fn send(&self, type_: &str, payload: Value) -> Res<Value> {
        let env = self.tap.envelope(type_, payload);
        self.link
            .send_text(&env.to_string())
            .map_err(|e| Stop::fail(format!("TransportClosed: {e}")))?;
        Ok(env)
    }

    /// Aborts the transport and waits (bounded) until it is gone.
    pub fn drop_now(&self) {
        self.link.abort();
        self.tap.wait_closed(3.0);
    }
}

/// One scenario's context.
pub struct Ctx {
    /// The options.
    pub opts: Options,
    harness: Arc<dyn Harness>,
    clients: Mutex<Vec<Arc<dyn ScenarioClient>>>,
    links: Mutex<Vec<Raw>>,
    n: Mutex<usize>,
}

impl Ctx {
    /// A fresh context.
    pub fn new(opts: Options, harness: Arc<dyn Harness>) -> Self {
        Ctx {
            opts,
            harness,
            clients: Mutex::new(Vec::new()),
            links: Mutex::new(Vec::new()),
            n: Mutex::new(0),
        }
    }

    fn next_label(&self) -> String {
        let mut n = self.n.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        format!("s{n}")
    }

    /// Several concurrent sessions on one runtime (WebSocket only).
    pub fn multi_session(&self) -> bool {
        matches!(self.opts.target, Target::WebSocket(_))
    }

    /// Skips unless [`Ctx::multi_session`].
    pub fn require_multi_session(&self) -> Res {
        if self.multi_session() {
            Ok(())
        } else {
            Err(Stop::Skip(
                "needs several concurrent sessions on one runtime; stdio carries one session per process".into(),
            ))
        }
    }

    /// The features every session requests.
    pub fn features(&self) -> Vec<&'static str> {
        let mut f = V1_1_FEATURES.to_vec();
        if self.opts.credentials {
            f.extend(CREDENTIAL_FEATURES);
        }
        f
    }

    fn request(
        &self,
        token: &str,
        features: Option<&[&str]>,
        resume: Option<Resume>,
    ) -> ConnectRequest {
        let features = features.map_or_else(|| self.features(), <[&str]>::to_vec);
        ConnectRequest {
            target: self.opts.target.clone(),
            token: token.to_owned(),
            features: features.into_iter().map(str::to_owned).collect(),
            client_name: RUNNER_NAME.into(),
            client_version: RUNNER_VERSION.into(),
            resume,
            timeout: Duration::from_secs(8),
        }
    }

    /// Opens a client session (hello/welcome through the client API); alice by default.
    pub fn client(&self, token: Option<&str>, features: Option<&[&str]>) -> Res<Session> {
        let token = token.unwrap_or(&self.opts.alice_token).to_owned();
        self.connect(&self.request(&token, features, None))
    }

    /// Connects with `req`, returning the client error as is.
    pub fn try_connect(&self, req: &ConnectRequest) -> Result<Session, ClientError> {
        let tap = Tap::new(self.next_label());
        let client: Arc<dyn ScenarioClient> =
            Arc::from(self.harness.connect(req, Arc::clone(&tap))?);
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&client));
        Ok(Session { client, tap })
    }

    fn connect(&self, req: &ConnectRequest) -> Res<Session> {
        Ok(self.try_connect(req)?)
    }

    /// A connect request for `token` (for scenarios expecting the handshake to fail).
    pub fn connect_request(&self, token: &str) -> ConnectRequest {
        self.request(token, None, None)
    }

    /// Resumes with the client, retrying (bounded) while the runtime has not yet noticed the
    /// previous transport loss.
    pub fn resume(
        &self,
        token: &str,
        session_id: &str,
        resume_token: &str,
        last: u64,
    ) -> Res<Session> {
        let mut last_err = String::new();
        for _ in 0..15 {
            let resume = Resume {
                session_id: session_id.into(),
                resume_token: resume_token.to_owned(),
                last_event_seq: last,
            };
            match self.try_connect(&self.request(token, None, Some(resume))) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    last_err = e.to_string();
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(Stop::fail(format!("resume did not succeed: {last_err}")))
    }

    /// Opens a bare connection.
    pub fn open_raw(&self, auto_pong: bool) -> Res<Raw> {
        let tap = Tap::new(self.next_label());
        let link = self
            .harness
            .open_raw(&self.opts.target, Arc::clone(&tap))
            .map_err(|e| Stop::fail(format!("cannot open a connection: {e}")))?;
        if auto_pong {
            tap.auto_pong(Arc::clone(&link));
        }
        self.links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Raw {
                link: Arc::clone(&link),
                tap: Arc::clone(&tap),
            });
        Ok(Raw { link, tap })
    }

    /// Opens a bare connection and sends `session.hello` by hand; returns the first inbound
    /// frame (the welcome, or a `session.error`).
    pub fn raw(
        &self,
        token: Option<&str>,
        features: Option<&[&str]>,
        resume: Option<Value>,
        expect_welcome: bool,
    ) -> Res<(Raw, Value)> {
        let raw = self.open_raw(true)?;
        let features = features.map_or_else(|| self.features(), <[&str]>::to_vec);
        let mut p = json!({
            "client": {"name": RUNNER_NAME, "version": RUNNER_VERSION},
            "auth": {"scheme": "bearer", "token": token.unwrap_or(&self.opts.alice_token)},
            "capabilities": {"encodings": ["json"], "features": features},
        });
        if let Some(r) = resume {
            p["resume"] = r;
        }
        raw.send("session.hello", p)?;
        let first = raw
            .tap
            .wait_for(|_| true, 5.0, "reply to session.hello", 0)?;
        if expect_welcome {
            eq(
                &first["type"],
                &json!("session.welcome"),
                "reply to session.hello",
            )?;
        }
        Ok((raw, first))
    }

    /// Closes every client and connection of the scenario.
    pub fn cleanup(&self) {
        let clients: Vec<_> = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for c in clients {
            let _ = c.close();
        }
        let links: Vec<_> = self
            .links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for r in links {
            if !r.tap.is_closed() {
                r.link.close();
                r.tap.wait_closed(3.0);
            }
        }
    }
}

/// Submits and waits for the terminal frame; returns the job id and the terminal.
pub fn submit_and_wait(s: &Session, spec: SubmitSpec, timeout: f64) -> Res<(JobId, Value)> {
    let job = s.client.submit(&spec)?;
    let term = s.tap.wait_terminal(&job, timeout)?;
    Ok((job, term))
}

/// The `job.accepted` answering the submit with envelope id `submit_id`.
pub fn accepted_frame(tap: &Tap, submit_id: &Value) -> Res<Value> {
    let fr =
        tap.frames(|f| ty(f) == "job.accepted" && payload(f).get("request_id") == Some(submit_id));
    fr.last().cloned().ok_or_else(|| {
        Stop::fail(format!(
            "no job.accepted carrying request_id={}",
            short(submit_id)
        ))
    })
}

/// The `job.accepted` of the last submit sent on `tap`.
pub fn last_accepted(tap: &Tap) -> Res<Value> {
    let id = tap.last_sent("job.submit")?["id"].clone();
    accepted_frame(tap, &id)
}

/// Submits expecting a `session.error` with `code`; returns the error frame.
pub fn expect_submit_error(s: &Session, code: &str, spec: SubmitSpec) -> Res<Value> {
    let start = s.tap.len();
    match s.client.submit(&spec) {
        Err(e) => eq(
            &json!(e.code()),
            &json!(code),
            &format!("error code raised by the client for {}", spec.agent),
        )?,
        Ok(_) => {
            return Err(Stop::fail(format!(
                "submit of {:?} was accepted; expected {code}",
                spec.agent
            )));
        }
    }
    let err = s.tap.wait_error(3.0, start)?;
    let p = payload(&err);
    eq(&p["code"], &json!(code), "session.error code")?;
    check(
        p["message"].is_string(),
        "session.error message must be a string",
    )?;
    eq(&p["retryable"], &json!(false), &format!("{code} retryable"))?;
    let sid = s.tap.last_sent("job.submit")?["id"].clone();
    check(
        s.tap
            .frames(|f| ty(f) == "job.accepted" && payload(f).get("request_id") == Some(&sid))
            .is_empty(),
        format!("{code}: a job.accepted was sent for the rejected submit"),
    )?;
    Ok(err)
}

/// `event_seq` values are `first, first+1, …`.
pub fn assert_gap_free(frames: &[Value], what: &str, first: u64) -> Res {
    let seqs: Vec<Value> = frames
        .iter()
        .map(|f| f.get("event_seq").cloned().unwrap_or(Value::Null))
        .collect();
    let want: Vec<Value> = (first..first + frames.len() as u64)
        .map(|n| json!(n))
        .collect();
    eq(
        &Value::Array(seqs),
        &Value::Array(want),
        &format!("{what} event_seq values"),
    )
}

/// `[type, job_id, payload]` of each frame.
pub fn payload_view(frames: &[Value]) -> Value {
    Value::Array(
        frames
            .iter()
            .map(|f| {
                json!([
                    f.get("type").cloned().unwrap_or(Value::Null),
                    f.get("job_id").cloned().unwrap_or(Value::Null),
                    f.get("payload").cloned().unwrap_or(Value::Null)
                ])
            })
            .collect(),
    )
}
