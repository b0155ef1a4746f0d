//! The message catalogue (every `session.*` and `job.*` type of spec §6–§8 and the
//! reference) and the typed envelope, [`Frame`].

use super::error::ErrorPayload;
use super::event::JobEvent;
use super::ids::{JobId, SessionId, TraceId};
use super::job::{
    Accepted, Cancel, JobError, JobResult, Submit, Subscribe, Subscribed, Unsubscribe,
};
use super::session::{Ack, Bye, Close, Hello, Jobs, ListJobs, Ping, Pong, Resume, Welcome};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// The protocol version every frame carries.
pub const ARCP_VERSION: &str = "1.1";

/// Which way a message type travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to runtime.
    ClientToRuntime,
    /// Runtime to client.
    RuntimeToClient,
    /// Either way (`session.ping`, `session.pong`, `session.bye`).
    Both,
}

macro_rules! catalogue {
    ($( $variant:ident ( $payload:ty ) = $wire:literal, $dir:ident, $doc:literal; )*) => {
        /// Every message type, by its wire name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $( #[doc = $doc] $variant, )*
        }

        impl MessageType {
            /// Every type, in catalogue order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$variant,)*];

            /// The wire name, e.g. `"job.submit"`.
            pub fn as_str(self) -> &'static str {
                match self { $( MessageType::$variant => $wire, )* }
            }

            /// Looks up a wire name.
            pub fn parse(s: &str) -> Option<MessageType> {
                match s { $( $wire => Some(MessageType::$variant), )* _ => None }
            }

            /// Which way it travels.
            pub fn direction(self) -> Direction {
                match self { $( MessageType::$variant => Direction::$dir, )* }
            }
        }

        /// A message: its type and typed payload.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Message {
            $( #[doc = $doc] $variant($payload), )*
        }

        impl Message {
            /// The message's type.
            pub fn message_type(&self) -> MessageType {
                match self { $( Message::$variant(_) => MessageType::$variant, )* }
            }

            pub(crate) fn serialize_payload<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
                match self { $( Message::$variant(p) => m.serialize_entry("payload", p), )* }
            }

            /// Appends the payload's compact JSON.
            pub(crate) fn write_payload(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
                match self { $( Message::$variant(p) => serde_json::to_writer(&mut *out, p), )* }
            }

            pub(crate) fn deserialize_payload<'de, D: serde::Deserializer<'de>>(ty: MessageType, d: D) -> Result<Message, D::Error> {
                use serde::Deserialize as _;
                Ok(match ty { $( MessageType::$variant => Message::$variant(<$payload>::deserialize(d)?), )* })
            }

            pub(crate) fn decode_payload(ty: MessageType, json: &str) -> Result<Message, serde_json::Error> {
                Ok(match ty { $( MessageType::$variant => Message::$variant(serde_json::from_str(json)?), )* })
            }
        }
    };
}

catalogue! {
    Hello(Hello) = "session.hello", ClientToRuntime, "`session.hello`: open or resume a session.";
    Resume(Resume) = "session.resume", ClientToRuntime, "`session.resume`: the spec's resume form (accepted, D2).";
    Welcome(Welcome) = "session.welcome", RuntimeToClient, "`session.welcome`: session accepted.";
    Error(ErrorPayload) = "session.error", RuntimeToClient, "`session.error`: a request- or session-level failure.";
    Ping(Ping) = "session.ping", Both, "`session.ping`: liveness probe.";
    Pong(Pong) = "session.pong", Both, "`session.pong`: liveness answer.";
    Ack(Ack) = "session.ack", ClientToRuntime, "`session.ack`: highest processed `event_seq`.";
    ListJobs(ListJobs) = "session.list_jobs", ClientToRuntime, "`session.list_jobs`: job inventory request.";
    Jobs(Jobs) = "session.jobs", RuntimeToClient, "`session.jobs`: job inventory page.";
    Bye(Bye) = "session.bye", Both, "`session.bye`: graceful close (D1).";
    Close(Close) = "session.close", ClientToRuntime, "`session.close`: the spec's close (accepted, D1).";
    Closed(Close) = "session.closed", RuntimeToClient, "`session.closed`: answer to `session.close` (D1).";
    Submit(Submit) = "job.submit", ClientToRuntime, "`job.submit`: start a job.";
    Accepted(Accepted) = "job.accepted", RuntimeToClient, "`job.accepted`: the job started.";
    Cancel(Cancel) = "job.cancel", ClientToRuntime, "`job.cancel`: cancel the envelope's `job_id` (D6).";
    Event(JobEvent) = "job.event", RuntimeToClient, "`job.event`: one event of a job.";
    Result(JobResult) = "job.result", RuntimeToClient, "`job.result`: terminal success, cancel or timeout.";
    JobError(JobError) = "job.error", RuntimeToClient, "`job.error`: terminal failure.";
    Subscribe(Subscribe) = "job.subscribe", ClientToRuntime, "`job.subscribe`: observe a job.";
    Subscribed(Subscribed) = "job.subscribed", RuntimeToClient, "`job.subscribed`: subscription confirmed.";
    Unsubscribe(Unsubscribe) = "job.unsubscribe", ClientToRuntime, "`job.unsubscribe`: stop observing.";
}

impl MessageType {
    /// `true` for `job.event`, `job.result` and `job.error`: the frames that carry `event_seq`.
    pub fn carries_event_seq(self) -> bool {
        matches!(
            self,
            MessageType::Event | MessageType::Result | MessageType::JobError
        )
    }

    /// `true` for the terminal frames `job.result` and `job.error`.
    pub fn is_terminal(self) -> bool {
        matches!(self, MessageType::Result | MessageType::JobError)
    }
}

/// One ARCP envelope with its typed message (spec §5).
///
/// `arcp` is implicit: always `"1.1"` on output; absent or `"1.1"` on input ([D17]).
///
/// [D17]: crate::compat#d17--arcp-version-field
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Envelope id ([D16]).
    ///
    /// [D16]: crate::compat#d16--envelope-ids
    pub id: String,
    /// Set by the runtime on every frame of an established session.
    pub session_id: Option<SessionId>,
    /// Bare 32-hex trace id ([D15]).
    ///
    /// [D15]: crate::compat#d15--trace-id
    pub trace_id: Option<TraceId>,
    /// The job a frame is about; required on `job.cancel`.
    pub job_id: Option<JobId>,
    /// Present exactly on `job.event`, `job.result` and `job.error`.
    pub event_seq: Option<u64>,
    /// Type and payload.
    pub message: Message,
}

impl Frame {
    /// A frame with only an id and a message.
    pub fn new(id: impl Into<String>, message: Message) -> Self {
        Frame {
            id: id.into(),
            session_id: None,
            trace_id: None,
            job_id: None,
            event_seq: None,
            message,
        }
    }

    /// Sets `session_id`.
    pub fn with_session(mut self, session_id: impl Into<SessionId>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets `job_id`.
    pub fn with_job(mut self, job_id: impl Into<JobId>) -> Self {
        self.job_id = Some(job_id.into());
        self
    }

    /// Sets `trace_id`.
    pub fn with_trace(mut self, trace_id: Option<TraceId>) -> Self {
        self.trace_id = trace_id;
        self
    }

    /// Sets `event_seq`.
    pub fn with_event_seq(mut self, seq: u64) -> Self {
        self.event_seq = Some(seq);
        self
    }

    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        self.message.message_type()
    }
}

impl Serialize for Frame {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Stable field order: the spec's §5 order, which is also the reference's.
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("arcp", ARCP_VERSION)?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("type", self.message_type().as_str())?;
        if let Some(v) = &self.session_id {
            m.serialize_entry("session_id", v)?;
        }
        if let Some(v) = &self.trace_id {
            m.serialize_entry("trace_id", v)?;
        }
        if let Some(v) = &self.job_id {
            m.serialize_entry("job_id", v)?;
        }
        if let Some(v) = &self.event_seq {
            m.serialize_entry("event_seq", v)?;
        }
        self.message.serialize_payload(&mut m)?;
        m.end()
    }
}
