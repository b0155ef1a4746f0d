//! Property test: random sequences of event-log operations against an in-memory model.
//!
//! The model is a `BTreeMap<(session, seq), event>`. Every operation is run on both; a failing
//! append must leave the store exactly as the model (unchanged), and every read must agree.

use std::collections::BTreeMap;

use arcp_sqlite::{SqliteStore, StoreError, StoreOp, StoredEvent};
use proptest::prelude::*;

const SESSIONS: [&str; 3] = ["s1", "s2", "s3"];

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<(usize, u64, bool)>),
    Prune(usize, u64),
    Delete(usize),
    Read(usize, u64, usize),
    Batch(Vec<(usize, u64, bool)>, usize, u64),
}

fn events_strategy() -> impl Strategy<Value = Vec<(usize, u64, bool)>> {
    prop::collection::vec((0..SESSIONS.len(), 1..20_u64, any::<bool>()), 0..6)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => events_strategy().prop_map(Op::Append),
        2 => (0..SESSIONS.len(), 0..22_u64).prop_map(|(s, n)| Op::Prune(s, n)),
        1 => (0..SESSIONS.len()).prop_map(Op::Delete),
        3 => (0..SESSIONS.len(), 0..22_u64, 0..8_usize).prop_map(|(s, a, l)| Op::Read(s, a, l)),
        2 => (events_strategy(), 0..SESSIONS.len(), 0..22_u64)
            .prop_map(|(e, s, n)| Op::Batch(e, s, n)),
    ]
}

fn to_events(spec: &[(usize, u64, bool)]) -> Vec<StoredEvent> {
    spec.iter()
        .map(|&(s, seq, with_job)| StoredEvent {
            session_id: SESSIONS[s].to_owned(),
            event_seq: seq,
            job_id: with_job.then(|| format!("job-{seq}")),
            frame: format!("{s}:{seq}:{with_job}").into_bytes(),
        })
        .collect()
}

type Model = BTreeMap<(String, u64), StoredEvent>;

/// Applies an append to the model if it would succeed; returns whether it did.
fn model_append(model: &mut Model, events: &[StoredEvent]) -> bool {
    let mut next = model.clone();
    for e in events {
        if next
            .insert((e.session_id.clone(), e.event_seq), e.clone())
            .is_some()
        {
            return false;
        }
    }
    *model = next;
    true
}

fn model_prune(model: &mut Model, session: &str, up_to: u64) -> usize {
    let before = model.len();
    model.retain(|(s, seq), _| !(s == session && *seq <= up_to));
    before - model.len()
}

fn model_read(model: &Model, session: &str, after: u64, limit: usize) -> Vec<StoredEvent> {
    model
        .iter()
        .filter(|((s, seq), _)| s == session && *seq > after)
        .map(|(_, e)| e.clone())
        .take(limit)
        .collect()
}

proptest! {
    #[test]
    fn event_log_matches_model(ops in prop::collection::vec(op_strategy(), 1..40)) {
        let mut store = SqliteStore::open_in_memory().unwrap();
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Append(spec) => {
                    let events = to_events(&spec);
                    let ok = model_append(&mut model, &events);
                    match store.append_events(&events) {
                        Ok(()) => prop_assert!(ok),
                        Err(StoreError::DuplicateEvent { .. }) => prop_assert!(!ok),
                        Err(other) => prop_assert!(false, "unexpected {other:?}"),
                    }
                }
                Op::Prune(s, n) => {
                    let expected = model_prune(&mut model, SESSIONS[s], n);
                    prop_assert_eq!(store.prune_acked(SESSIONS[s], n).unwrap(), expected);
                }
                Op::Delete(s) => {
                    model_prune(&mut model, SESSIONS[s], u64::MAX);
                    store.delete_session(SESSIONS[s]).unwrap();
                }
                Op::Read(s, after, limit) => {
                    prop_assert_eq!(
                        store.read_events(SESSIONS[s], after, limit).unwrap(),
                        model_read(&model, SESSIONS[s], after, limit)
                    );
                }
                Op::Batch(spec, s, n) => {
                    // Append then prune in one transaction: both or neither.
                    let events = to_events(&spec);
                    let mut next = model.clone();
                    let ok = model_append(&mut next, &events);
                    if ok {
                        model_prune(&mut next, SESSIONS[s], n);
                        model = next;
                    }
                    let result = store.apply(&[
                        StoreOp::AppendEvents(events),
                        StoreOp::PruneAcked { session_id: SESSIONS[s].to_owned(), up_to_seq: n },
                    ]);
                    prop_assert_eq!(result.is_ok(), ok);
                }
            }
            for session in SESSIONS {
                prop_assert_eq!(
                    store.read_events(session, 0, usize::MAX).unwrap(),
                    model_read(&model, session, 0, usize::MAX)
                );
                let last = model
                    .keys()
                    .filter(|(s, _)| s == session)
                    .map(|(_, seq)| *seq)
                    .max();
                prop_assert_eq!(store.last_event_seq(session).unwrap(), last);
            }
        }
    }
}
