//! What the application and the driver task share: the commands it sends, and the
//! snapshot the driver publishes for the getters.

use super::ClientError;
use super::job::{JobHandle, Subscription};
use arcp_proto::client::{ClientState, JobOutcome, ListJobsRequest, SeqSpace, SubmitRequest};
use arcp_proto::wire::Jobs;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// How a job ended, as the driver hands it to `JobHandle::done`.
pub(crate) type Terminal = Result<(u64, SeqSpace, JobOutcome), ClientError>;

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// What the application asks the driver.
pub(crate) enum Command {
    Submit {
        req: Box<SubmitRequest>,
        reply: Reply<JobHandle>,
    },
    Cancel {
        job_id: String,
        reason: String,
        reply: Reply<()>,
    },
    CancelConfirmed {
        job_id: String,
        reason: String,
        reply: Reply<()>,
    },
    ListJobs {
        req: ListJobsRequest,
        reply: Reply<Jobs>,
    },
    Subscribe {
        job_id: String,
        history: bool,
        from_event_seq: Option<u64>,
        reply: Reply<Subscription>,
    },
    Unsubscribe {
        job_id: String,
        reply: Reply<()>,
    },
    Ack {
        seq: u64,
        reply: Reply<()>,
    },
    Ping {
        reply: Reply<Duration>,
    },
    Close {
        reply: Reply<()>,
    },
    DropTransport {
        reply: Reply<()>,
    },
    Resume {
        reply: Reply<()>,
    },
    /// Write these bytes on the transport as is (`Client::send_raw`).
    SendRaw {
        frame: Vec<u8>,
        reply: Reply<()>,
    },
}

/// What the driver publishes for the application's getters.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub state: ClientState,
    pub session_id: Option<String>,
    pub resume_token: Option<String>,
    pub features: Vec<String>,
    /// Highest session `event_seq` the driver received.
    pub received_seq: u64,
    /// Highest session `event_seq` the application consumed from a stream or `done`.
    pub consumed_seq: u64,
    /// Welcomes received (the first one and every resume).
    pub welcomes: u64,
}

/// State shared between the driver and the application's handles.
#[derive(Debug)]
pub(crate) struct Shared {
    snap: Mutex<Snapshot>,
}

impl Shared {
    pub(crate) fn new(consumed_seq: u64) -> Self {
        Shared {
            snap: Mutex::new(Snapshot {
                state: ClientState::Disconnected,
                session_id: None,
                resume_token: None,
                features: Vec::new(),
                received_seq: consumed_seq,
                consumed_seq,
                welcomes: 0,
            }),
        }
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        let mut guard = match self.snap.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.with(|s| s.clone())
    }

    pub(crate) fn consumed(&self, seq: u64) {
        self.with(|s| s.consumed_seq = s.consumed_seq.max(seq));
    }
}
