//! Provisioned credentials (§9.8): rotation events, and revocation at every terminal state
//! with retries owned by the core (a timer plus a `RevokeCredential` effect). The per-job
//! bookkeeping is the jobs part's ([`crate::runtime::jobs::credentials`]).

use crate::runtime::effect::ConnId;
use crate::runtime::effect::{Effect, EffectOutcome};
use crate::runtime::event::RuntimeEvent;
use crate::runtime::jobs::Revocation;
use crate::runtime::jobs::credentials::Revoke;
use crate::runtime::outbox::Outgoing;
use crate::runtime::outbox::TimerKey;
use crate::runtime::redact::{carries_credential, redact_frame};
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::{ErrorPayload, EventBody, Feature, Frame, JobEvent, Message, StatusBody};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

impl Runtime {
    /// Emits `status {phase:"credential_rotated", id, value}`; `value` is stripped for every
    /// session that may not see it (see `emit_job`). The old value is revoked (§9.8: "the
    /// previous value MUST be revoked promptly"), with the same retries as at the job's end.
    pub(in crate::runtime) fn rotate_credential(
        &mut self,
        now: Instant,
        job_id: &str,
        id: String,
        value: String,
    ) -> Result<(), ErrorPayload> {
        let old = self.jobs.rotate_credential(job_id, &id, &value)?;
        if let Some(r) = self.jobs.revoke(job_id, &id, Some(old)) {
            self.push_revoke(job_id, r);
        }
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
        for r in self.jobs.start_revoking(job_id) {
            self.push_revoke(job_id, r);
        }
    }

    pub(in crate::runtime) fn push_revoke(&mut self, job_id: &str, r: Revocation) {
        self.push_effect(
            Effect::RevokeCredential {
                job_id: job_id.to_owned().into(),
                credential_id: r.credential_id,
                value: r.value,
            },
            Some(Pending::Revoke {
                job_id: job_id.to_owned(),
                serial: r.serial,
            }),
        );
    }

    /// The wait before the attempt after `attempts` failed ones: `revoke_retry_delay`
    /// doubled per failed attempt (1×, 2×, 4×, …; the exponent capped at 10), so a struggling
    /// upstream is not hammered; at most `revoke_attempts` attempts in all.
    pub(in crate::runtime) fn revoke_backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(10);
        self.cfg
            .revoke_retry_delay
            .saturating_mul(1u32 << doublings)
    }

    pub(in crate::runtime) fn revoke_done(
        &mut self,
        now: Instant,
        job_id: &str,
        serial: u32,
        outcome: EffectOutcome,
    ) {
        let max = self.cfg.revoke_attempts;
        let failed = matches!(outcome, EffectOutcome::Failed { .. });
        // The record is settled by the revocation of the value the credential ends with
        // (or of the bare id, after a restart), not by that of an old, rotated-out value.
        let (credential_id, settles) = match self.jobs.revocation(job_id, serial) {
            Some(r) => {
                let current = self.jobs.get(job_id).and_then(|j| {
                    j.credentials()
                        .iter()
                        .find(|c| c.id == r.credential_id)
                        .map(|c| c.value.clone())
                });
                let settles = r.value.is_none() || r.value == current;
                (r.credential_id.clone(), settles)
            }
            None => (String::new(), false),
        };
        match self.jobs.revoke_answered(job_id, serial, failed, max) {
            Revoke::Unknown => {}
            Revoke::GaveUp => {
                let message = match outcome {
                    EffectOutcome::Failed { message } => message,
                    _ => String::new(),
                };
                self.out
                    .push_event(RuntimeEvent::CredentialRevocationFailed {
                        job_id: job_id.to_owned().into(),
                        credential_id,
                        message,
                    });
            }
            Revoke::Retry(attempts) => {
                let at = now + self.revoke_backoff(attempts);
                self.out
                    .set_timer(TimerKey::RevokeRetry(job_id.to_owned(), serial), at);
            }
            Revoke::Done if settles => self.persist_credential(job_id, &credential_id, true),
            Revoke::Done => {}
        }
    }

    pub(in crate::runtime) fn revoke_retry(&mut self, _now: Instant, job_id: &str, serial: u32) {
        if let Some(r) = self.jobs.retry_revoke(job_id, serial) {
            self.push_revoke(job_id, r);
        }
    }

    /// Frames of a resume's replay read from the durable store, where credential values
    /// never rest (§9.8), before they go out on `conn`: over a connection that may not carry
    /// credentials they stay without; otherwise the latest `credential_rotated` of each
    /// credential a live job of the session's principal still holds gets its current value
    /// back, when the session negotiated `provisioned_credentials` ([D26]). Earlier rotations
    /// stay without a value: those values were revoked when they were rotated.
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    pub(in crate::runtime) fn stored_credentials(
        &self,
        conn: ConnId,
        sid: &str,
        frames: &mut [Frame],
    ) {
        if self.conns.withholds_credentials(conn) {
            for f in frames.iter_mut() {
                redact_frame(f);
            }
            return;
        }
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
            let current = self
                .jobs
                .get(job_id)
                .filter(|j| j.principal() == principal && !j.status().is_terminal());
            if let Some(c) = current.and_then(|j| j.credentials().iter().find(|c| c.id == cred)) {
                st.value = Some(c.value.clone());
            }
        }
    }

    /// A ring frame of a resume's replay for `conn`: the ring keeps the owner's rotated
    /// values, which stay off a connection that may not carry credentials (§9.8).
    pub(in crate::runtime) fn kept_credentials(
        &self,
        conn: ConnId,
        frame: Arc<Frame>,
        encoded: Bytes,
    ) -> Outgoing {
        if self.conns.withholds_credentials(conn) && carries_credential(&frame) {
            let mut plain = Box::new((*frame).clone());
            redact_frame(&mut plain);
            Outgoing::Plain(plain)
        } else {
            Outgoing::Kept(frame, encoded)
        }
    }
}
