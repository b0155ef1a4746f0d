//! Durability hooks (issue item 10). Without a durable store (`RuntimeConfig::durable` false)
//! nothing here emits anything. With one: write-ahead appends, session records persisted
//! before a welcome with a new token, job / idempotency / credential records, and
//! [`Runtime::restore`] rebuilding the runtime from what the store returns.

use crate::runtime::effect::{
    CloseReason, ConnId, CredentialRecord, Effect, IdempotencyRecord, SessionRecord, StoreSnapshot,
};
use crate::runtime::outbox::{Outgoing, TimerKey};
use crate::runtime::sessions::Appended;
use crate::runtime::{Pending, Runtime};
use crate::time::Instant;
use crate::wire::ErrorCode;
use crate::wire::Frame;
use std::time::Duration;

impl Runtime {
    /// Persists a detached session with its window (store only).
    pub(in crate::runtime) fn persist_detached(&mut self, sid: &str, closes_at: Instant) {
        if !self.cfg.durable {
            return;
        }
        let at = self.ids.timestamp_at(closes_at);
        if let Some(r) = self.sessions.record(sid, Some(at)) {
            self.push_effect(Effect::PersistSession(r), None);
        }
    }

    /// An append completed: transmit every frame that is now durable, in seq order.
    pub(in crate::runtime) fn append_done(&mut self, sid: &str, seq: u64) {
        match self.sessions.append_done(sid, seq) {
            Appended::Nothing => {}
            // A frame the ring dropped before it became durable cannot go out live: close,
            // and the client resumes from the store.
            Appended::Lost(conn) => self.close_conn(self.now, conn, CloseReason::SlowConsumer),
            Appended::Send(conn, frames) => {
                for (f, encoded) in frames {
                    self.transmit_kept(conn, f, encoded);
                }
            }
        }
    }

    /// Asks the store for the next page of a resume's replay of `sid` on `conn`, when one is
    /// due (the store keeps what the ring no longer does; each page is at most what the
    /// host's store reads at once).
    pub(in crate::runtime) fn next_store_page(&mut self, conn: ConnId, sid: &str) {
        let Some(after) = self.sessions.store_page_due(sid, conn) else {
            return;
        };
        self.push_effect(
            Effect::ReadEvents {
                session_id: sid.to_owned().into(),
                after_seq: after,
            },
            Some(Pending::StorePage {
                session_id: sid.to_owned(),
                conn,
            }),
        );
    }

    /// A page of a resume's replay came back: sent on, then the next page, or — once the
    /// ring covers the rest — the ring's frames, and live frames flow again. A page that
    /// does not continue gap-free closes the connection (the client resumes again and gets
    /// the refusal if the store cannot cover it).
    pub(in crate::runtime) fn store_page_read(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        frames: Option<Vec<Frame>>,
    ) {
        let Some(after) = self.sessions.store_page_done(sid, conn) else {
            return;
        };
        match self.sessions.stored_replay(sid, after, frames, "") {
            Ok((mut page, more)) => {
                let last = page.last().and_then(|f| f.event_seq).unwrap_or(after);
                self.stored_credentials(conn, sid, &mut page);
                for f in page {
                    self.transmit_replay(conn, Outgoing::Plain(Box::new(f)));
                }
                // More in the store, or frames that became durable (and left the ring) while
                // this page was read: the next page. A page that brought nothing while the
                // ring still does not continue cannot be served: close, the client resumes.
                let continues = self.sessions.ring_continues(sid, last);
                if !more && !continues && last == after {
                    self.close_conn(now, conn, CloseReason::SlowConsumer);
                    return;
                }
                if more || !continues {
                    self.sessions.set_store_next(sid, Some(last));
                    if self.conns.queued(conn) == 0 {
                        self.next_store_page(conn, sid);
                    }
                } else {
                    self.sessions.set_store_next(sid, None);
                    for (f, b) in self.sessions.replay(sid, last) {
                        let out = self.kept_credentials(conn, f, b);
                        self.transmit_replay(conn, out);
                    }
                }
            }
            Err(_) => self.close_conn(now, conn, CloseReason::SlowConsumer),
        }
    }

    /// Persists job `job_id` (store only).
    pub(in crate::runtime) fn persist_job(&mut self, job_id: &str) {
        if !self.cfg.durable {
            return;
        }
        let Some(record) = self.jobs.get(job_id).map(|j| j.record()) else {
            return;
        };
        self.push_effect(Effect::PersistJob(Box::new(record)), None);
    }

    /// Persists an idempotency key (store only).
    pub(in crate::runtime) fn persist_idempotency(
        &mut self,
        now: Instant,
        principal: &str,
        key: &str,
        fingerprint: &str,
        job_id: &str,
    ) {
        if !self.cfg.durable {
            return;
        }
        let expires_at = self.ids.timestamp_at(now + self.cfg.bounds.idempotency_ttl);
        self.push_effect(
            Effect::PersistIdempotency(IdempotencyRecord {
                principal: principal.to_owned(),
                key: key.to_owned(),
                fingerprint: fingerprint.to_owned(),
                job_id: job_id.to_owned().into(),
                expires_at,
            }),
            None,
        );
    }

    /// Persists a credential's state (store only).
    pub(in crate::runtime) fn persist_credential(
        &mut self,
        job_id: &str,
        credential_id: &str,
        revoked: bool,
    ) {
        if !self.cfg.durable {
            return;
        }
        self.push_effect(
            Effect::PersistCredential(CredentialRecord {
                credential_id: credential_id.to_owned(),
                job_id: job_id.to_owned().into(),
                revoked,
            }),
            None,
        );
    }

    /// Rebuilds session `r` from its record: detached, resumable until its window closes
    /// (or expired when it already did), everything so far in the store only.
    pub(in crate::runtime) fn restore_session(&mut self, now: Instant, r: SessionRecord) {
        let wall_now = self.ids.timestamp_at(now);
        let closes = r
            .window_expires_at
            .as_ref()
            .map_or(now + self.cfg.resume_window, |t| self.ids.instant_at(t));
        let expired = r.window_expires_at.as_ref().is_some_and(|t| *t <= wall_now);
        if expired {
            let at = now + self.cfg.bounds.expired_session_grace;
            self.out
                .set_timer(TimerKey::ExpiredSession(r.session_id.clone().into()), at);
        } else {
            self.out
                .set_timer(TimerKey::ResumeWindow(r.session_id.clone().into()), closes);
        }
        // Everything so far lives in the store only: a resume reads it back.
        self.sessions.restore(r, expired);
    }

    /// Rebuilds the runtime from a durable store on start. Sessions come back detached and
    /// resumable within their windows; every job recorded as unfinished ends with
    /// `job.error {code: INTERNAL_ERROR, retryable: true, message: "runtime restarted"}`
    /// stamped with its session's next `event_seq`; every outstanding credential is revoked
    /// again. Call it once, before any connection opens.
    pub fn restore(&mut self, now: Instant, snapshot: StoreSnapshot) {
        let now = self.clamp(now);
        let wall_now = self.ids.timestamp_at(now);
        for r in snapshot.sessions {
            self.restore_session(now, r);
        }
        let mut unfinished = Vec::new();
        for r in snapshot.jobs {
            let (job_id, session_id) = (r.job_id.clone(), r.session_id.clone());
            match self.jobs.restore(r) {
                Some(true) => {
                    unfinished.push(job_id);
                    self.sessions.add_job(&session_id);
                }
                Some(false) => self.arm_finished_expiry(now, &String::from(job_id)),
                None => {}
            }
        }
        for forgot in self.jobs.trim_finished() {
            self.out.cancel_timer(&TimerKey::FinishedJob(forgot));
        }
        for r in snapshot.idempotency {
            let left = r
                .expires_at
                .duration_since(&wall_now)
                .unwrap_or(Duration::ZERO);
            if left > Duration::ZERO {
                self.jobs
                    .reserve_key(now, &r.principal, &r.key, &r.fingerprint, &r.job_id);
            }
        }
        for job_id in unfinished {
            self.fail_job_with(
                now,
                &job_id,
                ErrorCode::InternalError,
                "runtime restarted".into(),
                true,
                false,
            );
        }
        for c in snapshot.credentials.into_iter().filter(|c| !c.revoked) {
            // Only the id survives a restart: values never rest in storage (§9.8).
            if let Some(r) = self.jobs.revoke(c.job_id.as_str(), &c.credential_id, None) {
                self.push_revoke(c.job_id.as_str(), r);
            }
        }
    }
}
