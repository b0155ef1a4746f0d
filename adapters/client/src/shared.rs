//! [`Shared`]: the session snapshot the driver's task publishes and the application's
//! getters and handles read (one lock, held only to copy).

use crate::route::BoundedSender;
use crate::{ClientDriver, JobSink, Snapshot, StreamItem};
use arcp_proto::client::{ClientState, ResumeState, SeqSpace};
use arcp_proto::wire::FeatureSet;
use std::sync::Mutex;

/// What the application sees of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The driver's snapshot.
    pub snapshot: Snapshot,
    /// The highest session `event_seq` the application consumed (from an event stream,
    /// `done`, or the unrouted stream), the Python SDK's `latest_event_seq`.
    pub consumed_seq: u64,
}

/// The snapshot shared between the driver's task and the application.
#[derive(Debug)]
pub struct Shared {
    view: Mutex<View>,
}

impl Shared {
    /// Before the first welcome; `consumed_seq` is the resumed state's `last_event_seq`.
    pub fn new(consumed_seq: u64) -> Self {
        Shared {
            view: Mutex::new(View {
                snapshot: Snapshot {
                    state: ClientState::Disconnected,
                    session_id: None,
                    resume_token: None,
                    features: FeatureSet::empty(),
                    received_seq: consumed_seq,
                    welcomes: 0,
                },
                consumed_seq,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut View) -> R) -> R {
        let mut g = self
            .view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// Copies the driver's state (after each drain).
    pub fn publish<J: JobSink, U: BoundedSender<StreamItem>>(&self, driver: &ClientDriver<J, U>) {
        let snap = driver.snapshot();
        self.with(|v| v.snapshot = snap);
    }

    /// The current view.
    pub fn view(&self) -> View {
        self.with(|v| v.clone())
    }

    /// The application consumed `seq` in `space` (only the session's numbering counts).
    pub fn consumed(&self, seq: u64, space: SeqSpace) {
        if space == SeqSpace::Session {
            self.with(|v| v.consumed_seq = v.consumed_seq.max(seq));
        }
    }

    /// What another client needs to resume this session, positioned after the last event
    /// the application consumed.
    pub fn resume_state(&self) -> Option<ResumeState> {
        let v = self.view();
        Some(ResumeState {
            session_id: v.snapshot.session_id?,
            resume_token: v.snapshot.resume_token?,
            last_event_seq: v.consumed_seq,
        })
    }
}
