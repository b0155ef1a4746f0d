//! Durability hooks (issue item 10). Without a durable store (`RuntimeConfig::durable` false)
//! nothing here emits anything. With one: write-ahead appends, session records persisted
//! before a welcome with a new token, job / idempotency / credential records, and
//! [`Runtime::restore`] rebuilding the runtime from what the store returns.

use super::Runtime;
use super::effect::{CredentialRecord, Effect, IdempotencyRecord, JobRecord, SessionRecord};
use super::jobs::{Job, Pending};
use super::leasing::JobLease;
use super::outbox::TimerKey;
use super::session::Session;
use crate::time::Instant;
use crate::wire::{ErrorCode, LeaseMap, Timestamp};
use std::time::Duration;

/// What a durable store returns on start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreSnapshot {
    /// Every session record.
    pub sessions: Vec<SessionRecord>,
    /// Every job record.
    pub jobs: Vec<JobRecord>,
    /// Every idempotency record.
    pub idempotency: Vec<IdempotencyRecord>,
    /// Every credential not yet revoked.
    pub credentials: Vec<CredentialRecord>,
}

/// SHA-256 of `token`, lower-case hex: what session records keep instead of the token.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = sha256(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// FIPS 180-4 SHA-256.
fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate().take(16) {
            let mut b = [0u8; 4];
            b.copy_from_slice(word);
            if let Some(slot) = w.get_mut(i) {
                *slot = u32::from_be_bytes(b);
            }
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl Runtime {
    /// The record of session `sid`; `window` is when its resume window closes, if detached.
    pub(super) fn session_record(
        &self,
        sid: &str,
        window: Option<Timestamp>,
    ) -> Option<SessionRecord> {
        let s = self.sessions.get(sid)?;
        Some(SessionRecord {
            session_id: s.id.clone(),
            principal: s.principal.clone(),
            resume_token_hash: s.token_hash.clone(),
            last_event_seq: s.last_seq,
            window_expires_at: window,
            features: s.features.clone(),
        })
    }

    /// Persists a detached session with its window (store only).
    pub(super) fn persist_detached(&mut self, sid: &str, closes_at: Instant) {
        if !self.cfg.durable {
            return;
        }
        let at = self.ids.timestamp_at(closes_at);
        if let Some(r) = self.session_record(sid, Some(at)) {
            self.push_effect(Effect::PersistSession(r), None);
        }
    }

    /// An append completed: transmit every frame that is now durable, in seq order.
    pub(super) fn append_done(&mut self, sid: &str, seq: u64) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        s.appended.insert(seq);
        let from = s.durable_through;
        while s.appended.remove(&(s.durable_through + 1)) {
            s.durable_through += 1;
        }
        let to = s.durable_through;
        let Some(conn) = s.conn.filter(|_| !s.welcoming) else {
            return;
        };
        let frames: Vec<_> = s
            .ring
            .after(from)
            .take_while(|e| e.seq <= to)
            .map(|e| (e.frame.clone(), e.encoded.clone()))
            .collect();
        // A frame the ring dropped before it became durable cannot go out live: close, and
        // the client resumes from the store.
        if frames.len() as u64 != to - from {
            self.close_conn(self.now, conn, super::CloseReason::SlowConsumer);
            return;
        }
        for (f, encoded) in frames {
            self.transmit_kept(conn, f, encoded);
        }
    }

    /// Persists job `job_id` (store only).
    pub(super) fn persist_job(&mut self, job_id: &str) {
        if !self.cfg.durable {
            return;
        }
        let Some(j) = self.jobs.get(job_id) else {
            return;
        };
        let record = JobRecord {
            job_id: j.id.clone(),
            session_id: j.session_id.clone(),
            principal: j.principal.clone(),
            agent: j.agent.clone(),
            status: j.status,
            submitted_at: j.submitted_at.clone(),
            last_event_seq: j.last_event_seq,
            lease: j.lease.map.clone(),
            lease_constraints: j.lease_constraints.clone(),
            trace_id: j.trace_id,
            parent_job_id: j.parent_job_id.clone(),
            delegate_id: j.delegate_id.clone(),
            accepted: j.accepted.clone(),
            terminal: j.terminal.clone(),
        };
        self.push_effect(Effect::PersistJob(Box::new(record)), None);
    }

    /// Persists an idempotency key (store only).
    pub(super) fn persist_idempotency(
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
                job_id: job_id.to_owned(),
                expires_at,
            }),
            None,
        );
    }

    /// Persists a credential's state (store only).
    pub(super) fn persist_credential(&mut self, job_id: &str, credential_id: &str, revoked: bool) {
        if !self.cfg.durable {
            return;
        }
        self.push_effect(
            Effect::PersistCredential(CredentialRecord {
                credential_id: credential_id.to_owned(),
                job_id: job_id.to_owned(),
                revoked,
            }),
            None,
        );
    }

    /// Rebuilds the runtime from a durable store on start. Sessions come back detached and
    /// resumable within their windows; every job recorded as unfinished ends with
    /// `job.error {code: INTERNAL_ERROR, retryable: true, message: "runtime restarted"}`
    /// stamped with its session's next `event_seq`; every outstanding credential is revoked
    /// again. Call it once, before any connection opens.
    pub fn restore(&mut self, now: Instant, snapshot: StoreSnapshot) {
        self.now = now;
        let wall_now = self.ids.timestamp_at(now);
        for r in snapshot.sessions {
            let mut s = Session::new(
                r.session_id.clone(),
                r.principal,
                r.resume_token_hash,
                r.features,
                &self.cfg.bounds,
            );
            s.last_seq = r.last_event_seq;
            s.durable_through = r.last_event_seq;
            // Everything so far lives in the store only: a resume reads it back.
            s.ring.mark_freed(r.last_event_seq);
            let closes = r
                .window_expires_at
                .as_ref()
                .map_or(now + self.cfg.resume_window, |t| self.ids.instant_at(t));
            if r.window_expires_at.as_ref().is_some_and(|t| *t <= wall_now) {
                s.expired = true;
            } else {
                self.out
                    .set_timer(TimerKey::ResumeWindow(r.session_id.clone()), closes);
            }
            self.sessions.insert(r.session_id, s);
        }
        let mut unfinished = Vec::new();
        for r in snapshot.jobs {
            let lease = JobLease::parse(&r.lease, r.lease_constraints.as_ref())
                .or_else(|_| JobLease::parse(&LeaseMap::default(), None));
            let Ok(lease) = lease else {
                continue;
            };
            if !r.status.is_terminal() {
                unfinished.push(r.job_id.clone());
                if let Some(s) = self.sessions.get_mut(&r.session_id) {
                    s.active_jobs += 1;
                }
            }
            let job = Job {
                id: r.job_id.clone(),
                principal: r.principal,
                session_id: r.session_id,
                agent: r.agent,
                status: r.status,
                lease,
                lease_constraints: r.lease_constraints,
                trace_id: r.trace_id,
                parent_job_id: r.parent_job_id,
                delegate_id: r.delegate_id,
                submitted_at: r.submitted_at,
                credentials: Vec::new(),
                accepted: r.accepted,
                terminal: r.terminal,
                last_event_seq: r.last_event_seq,
                chunks: Default::default(),
                revoking: Vec::new(),
                replayable: true,
                // A restored job has no deadlines armed.
                timed: false,
            };
            self.job_order.push_back(r.job_id.clone());
            self.jobs.insert(r.job_id, job);
        }
        for r in snapshot.idempotency {
            let left = r
                .expires_at
                .duration_since(&wall_now)
                .unwrap_or(Duration::ZERO);
            if left > Duration::ZERO {
                self.idem
                    .insert(now, &r.principal, &r.key, r.fingerprint, r.job_id);
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
            if let Some(j) = self.jobs.get_mut(&c.job_id) {
                j.revoking.push((c.credential_id.clone(), 1));
            }
            self.push_effect(
                Effect::RevokeCredential {
                    job_id: c.job_id.clone(),
                    credential_id: c.credential_id.clone(),
                },
                Some(Pending::Revoke {
                    job_id: c.job_id,
                    credential_id: c.credential_id,
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_vectors() {
        assert_eq!(
            token_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            token_hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }
}
