//! The spec §14 operator signals of `ServerHost` as structured `tracing` events (target
//! `arcp::audit`). Its own test binary: the capturing subscriber must see every callsite
//! first (tracing caches callsite interest per process).

mod support;

use std::sync::Mutex;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Events = Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>;

/// Records every event's target, level and fields.
struct Capture(Events);

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut f = Fields(Vec::new());
        e.record(&mut f);
        self.0.lock().unwrap().push((
            e.metadata().target().to_owned(),
            e.metadata().level().to_string(),
            f.0,
        ));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn subscribe_decisions_are_audit_events_with_their_ids() {
    let events = Events::default();
    tracing::subscriber::with_default(Capture(events.clone()), || {
        let mut opts = ServerOptions {
            demo: true,
            ..ServerOptions::default()
        };
        let mut r = Rig::new(&mut opts);
        let (a, b) = (ConnId(1), ConnId(2));
        r.open(a);
        let sa = r.login(a, "01J00000000000000000000001", "alice-token");
        r.frame(
            a,
            json!({"arcp": "1.1", "id": "01J00000000000000000000002", "type": "job.submit",
                   "session_id": sa, "payload": {"agent": "slow", "input": {}}}),
        );
        let job = r
            .frames(a)
            .iter()
            .find(|f| f["type"] == "job.accepted")
            .and_then(|f| f["job_id"].as_str().map(str::to_owned))
            .unwrap();
        r.open(b);
        r.feed(Input::Frame {
            conn: b,
            bytes: hello_with("01J00000000000000000000003", "bob-token", &["subscribe"]),
        });
        r.run_auths();
        let sb = r.frames(b).last().unwrap()["payload"]["session_id"].clone();
        r.frame(
            b,
            json!({"arcp": "1.1", "id": "01J00000000000000000000004", "type": "job.subscribe",
                   "session_id": sb, "payload": {"job_id": job}}),
        );
        let audit: Vec<_> = events
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _, _)| t == "arcp::audit")
            .cloned()
            .collect();
        let field = |f: &[(String, String)], k: &str| {
            f.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(audit.len(), 1, "{audit:?}");
        let (_, level, f) = &audit[0];
        assert_eq!(level, "INFO");
        assert_eq!(field(f, "message").as_deref(), Some("subscribe decided"));
        assert_eq!(field(f, "session_id"), sb.as_str().map(str::to_owned));
        assert_eq!(field(f, "principal").as_deref(), Some("bob"));
        assert_eq!(field(f, "job_id").as_deref(), Some(job.as_str()));
        assert_eq!(field(f, "target_principal").as_deref(), Some("alice"));
        assert_eq!(field(f, "decision").as_deref(), Some("Denied"));
    });
}
