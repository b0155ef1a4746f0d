//! Provisioned credentials of a job (§9.8): rotation updates the kept value, and every
//! credential is revoked at the job's end, with retries counted here (the parent owns the
//! retry timer and the `RevokeCredential` effects).

use super::Jobs;
use crate::wire::{Accepted, ErrorCode, ErrorPayload, EventBody, Frame, JobEvent, Message};

/// Credential values never rest in durable storage (§9.8): a stored frame or job record
/// carries what an observer of the job would see. A `credential_rotated` status loses its
/// `value`; `true` when `frame` was changed (its stored bytes must then be encoded anew).
pub(in crate::runtime) fn redact_frame(frame: &mut Frame) -> bool {
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

/// A stored `job.accepted` keeps no `credentials` (see [`redact_frame`]); `true` when it
/// had some.
pub(in crate::runtime) fn redact_accepted(accepted: &mut Accepted) -> bool {
    accepted.credentials.take().is_some()
}

/// What a `RevokeCredential` answer leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::runtime) enum Revoke {
    /// Not being revoked (unknown job or credential): ignore.
    Unknown,
    /// Revoked: persist that.
    Done,
    /// Failed: retry after the delay.
    Retry,
    /// Failed on the last attempt: report it.
    GaveUp,
}

impl Jobs {
    /// A credential of `id` was rotated to `value`.
    pub fn rotate_credential(
        &mut self,
        id: &str,
        credential_id: &str,
        value: &str,
    ) -> Result<(), ErrorPayload> {
        let Some(job) = self.map.get_mut(id) else {
            return Err(ErrorPayload::new(ErrorCode::JobNotFound, "job not found"));
        };
        let Some(cred) = job.credentials.iter_mut().find(|c| c.id == credential_id) else {
            return Err(ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!("job has no credential {credential_id:?}"),
            ));
        };
        cred.value = value.to_owned();
        Ok(())
    }

    /// `id` ended: every credential it holds is to be revoked (first attempt); returns them.
    pub fn start_revoking(&mut self, id: &str) -> Vec<String> {
        let Some(job) = self.map.get_mut(id) else {
            return Vec::new();
        };
        let ids: Vec<String> = job.credentials.iter().map(|c| c.id.clone()).collect();
        job.revoking = ids.iter().map(|c| (c.clone(), 1)).collect();
        ids
    }

    /// A credential recorded outstanding by the store is revoked again (first attempt).
    pub fn restore_revoking(&mut self, id: &str, credential_id: &str) {
        if let Some(job) = self.map.get_mut(id) {
            job.revoking.push((credential_id.to_owned(), 1));
        }
    }

    /// The answer to revoking `credential_id` of `id`: `failed`, after how many attempts of
    /// at most `max`.
    pub fn revoke_answered(
        &mut self,
        id: &str,
        credential_id: &str,
        failed: bool,
        max: u32,
    ) -> Revoke {
        let Some(job) = self.map.get_mut(id) else {
            return Revoke::Unknown;
        };
        let Some(pos) = job.revoking.iter().position(|(c, _)| c == credential_id) else {
            return Revoke::Unknown;
        };
        let attempts = job.revoking.get(pos).map_or(max, |(_, a)| *a);
        match failed {
            true if attempts >= max => {
                job.revoking.remove(pos);
                Revoke::GaveUp
            }
            true => Revoke::Retry,
            false => {
                job.revoking.remove(pos);
                Revoke::Done
            }
        }
    }

    /// Counts one more attempt; `false` when it is no longer being revoked.
    pub fn retry_revoke(&mut self, id: &str, credential_id: &str) -> bool {
        let Some(job) = self.map.get_mut(id) else {
            return false;
        };
        let Some(entry) = job.revoking.iter_mut().find(|(c, _)| c == credential_id) else {
            return false;
        };
        entry.1 += 1;
        true
    }
}
