//! Credential values in frames (§9.8): the form of a frame that may not carry one — a
//! durable store's copy, or a replay over a transport that may not carry secrets — is what
//! an observer of the job sees. A leaf: it imports only the wire types.

use crate::wire::{Accepted, EventBody, Frame, JobEvent, Message};

/// Credential values never rest in durable storage (§9.8): a stored frame or job record
/// carries what an observer of the job would see. A `credential_rotated` status loses its
/// `value`; `true` when `frame` was changed (its stored bytes must then be encoded anew).
pub(super) fn redact_frame(frame: &mut Frame) -> bool {
    match &mut frame.message {
        Message::Event(JobEvent {
            body: EventBody::Status(st),
            ..
        }) if st.phase == "credential_rotated" && st.value.is_some() => {
            st.value = None;
            true
        }
        Message::Accepted(a) => redact_accepted(a),
        _ => false,
    }
}

/// `true` when `frame` carries a credential value (see [`redact_frame`]).
pub(super) fn carries_credential(frame: &Frame) -> bool {
    match &frame.message {
        Message::Event(JobEvent {
            body: EventBody::Status(st),
            ..
        }) => st.phase == "credential_rotated" && st.value.is_some(),
        Message::Accepted(a) => a.credentials.is_some(),
        _ => false,
    }
}

/// A stored `job.accepted` keeps no `credentials` (see [`redact_frame`]); `true` when it
/// had some.
pub(super) fn redact_accepted(accepted: &mut Accepted) -> bool {
    accepted.credentials.take().is_some()
}
