//! Provisioned credentials (§9.8): rotation events, and revocation at every terminal state
//! with retries owned by the core (a timer plus a `RevokeCredential` effect).

use super::Runtime;
use super::effect::{Effect, EffectOutcome};
use super::event::RuntimeEvent;
use super::jobs::Pending;
use super::outbox::TimerKey;
use crate::time::Instant;
use crate::wire::{ErrorCode, ErrorPayload, EventBody, StatusBody};

impl Runtime {
    /// Emits `status {phase:"credential_rotated", id, value}`; `value` is stripped for every
    /// session that may not see it (see `emit_job`).
    pub(super) fn rotate_credential(
        &mut self,
        now: Instant,
        job_id: &str,
        id: String,
        value: String,
    ) -> Result<(), ErrorPayload> {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return Err(ErrorPayload::new(ErrorCode::JobNotFound, "job not found"));
        };
        let Some(cred) = job.credentials.iter_mut().find(|c| c.id == id) else {
            return Err(ErrorPayload::new(
                ErrorCode::InvalidRequest,
                format!("job has no credential {id:?}"),
            ));
        };
        cred.value = value.clone();
        let body = StatusBody {
            phase: "credential_rotated".into(),
            message: None,
            id: Some(id),
            value: Some(value),
            extra: Default::default(),
        };
        self.emit_event(now, job_id, EventBody::Status(body));
        Ok(())
    }

    /// Revokes every credential of an ended job.
    pub(super) fn revoke_all(&mut self, job_id: &str) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let ids: Vec<String> = job.credentials.iter().map(|c| c.id.clone()).collect();
        job.revoking = ids.iter().map(|c| (c.clone(), 1)).collect();
        for credential_id in ids {
            self.push_revoke(job_id, credential_id);
        }
    }

    fn push_revoke(&mut self, job_id: &str, credential_id: String) {
        self.push_effect(
            Effect::RevokeCredential {
                job_id: job_id.to_owned(),
                credential_id: credential_id.clone(),
            },
            Some(Pending::Revoke {
                job_id: job_id.to_owned(),
                credential_id,
            }),
        );
    }

    pub(super) fn revoke_done(
        &mut self,
        now: Instant,
        job_id: &str,
        credential_id: &str,
        outcome: EffectOutcome,
    ) {
        let max = self.cfg.revoke_attempts;
        let delay = self.cfg.revoke_retry_delay;
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let Some(pos) = job.revoking.iter().position(|(c, _)| c == credential_id) else {
            return;
        };
        let attempts = job.revoking.get(pos).map_or(max, |(_, a)| *a);
        match outcome {
            EffectOutcome::Failed { message } if attempts >= max => {
                job.revoking.remove(pos);
                self.out
                    .push_event(RuntimeEvent::CredentialRevocationFailed {
                        job_id: job_id.to_owned(),
                        credential_id: credential_id.to_owned(),
                        message,
                    });
            }
            EffectOutcome::Failed { .. } => {
                self.out.set_timer(
                    TimerKey::RevokeRetry(job_id.to_owned(), credential_id.to_owned()),
                    now + delay,
                );
            }
            _ => {
                job.revoking.remove(pos);
                self.persist_credential(job_id, credential_id, true);
            }
        }
    }

    pub(super) fn revoke_retry(&mut self, _now: Instant, job_id: &str, credential_id: &str) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let Some(entry) = job.revoking.iter_mut().find(|(c, _)| c == credential_id) else {
            return;
        };
        entry.1 += 1;
        self.push_revoke(job_id, credential_id.to_owned());
    }
}
