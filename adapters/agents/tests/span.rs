//! The `arcp.job` span of `run_job`: a test subscriber sees the job's fields, and a delegated
//! child's span carries its parent's trace id (spec §11).

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::Harness;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

type Fields = BTreeMap<String, String>;

/// Every span's name and fields (as recorded so far), in creation order.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(u64, String, Fields)>>>);

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Fields::new();
        attrs.record(&mut Visitor(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().push((id.into_u64(), name, fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, _, fields)) = spans.iter_mut().rev().find(|(i, ..)| *i == id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }
}

fn job_spans(capture: &Capture) -> Vec<Fields> {
    capture
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, name, _)| name == arcp_agents::JOB_SPAN)
        .map(|(_, _, f)| f.clone())
        .collect()
}

fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn a_job_and_its_child_carry_the_trace_id_on_their_spans() {
    let capture = Capture::default();
    let subscriber = Registry::default().with(capture.clone());
    let (parent, child, session) = tracing::subscriber::with_default(subscriber, || {
        let mut h = Harness::contract();
        let c = h.connect(1, "alice-token");
        h.send(
            c,
            &json!({"arcp": "1.1", "id": "r1", "type": "job.submit", "trace_id": TRACE,
                "payload": {"agent": "delegator",
                    "input": {"agent": "echo", "input": 1, "lease": {}},
                    "lease_request": {"agent.delegate": ["echo"], "cost.budget": ["USD:1.00", "USD:0.25"]},
                    "lease_constraints": {"expires_at": "2026-11-24T02:30:25Z"}}}),
        );
        let frames = h.peek(c);
        let accepted = frames
            .iter()
            .find(|f| f["type"] == "job.accepted")
            .expect("accepted");
        let parent = accepted["job_id"].as_str().unwrap().to_owned();
        let session = accepted["session_id"].as_str().unwrap().to_owned();
        let delegate = frames
            .iter()
            .find(|f| f["payload"]["kind"] == "delegate")
            .expect("delegate event");
        let child = delegate["payload"]["body"]["child_job_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let last: &Value = frames.last().unwrap();
        assert_eq!(last["type"], "job.result", "{frames:?}");
        (parent, child, session)
    });
    assert_eq!(
        job_spans(&capture),
        vec![
            fields(&[
                ("job_id", &parent),
                ("session_id", &session),
                ("principal", "alice"),
                ("agent", "delegator@1.0.0"),
                ("trace_id", TRACE),
                ("arcp.lease.expires_at", "2026-11-24T02:30:25Z"),
                ("arcp.budget.remaining", "USD:1.25"),
            ]),
            fields(&[
                ("job_id", &child),
                ("session_id", &session),
                ("principal", "alice"),
                ("agent", "echo@1.0.0"),
                ("parent_job_id", &parent),
                ("trace_id", TRACE),
            ]),
        ]
    );
}

#[test]
fn a_job_without_a_trace_id_has_no_trace_field() {
    let capture = Capture::default();
    let subscriber = Registry::default().with(capture.clone());
    let job = tracing::subscriber::with_default(subscriber, || {
        let mut h = Harness::contract();
        let c = h.connect(1, "bob-token");
        h.submit(c, "r1", json!({"agent": "echo", "input": 1}))
            .unwrap()
    });
    let spans = job_spans(&capture);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["job_id"], job);
    assert_eq!(spans[0]["principal"], "bob");
    assert_eq!(spans[0].get("trace_id"), None);
    assert_eq!(spans[0].get("arcp.budget.remaining"), None);
}

#[test]
fn the_budget_field_ends_with_the_remaining_counters() {
    let capture = Capture::default();
    let subscriber = Registry::default().with(capture.clone());
    tracing::subscriber::with_default(subscriber, || {
        let mut h = Harness::contract();
        let c = h.connect(1, "alice-token");
        let job = h
            .submit(
                c,
                "r1",
                json!({"agent": "budget", "input": {"cost": "0.40", "steps": 2},
                    "lease_request": {"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]}}),
            )
            .unwrap();
        let f = h.job_frames(c, &job);
        assert_eq!(f.last().unwrap()["type"], "job.result", "{f:?}");
    });
    let spans = job_spans(&capture);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0]["arcp.budget.remaining"], "USD:0.20");
}
