//! The cluster operations on a store that is not clustered: refused, nothing written.

use super::{idem, job, session};
use crate::cluster::ForwardedFrame;
use crate::{Store, StoreError, StoreOp};

/// A store without a node id (not clustered) refuses `Forward`, `ForwardCancel` and
/// `ConsumeFeed` with [`StoreError::Unsupported`] naming the operation, rolling back the
/// batch; `claim_session` is refused the same way and `node_jobs` lists every job. A
/// clustered store (with a node id) is not checked here: its own tests cover it.
pub fn cluster_ops_need_a_clustered_store(s: &mut dyn Store) {
    if s.node_id().is_some() {
        return;
    }
    let refused = [
        StoreOp::Forward(vec![ForwardedFrame {
            session_id: "s1".into(),
            job_id: "j1".into(),
            frame: br#"{"type":"job.result"}"#.to_vec(),
        }]),
        StoreOp::ForwardCancel {
            job_id: "j1".into(),
        },
        StoreOp::ConsumeFeed(vec![1, 2]),
    ];
    for (op, name) in refused
        .into_iter()
        .zip(["Forward", "ForwardCancel", "ConsumeFeed"])
    {
        assert_eq!(op.cluster_only(), Some(name));
        let err = s
            .apply(&[StoreOp::PutSession(session("s1", 0, None)), op])
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Unsupported { operation } if operation == name),
            "{err:?}"
        );
        assert_eq!(err.to_string(), format!("{name} needs a clustered store"));
        assert_eq!(s.sessions().unwrap(), vec![]);
    }
    let err = s.claim_session("s1").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unsupported {
                operation: "claim_session"
            }
        ),
        "{err:?}"
    );
    s.apply(&[
        StoreOp::PutJob(job("j2", "s1", 2, false)),
        StoreOp::PutJob(job("j1", "s1", 1, true)),
    ])
    .unwrap();
    assert_eq!(s.node_jobs().unwrap(), s.jobs().unwrap());
    assert_eq!(
        s.node_jobs().unwrap(),
        vec![job("j1", "s1", 1, true), job("j2", "s1", 2, false)]
    );
}

/// A store without a node id (not clustered) refuses `admit_job` (with or without an
/// idempotency entry) and `admit_session` with [`StoreError::Unsupported`] naming the call,
/// writing nothing. A clustered store is not checked here: its own tests cover it.
pub fn admission_needs_a_clustered_store(s: &mut dyn Store) {
    if s.node_id().is_some() {
        return;
    }
    let key = idem("alice", "k1", i64::MAX);
    for idempotency in [None, Some(&key)] {
        let err = s
            .admit_job("alice", "s1", "job_k1", 10, idempotency)
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Unsupported {
                    operation: "admit_job"
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "admit_job needs a clustered store");
    }
    let err = s.admit_session("alice", "s1", 10).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Unsupported {
                operation: "admit_session"
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "admit_session needs a clustered store");
    assert_eq!(s.jobs().unwrap(), vec![]);
    assert_eq!(s.idempotency_records().unwrap(), vec![]);
    assert_eq!(s.sessions().unwrap(), vec![]);
}
