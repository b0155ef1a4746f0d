//! Provisioned credentials of a job (§9.8): rotation updates the kept value, and every
//! credential is revoked at the job's end, with retries counted here (the parent owns the
//! retry timer and the `RevokeCredential` effects).

use super::{Jobs, Revocation};
use crate::wire::{ErrorCode, ErrorPayload};

/// What a `RevokeCredential` answer leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::runtime) enum Revoke {
    /// Not being revoked (unknown job or revocation): ignore.
    Unknown,
    /// Revoked: persist that.
    Done,
    /// Failed after this many attempts: retry after the backoff.
    Retry(u32),
    /// Failed on the last attempt: report it.
    GaveUp,
}

impl Jobs {
    /// A credential of `id` was rotated to `value`; returns the old value.
    pub fn rotate_credential(
        &mut self,
        id: &str,
        credential_id: &str,
        value: &str,
    ) -> Result<String, ErrorPayload> {
        let Some(job) = self.map.get_mut(id) else {
            return Err(ErrorPayload::new(ErrorCode::JobNotFound, "job not found"));
        };
        let Some(cred) = job.credentials.iter_mut().find(|c| c.id == credential_id) else {
            return Err(ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!("job has no credential {credential_id:?}"),
            ));
        };
        Ok(std::mem::replace(&mut cred.value, value.to_owned()))
    }

    /// Starts revoking `value` of `credential_id` of `id` (first attempt).
    pub fn revoke(
        &mut self,
        id: &str,
        credential_id: &str,
        value: Option<String>,
    ) -> Option<Revocation> {
        let job = self.map.get_mut(id)?;
        job.next_revocation = job.next_revocation.wrapping_add(1);
        let r = Revocation {
            serial: job.next_revocation,
            credential_id: credential_id.to_owned(),
            value,
            attempts: 1,
        };
        job.revoking.push(r.clone());
        Some(r)
    }

    /// `id` ended: every credential it holds is to be revoked, at its current value (first
    /// attempt); returns the revocations.
    pub fn start_revoking(&mut self, id: &str) -> Vec<Revocation> {
        let held: Vec<(String, String)> = match self.map.get(id) {
            Some(job) => job
                .credentials
                .iter()
                .map(|c| (c.id.clone(), c.value.clone()))
                .collect(),
            None => return Vec::new(),
        };
        held.into_iter()
            .filter_map(|(c, v)| self.revoke(id, &c, Some(v)))
            .collect()
    }

    /// The answer to revocation `serial` of `id`: `failed`, with at most `max` attempts.
    pub fn revoke_answered(&mut self, id: &str, serial: u32, failed: bool, max: u32) -> Revoke {
        let Some(job) = self.map.get_mut(id) else {
            return Revoke::Unknown;
        };
        let Some(pos) = job.revoking.iter().position(|r| r.serial == serial) else {
            return Revoke::Unknown;
        };
        let attempts = job.revoking.get(pos).map_or(max, |r| r.attempts);
        match failed {
            true if attempts >= max => {
                job.revoking.remove(pos);
                Revoke::GaveUp
            }
            true => Revoke::Retry(attempts),
            false => {
                job.revoking.remove(pos);
                Revoke::Done
            }
        }
    }

    /// Revocation `serial` of `id`, if still under way.
    pub fn revocation(&self, id: &str, serial: u32) -> Option<&Revocation> {
        self.map
            .get(id)?
            .revoking
            .iter()
            .find(|r| r.serial == serial)
    }

    /// Counts one more attempt of revocation `serial`; `None` when it is no longer under way.
    pub fn retry_revoke(&mut self, id: &str, serial: u32) -> Option<Revocation> {
        let job = self.map.get_mut(id)?;
        let r = job.revoking.iter_mut().find(|r| r.serial == serial)?;
        r.attempts += 1;
        Some(r.clone())
    }
}
