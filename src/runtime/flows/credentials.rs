//! Provisioned credentials (§9.8): rotation events, and revocation at every terminal state
//! with retries owned by the core (a timer plus a `RevokeCredential` effect). The per-job
//! bookkeeping is the jobs part's ([`crate::runtime::jobs::credentials`]).

use crate::runtime::effect::{Effect, EffectOutcome};
use crate::runtime::event::RuntimeEvent;
use crate::runtime::jobs::credentials::Revoke;
use crate::runtime::outbox::TimerKey;
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{ErrorPayload, EventBody, Feature, Frame, JobEvent, Message, StatusBody};

impl Runtime {
    /// Emits `status {phase:"credential_rotated", id, value}`; `value` is stripped for every
    /// session that may not see it (see `emit_job`).
    pub(in crate::runtime) fn rotate_credential(
        &mut self,
        now: Instant,
        job_id: &str,
        id: String,
        value: String,
    ) -> Result<(), ErrorPayload> {
        self.jobs.rotate_credential(job_id, &id, &value)?;
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
    pub(in crate::runtime) fn revoke_all(&mut self, job_id: &str) {
        for credential_id in self.jobs.start_revoking(job_id) {
            self.push_revoke(job_id, credential_id);
        }
    }

    pub(in crate::runtime) fn push_revoke(&mut self, job_id: &str, credential_id: String) {
        self.push_effect(
            Effect::RevokeCredential {
                job_id: job_id.to_owned().into(),
                credential_id: credential_id.clone(),
            },
            Some(Pending::Revoke {
                job_id: job_id.to_owned(),
                credential_id,
            }),
        );
    }

    pub(in crate::runtime) fn revoke_done(
        &mut self,
        now: Instant,
        job_id: &str,
        credential_id: &str,
        outcome: EffectOutcome,
    ) {
        let max = self.cfg.revoke_attempts;
        let failed = matches!(outcome, EffectOutcome::Failed { .. });
        match self
            .jobs
            .revoke_answered(job_id, credential_id, failed, max)
        {
            Revoke::Unknown => {}
            Revoke::GaveUp => {
                let message = match outcome {
                    EffectOutcome::Failed { message } => message,
                    _ => String::new(),
                };
                self.out
                    .push_event(RuntimeEvent::CredentialRevocationFailed {
                        job_id: job_id.to_owned().into(),
                        credential_id: credential_id.to_owned(),
                        message,
                    });
            }
            Revoke::Retry => {
                let at = now + self.cfg.revoke_retry_delay;
                self.out.set_timer(
                    TimerKey::RevokeRetry(job_id.to_owned(), credential_id.to_owned()),
                    at,
                );
            }
            Revoke::Done => self.persist_credential(job_id, credential_id, true),
        }
    }

    pub(in crate::runtime) fn revoke_retry(
        &mut self,
        _now: Instant,
        job_id: &str,
        credential_id: &str,
    ) {
        if self.jobs.retry_revoke(job_id, credential_id) {
            self.push_revoke(job_id, credential_id.to_owned());
        }
    }

    /// A resume replayed from the durable store, where credential values never rest (§9.8):
    /// the latest `credential_rotated` of each credential a live job of this session's
    /// principal still holds gets its current value back, when the session negotiated
    /// `provisioned_credentials` (D26). Earlier rotations stay without a value: those values
    /// were revoked when they were rotated.
    pub(in crate::runtime) fn redeliver_credentials(&self, sid: &str, frames: &mut [Frame]) {
        let Some(session) = self.sessions.get(sid) else {
            return;
        };
        if !session.has(Feature::ProvisionedCredentials) {
            return;
        }
        let principal = session.principal();
        let mut seen: Vec<(String, String)> = Vec::new();
        for f in frames.iter_mut().rev() {
            let Message::Event(JobEvent {
                body: EventBody::Status(st),
                ..
            }) = &mut f.message
            else {
                continue;
            };
            let (Some(job_id), Some(cred)) = (f.job_id.as_deref(), st.id.as_deref()) else {
                continue;
            };
            if st.phase != "credential_rotated"
                || seen.iter().any(|(j, c)| j == job_id && c == cred)
            {
                continue;
            }
            seen.push((job_id.to_owned(), cred.to_owned()));
            let current = self.jobs.get(job_id).filter(|j| {
                j.principal() == principal && !j.status().is_terminal()
            });
            if let Some(c) = current.and_then(|j| j.credentials().iter().find(|c| c.id == cred)) {
                st.value = Some(c.value.clone());
            }
        }
    }
}
