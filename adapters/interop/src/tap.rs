//! The frame tap: every frame of one connection, both directions, parsed, with bounded
//! waits (the `Conn` of peer_client.py).

use crate::api::RawLink;
use crate::check::{Stop, new_ulid, now_z};
use serde_json::{Value, json};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Frame types that carry a session `event_seq`.
pub const SEQ_TYPES: [&str; 3] = ["job.event", "job.result", "job.error"];
/// Terminal frame types.
pub const TERMINAL_TYPES: [&str; 2] = ["job.result", "job.error"];
/// Frames a tap keeps per direction (far above any scenario's needs). Past it the tap
/// records the overflow and every wait fails, instead of growing without bound.
pub const MAX_TAP_FRAMES: usize = 100_000;

#[derive(Default)]
struct State {
    inbound: Vec<Value>,
    outbound: Vec<Value>,
    closed: bool,
    overflow: bool,
    close_info: Option<String>,
    session_id: Option<String>,
}

/// One connection's frames. Adapters feed it ([`Tap::c2r`], [`Tap::r2c`], [`Tap::closed`]);
/// scenarios query and wait on it.
pub struct Tap {
    label: String,
    state: Mutex<State>,
    changed: Condvar,
    pong: Mutex<Option<Arc<dyn RawLink>>>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap").field("label", &self.label).finish()
    }
}

fn parse(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "__unparsed__": text }),
    }
}

/// `frame["type"]` as a str ("" when absent).
pub fn ty(f: &Value) -> &str {
    f.get("type").and_then(Value::as_str).unwrap_or("")
}

/// `frame["job_id"]` as a str ("" when absent).
pub fn job_of(f: &Value) -> &str {
    f.get("job_id").and_then(Value::as_str).unwrap_or("")
}

/// `frame["payload"]` (null when absent).
pub fn payload(f: &Value) -> &Value {
    f.get("payload").unwrap_or(&Value::Null)
}

impl Tap {
    /// An empty tap for the connection named `label` (`s1`, `s2`, …).
    pub fn new(label: impl Into<String>) -> Arc<Self> {
        Arc::new(Tap {
            label: label.into(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            pong: Mutex::new(None),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The connection's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Answer every `session.ping` on this connection through `link` (raw connections).
    pub fn auto_pong(&self, link: Arc<dyn RawLink>) {
        if let Ok(mut g) = self.pong.lock() {
            *g = Some(link);
        }
    }

    /// A frame the client wrote.
    pub fn c2r(&self, text: &str) {
        {
            let mut s = self.lock();
            if s.outbound.len() >= MAX_TAP_FRAMES {
                s.overflow = true;
            } else {
                s.outbound.push(parse(text));
            }
        }
        self.changed.notify_all();
    }

    /// A frame the client read.
    pub fn r2c(&self, text: &str) {
        let frame = parse(text);
        let ping_nonce = (ty(&frame) == "session.ping")
            .then(|| payload(&frame).get("nonce").cloned().unwrap_or(Value::Null));
        {
            let mut s = self.lock();
            if ty(&frame) == "session.welcome"
                && let Some(sid) = frame.get("session_id").and_then(Value::as_str)
            {
                s.session_id = Some(sid.to_owned());
            }
            if s.inbound.len() >= MAX_TAP_FRAMES {
                s.overflow = true;
            } else {
                s.inbound.push(frame);
            }
        }
        self.changed.notify_all();
        if let Some(nonce) = ping_nonce {
            let link = self.pong.lock().ok().and_then(|g| g.clone());
            if let Some(link) = link {
                let pong = self.envelope(
                    "session.pong",
                    json!({"ping_nonce": nonce, "received_at": now_z(0.0, true)}),
                );
                let _ = link.send_text(&pong.to_string());
            }
        }
    }

    /// The transport ended (`info`: why, for diagnostics).
    pub fn closed(&self, info: &str) {
        {
            let mut s = self.lock();
            if !s.closed {
                s.closed = true;
                s.close_info = Some(info.to_owned());
            }
        }
        self.changed.notify_all();
    }

    /// Builds an envelope of `type_` with a fresh id and this connection's session id.
    pub fn envelope(&self, type_: &str, payload: Value) -> Value {
        let mut env = json!({"arcp": "1.1", "id": new_ulid(), "type": type_});
        if type_ != "session.hello"
            && let Some(sid) = self.session_id()
        {
            env["session_id"] = Value::String(sid);
        }
        env["payload"] = payload;
        env
    }

    /// The session id learned from `session.welcome`.
    pub fn session_id(&self) -> Option<String> {
        self.lock().session_id.clone()
    }

    /// Whether the transport ended.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Number of inbound frames so far.
    pub fn len(&self) -> usize {
        self.lock().inbound.len()
    }

    /// Whether no frame arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inbound frame `i`.
    pub fn inbound_at(&self, i: usize) -> Option<Value> {
        self.lock().inbound.get(i).cloned()
    }

    /// Inbound frames from index `start` on.
    pub fn inbound_from(&self, start: usize) -> Vec<Value> {
        self.lock().inbound.iter().skip(start).cloned().collect()
    }

    /// All outbound frames.
    pub fn outbound(&self) -> Vec<Value> {
        self.lock().outbound.clone()
    }

    /// Inbound frames matching `pred`.
    pub fn frames(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.lock()
            .inbound
            .iter()
            .filter(|f| pred(f))
            .cloned()
            .collect()
    }

    /// Inbound seq-bearing frames.
    pub fn seq_frames(&self) -> Vec<Value> {
        self.frames(|f| SEQ_TYPES.contains(&ty(f)))
    }

    /// Inbound seq-bearing frames of `job_id`.
    pub fn job_frames(&self, job_id: &str) -> Vec<Value> {
        self.frames(|f| SEQ_TYPES.contains(&ty(f)) && job_of(f) == job_id)
    }

    /// Inbound `job.event`s of `job_id`, of `kind` when given.
    pub fn job_events(&self, job_id: &str, kind: Option<&str>) -> Vec<Value> {
        self.frames(|f| {
            ty(f) == "job.event"
                && job_of(f) == job_id
                && kind.is_none_or(|k| payload(f).get("kind").and_then(Value::as_str) == Some(k))
        })
    }

    /// The last outbound frame of `type_`.
    pub fn last_sent(&self, type_: &str) -> Result<Value, Stop> {
        self.lock()
            .outbound
            .iter()
            .rev()
            .find(|f| ty(f) == type_)
            .cloned()
            .ok_or_else(|| Stop::fail(format!("[{}] no {type_} was sent", self.label)))
    }

    /// Waits (bounded) for the first inbound frame at index ≥ `start` matching `pred`.
    pub fn wait_for(
        &self,
        pred: impl Fn(&Value) -> bool,
        timeout: f64,
        desc: &str,
        start: usize,
    ) -> Result<Value, Stop> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let mut idx = start;
        let mut s = self.lock();
        loop {
            while idx < s.inbound.len() {
                let f = &s.inbound[idx];
                idx += 1;
                if pred(f) {
                    return Ok(f.clone());
                }
            }
            if s.overflow {
                return Err(Stop::fail(format!(
                    "[{}] more than {MAX_TAP_FRAMES} frames while waiting for {desc}",
                    self.label
                )));
            }
            if s.closed {
                return Err(Stop::fail(format!(
                    "[{}] connection closed while waiting for {desc}",
                    self.label
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Stop::fail(format!(
                    "[{}] timed out after {}s waiting for {desc}",
                    self.label,
                    crate::check::fmt_g(timeout)
                )));
            }
            s = match self.changed.wait_timeout(s, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Waits (bounded) until `pred` holds over the whole tap (re-checked on every change).
    pub fn wait_until(
        &self,
        pred: impl Fn(&Tap) -> bool,
        timeout: f64,
        desc: &str,
    ) -> Result<(), Stop> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        loop {
            if pred(self) {
                return Ok(());
            }
            let s = self.lock();
            if s.closed {
                return Err(Stop::fail(format!(
                    "[{}] connection closed while waiting for {desc}",
                    self.label
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Stop::fail(format!(
                    "[{}] timed out after {}s waiting for {desc}",
                    self.label,
                    crate::check::fmt_g(timeout)
                )));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            drop(self.changed.wait_timeout(s, wait));
        }
    }

    /// Waits (bounded) for the transport to end; returns whether it did.
    pub fn wait_closed(&self, timeout: f64) -> bool {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout.max(0.0));
        let mut s = self.lock();
        loop {
            if s.closed {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = match self.changed.wait_timeout(s, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Waits for the terminal frame of `job_id`.
    pub fn wait_terminal(&self, job_id: &str, timeout: f64) -> Result<Value, Stop> {
        self.wait_for(
            |f| TERMINAL_TYPES.contains(&ty(f)) && job_of(f) == job_id,
            timeout,
            &format!("terminal frame for {job_id}"),
            0,
        )
    }

    /// Waits for a `session.error` at index ≥ `start`.
    pub fn wait_error(&self, timeout: f64, start: usize) -> Result<Value, Stop> {
        self.wait_for(
            |f| ty(f) == "session.error",
            timeout,
            "session.error",
            start,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    struct Recorder(StdMutex<Vec<String>>);

    impl RawLink for Recorder {
        fn send_text(&self, text: &str) -> Result<(), String> {
            self.0.lock().unwrap().push(text.to_owned());
            Ok(())
        }
        fn close(&self) {}
        fn abort(&self) {}
    }

    #[test]
    fn waits_see_frames_learn_the_session_and_time_out() {
        let tap = Tap::new("s1");
        tap.r2c(r#"{"type":"session.welcome","session_id":"sess_1","payload":{}}"#);
        tap.r2c("not json");
        assert_eq!(tap.session_id().as_deref(), Some("sess_1"));
        assert_eq!(
            tap.inbound_at(1).unwrap(),
            json!({"__unparsed__": "not json"})
        );
        let f = tap
            .wait_for(|f| ty(f) == "session.welcome", 0.1, "welcome", 0)
            .unwrap();
        assert_eq!(f["session_id"], "sess_1");
        assert_eq!(
            tap.wait_for(|f| ty(f) == "session.welcome", 0.05, "welcome", 1)
                .unwrap_err(),
            Stop::fail("[s1] timed out after 0.05s waiting for welcome")
        );
        let env = tap.envelope("session.ack", json!({"last_processed_seq": 1}));
        assert_eq!(env["session_id"], "sess_1");
        assert_eq!(env["arcp"], "1.1");
        tap.closed("eof");
        assert!(tap.wait_closed(0.0));
        assert_eq!(
            tap.wait_for(|_| false, 1.0, "anything", 0).unwrap_err(),
            Stop::fail("[s1] connection closed while waiting for anything")
        );
    }

    #[test]
    fn raw_connections_answer_pings_with_the_nonce() {
        let tap = Tap::new("s2");
        let link = Arc::new(Recorder(StdMutex::new(Vec::new())));
        tap.auto_pong(link.clone());
        tap.r2c(
            r#"{"type":"session.ping","payload":{"nonce":"n1","sent_at":"2026-01-01T00:00:00Z"}}"#,
        );
        let sent = link.0.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        let pong: Value = serde_json::from_str(&sent[0]).unwrap();
        assert_eq!(pong["type"], "session.pong");
        assert_eq!(pong["payload"]["ping_nonce"], "n1");
    }

    #[test]
    fn the_tap_is_bounded() {
        let tap = Tap::new("s3");
        for _ in 0..MAX_TAP_FRAMES + 1 {
            tap.r2c("{}");
        }
        assert_eq!(tap.len(), MAX_TAP_FRAMES);
        assert_eq!(
            tap.wait_for(|_| false, 1.0, "x", 0).unwrap_err(),
            Stop::fail(format!(
                "[s3] more than {MAX_TAP_FRAMES} frames while waiting for x"
            ))
        );
    }
}
