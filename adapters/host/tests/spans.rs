//! Tracing spans of `ServerHost`: its own test binary, so no other test thread touches the
//! span callsites while the capturing subscriber is installed (tracing caches callsite interest
//! per process; a concurrent first use from a thread without the subscriber raced it).

mod support;

use support::*;
/// A minimal subscriber recording every span's name and fields.
mod capture {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    pub type Spans = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

    pub struct Capture(pub Spans);

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
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let mut f = Fields(Vec::new());
            span.record(&mut f);
            let mut g = self.0.lock().unwrap();
            g.push((span.metadata().name().to_owned(), f.0));
            Id::from_u64(g.len() as u64)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
}

#[test]
fn sessions_and_effects_get_spans_with_their_ids() {
    let spans = capture::Spans::default();
    let sub = capture::Capture(spans.clone());
    tracing::subscriber::with_default(sub, || {
        let mut r = Rig::new(&mut demo_opts());
        let a = ConnId(3);
        r.open(a);
        let sid = r.login(a, "01J00000000000000000000006", "alice-token");
        r.frame(
            a,
            json!({"arcp": "1.1", "id": "01J00000000000000000000007",
                "type": "job.submit", "session_id": sid,
                "payload": {"agent": "echo", "input": {"x": 1}}}),
        );
        let jobs: Vec<String> = r
            .did
            .iter()
            .filter_map(|d| match d {
                Did::Spawned(j) => Some(j.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(jobs.len(), 1);
        let job = jobs[0].clone();
        let got = spans.lock().unwrap().clone();
        let has = |name: &str, want: &[(&str, &str)]| {
            got.iter().any(|(n, f)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| f.iter().any(|(fk, fv)| fk == k && fv == v))
            })
        };
        let sid = sid.as_str().unwrap();
        assert!(
            has(
                "arcp.session",
                &[("session_id", sid), ("principal", "alice")]
            ),
            "{got:?}"
        );
        assert!(
            has("arcp.effect", &[("effect", "authenticate"), ("conn", "3")]),
            "{got:?}"
        );
        assert!(
            has(
                "arcp.effect",
                &[
                    ("effect", "start_agent"),
                    ("job_id", &job),
                    ("principal", "alice")
                ]
            ),
            "{got:?}"
        );
    });
}
