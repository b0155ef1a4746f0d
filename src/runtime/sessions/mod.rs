//! The sessions part: every logical session (attached, detached within its resume window, or
//! expired), each with its own `event_seq` space and event ring ([`ring`]), its negotiated
//! features, its resume-token hash ([`token`]), its write-ahead progress (with a durable
//! store) and its count of unfinished jobs.
//!
//! It stamps frames ([`Sessions::stamp`]), frees acked events ([D5]), decides resumes ([D2], [D4],
//! [D5]) and expiry (§6.7), and answers with what the parent must send, persist or arm; it
//! pushes nothing itself.
//!
//! [D5]: crate::compat#d5--ack
//! [D2]: crate::compat#d2--resume
//! [D4]: crate::compat#d4--failed-resume

mod after;
pub(super) mod ring;
pub(super) mod token;
pub(super) use after::After;
use after::Held;

use super::config::Bounds;
use super::effect::{ConnId, SessionRecord, StoredFrame};
use super::encoding::Scratch;
use super::fxhash::FxHashMap;
use crate::wire::{
    ErrorCode, ErrorPayload, Feature, FeatureSet, Frame, Message, ResumeRequest, Timestamp,
};
use bytes::Bytes;
use ring::{EventRing, Evict, RingCaps, RingEntry};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use token::{same_secret, token_hash};

/// One logical session; it outlives its connections.
#[derive(Debug)]
pub(super) struct Session {
    id: String,
    principal: String,
    /// SHA-256 (hex) of the current resume token; the token itself is never kept.
    token_hash: String,
    /// The negotiated features (the intersection, in the runtime's order).
    features: FeatureSet,
    conn: Option<ConnId>,
    /// The last `event_seq` stamped in this session.
    last_seq: u64,
    ring: EventRing,
    /// The resume window elapsed; only the record remains (resume: `RESUME_WINDOW_EXPIRED`).
    expired: bool,
    /// Unfinished jobs submitted by (or delegated within) this session.
    active_jobs: usize,
    /// A welcome for this session is waiting for the store.
    welcoming: bool,
    /// Every seq ≤ this is durable (with a store) and may be transmitted.
    durable_through: u64,
    /// Seqs above `durable_through` whose append already completed.
    appended: BTreeSet<u64>,
    /// Detached and resumable: its place in the detach order (`Sessions::detached`).
    detached_at: Option<u64>,
    /// The client said `session.bye`: nothing waits on this session (its ring drops the
    /// oldest past the caps) until it resumes.
    said_bye: bool,
    /// A resume is replaying from the store, page by page: the next page starts after this
    /// seq; live frames wait until the replay reaches the ring.
    store_next: Option<u64>,
    /// A page read is with the store.
    store_reading: bool,
    /// Unnumbered frames that go out right after the numbered frame with this seq is queued
    /// on `conn` ([`after`]): answers that must not overtake what was stamped before them.
    after: Held,
}

impl Session {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// `true` when `feature` was negotiated.
    #[inline]
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(feature)
    }

    /// The connection it is attached to.
    pub fn conn(&self) -> Option<ConnId> {
        self.conn
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    pub fn active_jobs(&self) -> usize {
        self.active_jobs
    }

    /// The kept frames of job `job_id` after `from`, with their seqs (subscription history,
    /// [D10]).
    ///
    /// [D10]: crate::compat#d10--subscribed-events
    pub fn history(&self, job_id: &str, from: u64) -> Vec<(u64, usize, Message)> {
        self.ring
            .after(from)
            .filter(|e| !e.copy && e.frame.job_id.as_deref() == Some(job_id))
            .map(|e| (e.seq, e.encoded.len(), e.frame.message.clone()))
            .collect()
    }

    /// Every seq ≤ this is no longer kept in the ring (acked, evicted or restored).
    pub fn freed_through(&self) -> u64 {
        self.ring.freed_through()
    }

    /// What the ring may evict: see [`ring`].
    fn evict(&self, durable: bool) -> Evict {
        if durable {
            Evict::DurableThrough(self.durable_through)
        } else if self.said_bye {
            Evict::Oldest
        } else {
            Evict::Delivered
        }
    }

    /// Frames and encoded bytes kept in the ring.
    pub fn retained(&self) -> (usize, usize) {
        (self.ring.len(), self.ring.bytes())
    }
}

/// Where a frame went when a session stamped it.
#[derive(Debug)]
pub(super) enum Stamp {
    /// Unknown or expired session: not kept, no seq.
    Dropped,
    /// Kept; with a durable store it goes out once this append (of one frame, ready for
    /// `Effect::AppendEvents`) completed (write-ahead).
    Append { seq: u64, records: Vec<StoredFrame> },
    /// Kept and durable: send it on `conn` when the session is attached.
    Send {
        seq: u64,
        conn: Option<ConnId>,
        frame: Arc<Frame>,
        encoded: Bytes,
    },
}

/// What a completed append releases.
#[derive(Debug, PartialEq)]
pub(super) enum Appended {
    /// Nothing to send now (unknown session, detached, or its welcome is waiting).
    Nothing,
    /// These frames became durable and go out on `conn`, in seq order (none while an
    /// earlier seq is still being appended).
    Send(ConnId, Vec<(Arc<Frame>, Bytes)>),
    /// The ring dropped a frame before it became durable: close `conn`; the client resumes
    /// from the store.
    Lost(ConnId),
}

/// What a resume replays from (after its checks passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResumeFrom {
    /// Everything after the client's seq is still in the ring.
    Ring,
    /// The ring no longer covers it; the durable store is read first (`ReadEvents`).
    Store,
}

/// What the resume window's deadline finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// Gone or attached again: nothing.
    Kept,
    /// A resume of it is being welcomed: check again shortly.
    Welcoming,
    /// Expired now: ring freed; its subscriptions must end.
    Expired,
}

/// Every session, keyed by its id.
#[derive(Debug)]
pub(super) struct Sessions {
    map: FxHashMap<String, Session>,
    caps: RingCaps,
    /// A durable store is configured: stamped frames wait for their append.
    durable: bool,
    /// Encoded bytes kept in the rings.
    bytes: RingBytes,
    /// Detached, resumable sessions, oldest detach first.
    detached: BTreeMap<u64, String>,
    /// Detached, resumable sessions per principal.
    detached_per_principal: FxHashMap<String, usize>,
    /// The next place in the detach order.
    next_detach: u64,
    /// Unfinished jobs per principal over all its sessions (the sum of their
    /// `active_jobs`, kept here so a submit's limit check does not walk every session).
    active_per_principal: FxHashMap<String, usize>,
    /// Frames held in the sessions' `after` lists, over all sessions.
    held_after: usize,
}

/// The encoded bytes kept in the rings of all sessions, and of those in detached (resumable)
/// sessions' rings.
#[derive(Debug, Default)]
struct RingBytes {
    kept: usize,
    resumable: usize,
}

impl RingBytes {
    /// Runs `change` on `ring` (of a resumable session when `detached`) and moves the totals
    /// by the bytes it added or freed.
    #[inline]
    fn track<R>(
        &mut self,
        detached: bool,
        ring: &mut EventRing,
        change: impl FnOnce(&mut EventRing) -> R,
    ) -> R {
        let before = ring.bytes();
        let r = change(ring);
        let after = ring.bytes();
        self.kept = self.kept.saturating_sub(before).saturating_add(after);
        if detached {
            self.resumable = self.resumable.saturating_sub(before).saturating_add(after);
        }
        r
    }
}

fn window_expired(last: u64, freed: u64, request_id: &str) -> ErrorPayload {
    ErrorPayload::new(
        ErrorCode::ResumeWindowExpired,
        format!(
            "events after {last} are no longer buffered (kept from {})",
            freed + 1
        ),
    )
    .with_request_id(request_id)
}

impl Sessions {
    pub fn new(bounds: &Bounds, durable: bool) -> Self {
        Sessions {
            map: FxHashMap::default(),
            caps: RingCaps {
                max_events: bounds.max_ring_events,
                max_bytes: bounds.max_ring_bytes,
                margin_events: bounds.ring_margin_events as u64,
                margin_bytes: bounds.ring_margin_bytes as u64,
            },
            durable,
            bytes: RingBytes::default(),
            detached: BTreeMap::new(),
            detached_per_principal: FxHashMap::default(),
            next_detach: 0,
            active_per_principal: FxHashMap::default(),
            held_after: 0,
        }
    }

    fn session(
        &self,
        id: String,
        principal: String,
        hash: String,
        features: FeatureSet,
    ) -> Session {
        Session {
            id,
            principal,
            token_hash: hash,
            features,
            conn: None,
            last_seq: 0,
            ring: EventRing::new(self.caps),
            expired: false,
            active_jobs: 0,
            welcoming: false,
            durable_through: 0,
            appended: BTreeSet::new(),
            detached_at: None,
            said_bye: false,
            store_next: None,
            store_reading: false,
            after: Held::default(),
        }
    }

    /// Puts `s` (not expired, not attached) in the detach order.
    fn mark_detached(&mut self, id: &str) {
        let Some(s) = self.map.get_mut(id) else {
            return;
        };
        if s.detached_at.is_some() || s.expired {
            return;
        }
        let at = self.next_detach;
        self.next_detach += 1;
        s.detached_at = Some(at);
        self.bytes.resumable = self.bytes.resumable.saturating_add(s.ring.bytes());
        self.detached.insert(at, s.id.clone());
        *self
            .detached_per_principal
            .entry(s.principal.clone())
            .or_insert(0) += 1;
    }

    /// Takes `id` out of the detach order (attached again, or expired).
    fn unmark_detached(&mut self, id: &str) {
        let Some(s) = self.map.get_mut(id) else {
            return;
        };
        let Some(at) = s.detached_at.take() else {
            return;
        };
        self.bytes.resumable = self.bytes.resumable.saturating_sub(s.ring.bytes());
        self.detached.remove(&at);
        if let Some(n) = self.detached_per_principal.get_mut(&s.principal) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.detached_per_principal.remove(&s.principal);
            }
        }
    }

    /// The byte and resumable-session accounting recomputed from scratch: (kept bytes,
    /// resumable bytes, largest count of resumable sessions of one principal). For the
    /// simulation's invariants.
    #[cfg(feature = "fuzzing")]
    pub fn recount(&self) -> (usize, usize, usize) {
        let mut per: FxHashMap<&str, usize> = FxHashMap::default();
        let (mut kept, mut resumable) = (0, 0);
        for s in self.map.values() {
            kept += s.ring.bytes();
            if s.detached_at.is_some() {
                resumable += s.ring.bytes();
                *per.entry(s.principal.as_str()).or_insert(0) += 1;
            }
        }
        (kept, resumable, per.values().copied().max().unwrap_or(0))
    }

    /// Encoded bytes kept in every session's ring.
    pub fn kept_bytes(&self) -> usize {
        self.bytes.kept
    }

    /// Encoded bytes kept in the rings of detached (resumable) sessions.
    pub fn resumable_bytes(&self) -> usize {
        self.bytes.resumable
    }

    /// Detached, resumable sessions (within their resume window).
    pub fn resumable(&self) -> usize {
        self.detached.len()
    }

    /// Detached, resumable sessions of `principal`.
    pub fn resumable_of(&self, principal: &str) -> usize {
        self.detached_per_principal
            .get(principal)
            .copied()
            .unwrap_or(0)
    }

    /// The resumable session to expire first when a resumable-session cap is exceeded: the
    /// one detached longest ago (of `principal` when given), skipping one whose resume is
    /// being welcomed.
    pub fn oldest_resumable(&self, principal: Option<&str>) -> Option<String> {
        self.detached
            .values()
            .filter_map(|id| self.map.get(id))
            .find(|s| !s.welcoming && principal.is_none_or(|p| p == s.principal))
            .map(|s| s.id.clone())
    }

    /// A new session (not yet attached; its token is set by the welcome).
    pub fn create(&mut self, id: String, principal: String, features: FeatureSet) {
        let s = self.session(id.clone(), principal, String::new(), features);
        let old = self.map.insert(id, s);
        self.uncount(old.as_ref());
    }

    /// A session rebuilt from its durable record: detached, everything so far in the store
    /// only (a resume reads it back), expired when its window already closed.
    pub fn restore(&mut self, r: SessionRecord, expired: bool) {
        let mut s = self.session(
            r.session_id.clone().into(),
            r.principal,
            r.resume_token_hash,
            r.features,
        );
        s.last_seq = r.last_event_seq;
        s.durable_through = r.last_event_seq;
        s.ring.mark_freed(r.last_event_seq);
        s.expired = expired;
        let id: String = r.session_id.into();
        let old = self.map.insert(id.clone(), s);
        self.uncount(old.as_ref());
        self.mark_detached(&id);
    }

    #[inline]
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.map.get(id)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops one expired session record to make room; `false` when there is none.
    pub fn forget_expired(&mut self) -> bool {
        let victim = self
            .map
            .iter()
            .find(|(_, s)| s.expired)
            .map(|(k, _)| k.clone());
        match victim {
            Some(k) => {
                self.unmark_detached(&k);
                let gone = self.map.remove(&k);
                self.uncount(gone.as_ref());
                true
            }
            None => false,
        }
    }

    /// Forgets `id` entirely, whatever its state (another cluster node owns it now); `false`
    /// when unknown.
    pub fn forget(&mut self, id: &str) -> bool {
        self.unmark_detached(id);
        match self.map.remove(id) {
            Some(s) => {
                self.held_after -= s.after.len();
                self.bytes.kept = self.bytes.kept.saturating_sub(s.ring.bytes());
                self.uncount(Some(&s));
                true
            }
            None => false,
        }
    }

    /// Forgets `id` when it is expired and none of its jobs runs: `Some(true)` forgotten,
    /// `Some(false)` expired but its jobs run, `None` unknown or not expired.
    pub fn forget_if_expired(&mut self, id: &str) -> Option<bool> {
        let s = self.map.get(id).filter(|s| s.expired)?;
        if s.active_jobs > 0 {
            return Some(false);
        }
        self.unmark_detached(id);
        self.map.remove(id);
        Some(true)
    }

    /// Live sessions `principal` holds: attached, or new and being welcomed (not detached,
    /// not expired).
    pub fn held_by(&self, principal: &str) -> usize {
        self.map
            .values()
            .filter(|s| !s.expired && s.detached_at.is_none() && s.principal == principal)
            .count()
    }

    /// Unfinished jobs of `principal` over all its sessions.
    pub fn active_jobs_of(&self, principal: &str) -> usize {
        self.active_per_principal
            .get(principal)
            .copied()
            .unwrap_or(0)
    }

    /// One more unfinished job on `id`.
    pub fn add_job(&mut self, id: &str) {
        if let Some(s) = self.map.get_mut(id) {
            s.active_jobs += 1;
            match self.active_per_principal.get_mut(&s.principal) {
                Some(n) => *n += 1,
                None => {
                    self.active_per_principal.insert(s.principal.clone(), 1);
                }
            }
        }
    }

    /// One job of `id` ended (or never started).
    pub fn release_job(&mut self, id: &str) {
        if let Some(s) = self.map.get_mut(id)
            && s.active_jobs > 0
        {
            s.active_jobs -= 1;
            Self::count_down(&mut self.active_per_principal, &s.principal, 1);
        }
    }

    /// A session left the map (forgotten or replaced): its unfinished jobs no longer count.
    fn uncount(&mut self, gone: Option<&Session>) {
        if let Some(s) = gone.filter(|s| s.active_jobs > 0) {
            Self::count_down(&mut self.active_per_principal, &s.principal, s.active_jobs);
        }
    }

    fn count_down(per: &mut FxHashMap<String, usize>, principal: &str, n: usize) {
        if let Some(c) = per.get_mut(principal) {
            *c = c.saturating_sub(n);
            if *c == 0 {
                per.remove(principal);
            }
        }
    }

    /// Stamps `frame` with the session's next `event_seq` and keeps it in the ring, encoded
    /// once (into `scratch`): the ring sizes, replays and transmits those bytes.
    #[inline]
    pub fn stamp(
        &mut self,
        id: &str,
        mut frame: Frame,
        scratch: &mut Scratch,
        copy: bool,
    ) -> Stamp {
        let Some(s) = self.map.get_mut(id) else {
            return Stamp::Dropped;
        };
        if s.expired {
            return Stamp::Dropped;
        }
        s.last_seq += 1;
        let seq = s.last_seq;
        frame.session_id = Some(s.id.clone().into());
        frame.event_seq = Some(seq);
        let evict = s.evict(self.durable);
        let (kept, encoded) = self.bytes.track(s.detached_at.is_some(), &mut s.ring, |r| {
            r.push(seq, frame, scratch, evict, copy)
        });
        if self.durable {
            // §9.8: no credential value in durable storage. Otherwise the store shares the
            // ring's frame and bytes.
            let (frame, encoded) = if super::redact::carries_credential(&kept) {
                let mut frame = Frame::clone(&kept);
                super::redact::redact_frame(&mut frame);
                let encoded = Bytes::from(frame.encode());
                (Arc::new(frame), encoded)
            } else {
                (kept, encoded)
            };
            let record = StoredFrame {
                session_id: s.id.clone().into(),
                event_seq: seq,
                job_id: frame.job_id.clone(),
                frame,
                encoded,
            };
            return Stamp::Append {
                seq,
                records: vec![record],
            };
        }
        s.durable_through = seq;
        Stamp::Send {
            seq,
            conn: s.conn,
            frame: kept,
            encoded,
        }
    }

    /// `session.ack` ([D5]): frees the ring up to `seq` (at most the last stamped).
    ///
    /// [D5]: crate::compat#d5--ack
    pub fn ack(&mut self, id: &str, seq: u64) {
        if let Some(s) = self.map.get_mut(id) {
            let upto = seq.min(s.last_seq);
            self.bytes
                .track(s.detached_at.is_some(), &mut s.ring, |r| r.ack(upto));
        }
    }

    /// `true` when session `id`'s buffer is full: the jobs it submitted wait, and a
    /// subscription feeding it is truncated. Never for an unknown or expired session, nor
    /// after `session.bye` without a durable store.
    #[inline]
    pub fn full(&self, id: &str) -> bool {
        self.map
            .get(id)
            .is_some_and(|s| !s.expired && s.ring.full(s.evict(self.durable)))
    }

    /// How many more events and encoded bytes session `id` takes before it is
    /// [full](Self::full) (none for an unknown or expired session).
    pub fn room(&self, id: &str) -> (u64, u64) {
        self.map
            .get(id)
            .filter(|s| !s.expired)
            .map_or((0, 0), |s| s.ring.room(s.evict(self.durable)))
    }

    /// Frame `seq` of session `id` was handed to the transport of `conn`; counts only when
    /// `conn` is the session's connection.
    #[inline]
    /// Returns what [`Sessions::store_replaying`] says of `id` (`None` for an unknown
    /// session), from the same lookup.
    pub fn delivered(&mut self, id: &str, conn: ConnId, seq: u64) -> Option<bool> {
        let s = self.map.get_mut(id)?;
        if s.conn == Some(conn) {
            s.ring.delivered(seq);
            // Over a cap, what just left the margin goes now.
            let evict = s.evict(self.durable);
            self.bytes
                .track(s.detached_at.is_some(), &mut s.ring, |r| r.evict(evict));
        }
        Some(s.store_next.is_some())
    }

    /// The client said `session.bye`: without a durable store nothing waits on the session
    /// any more; its ring drops the oldest past the caps until it resumes.
    pub fn said_bye(&mut self, id: &str) {
        if let Some(s) = self.map.get_mut(id) {
            s.said_bye = true;
            let evict = s.evict(self.durable);
            self.bytes
                .track(s.detached_at.is_some(), &mut s.ring, |r| r.evict(evict));
        }
    }

    /// Attaches `id` to `conn`; `resumed_after` is a resume's `last_event_seq` (everything
    /// after it is undelivered again: it is replayed).
    pub fn attach(&mut self, id: &str, conn: ConnId, resumed_after: Option<u64>) {
        self.unmark_detached(id);
        if let Some(s) = self.map.get_mut(id) {
            s.conn = Some(conn);
            s.said_bye = false;
            if let Some(last) = resumed_after {
                s.ring.resumed(last);
            }
        }
    }

    /// Detaches `id` from `conn`; `false` when it was not attached to it.
    pub fn detach(&mut self, id: &str, conn: ConnId) -> bool {
        match self.map.get_mut(id) {
            Some(s) if s.conn == Some(conn) => {
                s.conn = None;
                s.store_next = None;
                self.held_after -= s.after.clear();
                self.mark_detached(id);
                true
            }
            _ => false,
        }
    }

    /// The resume window of `id` elapsed (§6.7).
    pub fn expire(&mut self, id: &str) -> Expiry {
        let Some(s) = self.map.get_mut(id) else {
            return Expiry::Kept;
        };
        if s.conn.is_some() {
            return Expiry::Kept;
        }
        if s.welcoming {
            return Expiry::Welcoming;
        }
        s.expired = true;
        let freed = s.ring.bytes();
        self.bytes.kept = self.bytes.kept.saturating_sub(freed);
        self.unmark_detached(id);
        if let Some(s) = self.map.get_mut(id) {
            s.ring.clear();
        }
        Expiry::Expired
    }

    /// Replaces the resume token by `token`'s hash; returns the previous hash.
    pub fn rotate_token(&mut self, id: &str, token: &str) -> Option<String> {
        let s = self.map.get_mut(id)?;
        Some(std::mem::replace(&mut s.token_hash, token_hash(token)))
    }

    /// Puts back a previous token hash (the welcome that rotated it failed).
    pub fn restore_token(&mut self, id: &str, hash: String) {
        if let Some(s) = self.map.get_mut(id) {
            s.token_hash = hash;
        }
    }

    /// Marks `id` as being welcomed (waiting for the store) or not.
    pub fn set_welcoming(&mut self, id: &str, welcoming: bool) {
        if let Some(s) = self.map.get_mut(id) {
            s.welcoming = welcoming;
        }
    }

    /// Drops `feature` from `id`'s negotiated features.
    pub fn remove_feature(&mut self, id: &str, feature: crate::wire::Feature) {
        if let Some(s) = self.map.get_mut(id) {
            s.features.remove(feature);
        }
    }

    /// Renegotiated features (a resume with a new hello).
    pub fn set_features(&mut self, id: &str, features: FeatureSet) {
        if let Some(s) = self.map.get_mut(id) {
            s.features = features;
        }
    }

    /// Checks a resume ([D2], [D4], [D5]): token and principal without destroying the record; a
    /// gap below what the ring keeps is `RESUME_WINDOW_EXPIRED` unless a durable store may
    /// still have it. `principal` is `None` for a bare `session.resume`.
    ///
    /// [D2]: crate::compat#d2--resume
    /// [D4]: crate::compat#d4--failed-resume
    /// [D5]: crate::compat#d5--ack
    pub fn check_resume(
        &self,
        r: &ResumeRequest,
        principal: Option<&str>,
        request_id: &str,
    ) -> Result<ResumeFrom, ErrorPayload> {
        let deny =
            |m: &str| ErrorPayload::new(ErrorCode::PermissionDenied, m).with_request_id(request_id);
        let presented = token_hash(&r.resume_token);
        match self.map.get(r.session_id.as_str()) {
            None => Err(deny("no resumable session")),
            Some(s) if principal.is_some_and(|p| p != s.principal) => {
                Err(deny("no resumable session"))
            }
            Some(s) if !same_secret(&s.token_hash, &presented) => Err(deny("invalid resume token")),
            Some(s) if s.expired => Err(ErrorPayload::new(
                ErrorCode::ResumeWindowExpired,
                "resume window elapsed",
            )
            .with_request_id(request_id)),
            Some(s) if s.conn.is_some() || s.welcoming => {
                Err(deny("session is attached to a connection"))
            }
            Some(s) if !s.ring.covers_after(r.last_event_seq) && self.durable => {
                Ok(ResumeFrom::Store)
            }
            Some(s) if !s.ring.covers_after(r.last_event_seq) => Err(window_expired(
                r.last_event_seq,
                s.ring.freed_through(),
                request_id,
            )),
            Some(_) => Ok(ResumeFrom::Ring),
        }
    }

    /// The frames the store returned for a resume of `id` after `last`: they must cover
    /// every seq the ring freed (`false`: complete), or be a gap-free page of them starting at
    /// `last + 1` (`true`: read on after it). `Err` is the refusal.
    pub fn stored_replay(
        &self,
        id: &str,
        last: u64,
        frames: Option<Vec<Frame>>,
        request_id: &str,
    ) -> Result<(Vec<Frame>, bool), ErrorPayload> {
        let need = self.map.get(id).map_or(0, |s| s.ring.freed_through());
        let mut got: Vec<Frame> = frames
            .unwrap_or_default()
            .into_iter()
            .filter(|f| f.event_seq.is_some_and(|q| q > last && q <= need))
            .collect();
        got.sort_by_key(|f| f.event_seq);
        got.dedup_by_key(|f| f.event_seq);
        let gap_free = got
            .iter()
            .zip(last + 1..)
            .all(|(f, q)| f.event_seq == Some(q));
        if got.len() as u64 == need.saturating_sub(last) {
            Ok((got, false))
        } else if gap_free && !got.is_empty() {
            Ok((got, true))
        } else {
            Err(window_expired(last, need, request_id))
        }
    }

    /// A resume of `id` (attached to `conn`) reads on from the store after `after`, or
    /// (`None`) is done with it.
    pub fn set_store_next(&mut self, id: &str, after: Option<u64>) {
        if let Some(s) = self.map.get_mut(id) {
            s.store_next = after;
        }
    }

    /// `true` while a resume of `id` replays from the store.
    #[inline]
    pub fn store_replaying(&self, id: &str) -> bool {
        self.map.get(id).is_some_and(|s| s.store_next.is_some())
    }

    /// The next store page to read for `id` on `conn`: its `after`, marked as reading; `None`
    /// when none is due (no store replay, one already reading, or another connection).
    pub fn store_page_due(&mut self, id: &str, conn: ConnId) -> Option<u64> {
        let s = self.map.get_mut(id)?;
        if s.conn != Some(conn) || s.store_reading {
            return None;
        }
        let after = s.store_next?;
        s.store_reading = true;
        Some(after)
    }

    /// A page read for `id` came back: `Some(after)` when it still belongs to the replay of
    /// the session on `conn`.
    pub fn store_page_done(&mut self, id: &str, conn: ConnId) -> Option<u64> {
        let s = self.map.get_mut(id)?;
        s.store_reading = false;
        if s.conn != Some(conn) {
            return None;
        }
        s.store_next
    }

    /// The ring's frames after `after` that are durable (a resume's replay, [D3]).
    ///
    /// [D3]: crate::compat#d3--resume-of-a-running-job
    pub fn replay(&self, id: &str, after: u64) -> Vec<(Arc<Frame>, Bytes)> {
        self.map.get(id).map_or_else(Vec::new, |s| {
            s.ring
                .after(after)
                .take_while(|e| e.seq <= s.durable_through)
                .map(|e: &RingEntry| (e.frame.clone(), e.encoded.clone()))
                .collect()
        })
    }

    /// Whether the ring holds every durable frame after `after` (a resume's replay can go on
    /// from the ring): `false` when a frame that became durable while the welcome or a store
    /// page was pending has left the ring (the store keeps it; it must be read from there).
    pub fn ring_continues(&self, id: &str, after: u64) -> bool {
        self.map.get(id).is_none_or(|s| {
            s.durable_through <= after
                || s.ring
                    .after(after)
                    .next()
                    .is_some_and(|e| e.seq == after + 1)
        })
    }

    /// The append of `seq` completed: every frame that is now durable goes out, in order.
    pub fn append_done(&mut self, id: &str, seq: u64) -> Appended {
        let Some(s) = self.map.get_mut(id) else {
            return Appended::Nothing;
        };
        s.appended.insert(seq);
        let from = s.durable_through;
        while s.appended.remove(&(s.durable_through + 1)) {
            s.durable_through += 1;
        }
        let to = s.durable_through;
        // Not while a welcome or a store replay is in progress: the replay sends them.
        let conn = s.conn.filter(|_| !s.welcoming && s.store_next.is_none());
        let frames: Vec<_> = match conn {
            Some(_) => s
                .ring
                .after(from)
                .take_while(|e| e.seq <= to)
                .map(|e| (e.frame.clone(), e.encoded.clone()))
                .collect(),
            None => Vec::new(),
        };
        // What became durable may leave the ring now (the store keeps it); a frame is never
        // evicted before it is durable, so `Lost` is a defence only.
        self.bytes.track(s.detached_at.is_some(), &mut s.ring, |r| {
            r.evict(Evict::DurableThrough(to))
        });
        let Some(conn) = conn else {
            return Appended::Nothing;
        };
        if frames.len() as u64 != to - from {
            return Appended::Lost(conn);
        }
        Appended::Send(conn, frames)
    }

    /// Keeps `frame`, an unnumbered answer, until session `id`'s last stamped frame is
    /// queued on its connection ([`after`]), at most `cap` per session. Without a durable
    /// store every stamped frame of an attached session is queued at once.
    pub fn hold_after(&mut self, id: &str, frame: Box<Frame>, cap: usize) -> After {
        let Some(s) = self
            .map
            .get_mut(id)
            .filter(|s| self.durable && s.conn.is_some())
        else {
            return After::Now(frame);
        };
        // A frame stamped so far may still be queued later: not yet durable, a resume's
        // replay in progress, or answers already waiting.
        let behind = s.durable_through < s.last_seq
            || s.store_next.is_some()
            || s.welcoming
            || !s.after.is_empty();
        if !behind {
            return After::Now(frame);
        }
        if s.after.len() >= cap {
            return After::Full;
        }
        s.after.push(s.last_seq, frame);
        self.held_after += 1;
        After::Held
    }

    /// `true` when some session holds answers (the transmit path then asks
    /// [`Sessions::released`]).
    #[inline]
    pub fn holds_after(&self) -> bool {
        self.held_after > 0
    }

    /// The numbered frame `seq` of session `id` was just queued: the answers held behind it
    /// (or an earlier seq), in order, each with the seq it waited for.
    pub fn released(&mut self, id: &str, seq: u64) -> Vec<(u64, Box<Frame>)> {
        let Some(s) = self.map.get_mut(id) else {
            return Vec::new();
        };
        let out = s.after.release(seq);
        self.held_after -= out.len();
        out
    }

    /// The durable record of `id`; `window` is when its resume window closes, if detached.
    pub fn record(&self, id: &str, window: Option<Timestamp>) -> Option<SessionRecord> {
        let s = self.map.get(id)?;
        Some(SessionRecord {
            session_id: s.id.clone().into(),
            principal: s.principal.clone(),
            resume_token_hash: s.token_hash.clone(),
            last_event_seq: s.last_seq,
            window_expires_at: window,
            features: s.features,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ack;

    fn frame(job: &str) -> Frame {
        Frame::new(
            "01M85JT4SBERX8YG2FYV5KWFFN",
            Message::Ack(Ack {
                last_processed_seq: 0,
            }),
        )
        .with_job(job)
    }

    fn sessions(durable: bool) -> Sessions {
        let bounds = Bounds {
            max_ring_events: 3,
            ..Bounds::default()
        };
        let mut s = Sessions::new(&bounds, durable);
        s.create(
            "sess_1".into(),
            "alice".into(),
            FeatureSet::from(Feature::Ack),
        );
        s
    }

    fn resume(last: u64, token: &str) -> ResumeRequest {
        ResumeRequest {
            session_id: "sess_1".into(),
            resume_token: token.into(),
            last_event_seq: last,
        }
    }

    #[test]
    fn stamping_numbers_each_session_and_sends_to_its_connection() {
        let mut s = sessions(false);
        s.create("sess_2".into(), "bob".into(), FeatureSet::empty());
        s.attach("sess_1", ConnId(4), None);
        let mut scratch = Scratch::default();
        let Stamp::Send {
            seq,
            conn,
            frame,
            encoded,
        } = s.stamp("sess_1", frame("job_1"), &mut scratch, false)
        else {
            panic!("sent");
        };
        assert_eq!((seq, conn), (1, Some(ConnId(4))));
        assert_eq!(frame.session_id.as_deref(), Some("sess_1"));
        assert_eq!(frame.event_seq, Some(1));
        assert_eq!(&encoded[..], &frame.encode()[..]);
        assert!(matches!(
            s.stamp("sess_2", frame_of(), &mut scratch, false),
            Stamp::Send {
                seq: 1,
                conn: None,
                ..
            }
        ));
        assert!(matches!(
            s.stamp("sess_9", frame_of(), &mut scratch, false),
            Stamp::Dropped
        ));
        assert_eq!(s.get("sess_1").map(Session::last_seq), Some(1));
        assert!(
            s.get("sess_1")
                .is_some_and(|x| x.has(Feature::Ack) && !x.has(Feature::Subscribe))
        );
    }

    fn frame_of() -> Frame {
        frame("job_2")
    }

    #[test]
    fn durable_stamps_wait_for_their_appends_in_order() {
        let mut s = sessions(true);
        s.attach("sess_1", ConnId(4), None);
        let mut scratch = Scratch::default();
        for want in 1..=2 {
            match s.stamp("sess_1", frame("job_1"), &mut scratch, false) {
                Stamp::Append { seq, records } => {
                    assert_eq!(seq, want);
                    let [r] = records.as_slice() else {
                        panic!("one record");
                    };
                    assert_eq!((r.event_seq, r.session_id.as_str()), (want, "sess_1"));
                    assert_eq!(r.job_id.as_deref(), Some("job_1"));
                }
                other => panic!("append expected, got {other:?}"),
            }
        }
        // The second append completes first: nothing may go out before seq 1.
        assert_eq!(
            s.append_done("sess_1", 2),
            Appended::Send(ConnId(4), Vec::new())
        );
        let Appended::Send(conn, frames) = s.append_done("sess_1", 1) else {
            panic!("both frames released");
        };
        assert_eq!(conn, ConnId(4));
        let seqs: Vec<_> = frames.iter().map(|(f, _)| f.event_seq).collect();
        assert_eq!(seqs, vec![Some(1), Some(2)]);
        assert_eq!(s.replay("sess_1", 1).len(), 1);
    }

    #[test]
    fn durable_sessions_keep_every_frame_until_it_is_durable_then_cache() {
        let mut s = sessions(true);
        s.attach("sess_1", ConnId(4), None);
        let mut scratch = Scratch::default();
        for _ in 0..4 {
            s.stamp("sess_1", frame("job_1"), &mut scratch, false);
        }
        // The ring keeps 3, but nothing is durable yet: all four stay, the session is full.
        assert_eq!(s.get("sess_1").map(Session::retained).map(|r| r.0), Some(4));
        assert!(s.full("sess_1"));
        let Appended::Send(_, frames) = s.append_done("sess_1", 1) else {
            panic!("seq 1 released");
        };
        assert_eq!(frames.len(), 1);
        // Seq 1 is in the store now and left the ring; 2..=4 are three, not durable: full.
        assert_eq!(s.get("sess_1").map(Session::retained).map(|r| r.0), Some(3));
        assert!(s.full("sess_1"));
        s.append_done("sess_1", 2);
        assert!(!s.full("sess_1"));
        // Bye changes nothing with a store: only durability holds jobs back.
        s.said_bye("sess_1");
        assert_eq!(s.get("sess_1").map(Session::retained).map(|r| r.0), Some(3));
    }

    #[test]
    fn without_a_store_undelivered_frames_fill_the_session_until_delivered_or_bye() {
        let mut s = sessions(false);
        s.attach("sess_1", ConnId(4), None);
        let mut scratch = Scratch::default();
        for _ in 0..3 {
            s.stamp("sess_1", frame("job_1"), &mut scratch, false);
        }
        assert!(s.full("sess_1"));
        // Delivery on another connection does not count.
        s.delivered("sess_1", ConnId(5), 3);
        assert!(s.full("sess_1"));
        s.delivered("sess_1", ConnId(4), 1);
        assert!(!s.full("sess_1"));
        for _ in 0..2 {
            s.stamp("sess_1", frame("job_1"), &mut scratch, false);
        }
        assert!(s.full("sess_1"));
        assert_eq!(s.get("sess_1").map(Session::retained).map(|r| r.0), Some(5));
        s.said_bye("sess_1");
        assert!(!s.full("sess_1"));
        assert_eq!(s.get("sess_1").map(Session::retained).map(|r| r.0), Some(3));
        assert_eq!(s.get("sess_1").map(Session::freed_through), Some(2));
        // A resume after 3 attaches again: 4 and 5 are undelivered, bye no longer applies.
        s.detach("sess_1", ConnId(4));
        s.attach("sess_1", ConnId(6), Some(3));
        for _ in 0..1 {
            s.stamp("sess_1", frame("job_1"), &mut scratch, false);
        }
        assert!(s.full("sess_1"));
        s.set_welcoming("sess_1", false);
        s.detach("sess_1", ConnId(6));
        assert_eq!(s.expire("sess_1"), Expiry::Expired);
        assert!(!s.full("sess_1"));
    }

    #[test]
    fn ack_frees_only_what_was_stamped_d5() {
        let mut s = sessions(false);
        let mut scratch = Scratch::default();
        for _ in 0..2 {
            s.stamp("sess_1", frame("job_1"), &mut scratch, false);
        }
        s.ack("sess_1", 99);
        assert_eq!(s.replay("sess_1", 0).len(), 0);
        s.rotate_token("sess_1", "rtk_a");
        // Acked through 2 (the last stamped), not 99: a resume from 2 is still whole.
        assert_eq!(
            s.check_resume(&resume(2, "rtk_a"), None, "r"),
            Ok(ResumeFrom::Ring)
        );
        assert_eq!(
            s.check_resume(&resume(1, "rtk_a"), None, "r")
                .map_err(|e| e.message),
            Err("events after 1 are no longer buffered (kept from 3)".to_owned())
        );
    }

    #[test]
    fn resume_checks_token_principal_attachment_and_window_d4() {
        let mut s = sessions(false);
        assert_eq!(s.rotate_token("sess_1", "rtk_a"), Some(String::new()));
        let refused = |s: &Sessions, r: ResumeRequest, p: Option<&str>| {
            s.check_resume(&r, p, "req_1")
                .map_err(|e| (e.code, e.message, e.request_id.map(String::from)))
        };
        let denied = |m: &str| {
            Err((
                ErrorCode::PermissionDenied,
                m.to_owned(),
                Some("req_1".to_owned()),
            ))
        };
        assert_eq!(
            refused(&s, resume(0, "rtk_b"), None),
            denied("invalid resume token")
        );
        assert_eq!(
            refused(&s, resume(0, "rtk_a"), Some("bob")),
            denied("no resumable session")
        );
        let mut other = resume(0, "rtk_a");
        other.session_id = "sess_9".into();
        assert_eq!(refused(&s, other, None), denied("no resumable session"));
        s.attach("sess_1", ConnId(1), None);
        assert_eq!(
            refused(&s, resume(0, "rtk_a"), Some("alice")),
            denied("session is attached to a connection")
        );
        assert!(s.detach("sess_1", ConnId(1)));
        assert!(!s.detach("sess_1", ConnId(1)));
        assert_eq!(
            refused(&s, resume(0, "rtk_a"), Some("alice")),
            Ok(ResumeFrom::Ring)
        );
        s.set_welcoming("sess_1", true);
        assert_eq!(s.expire("sess_1"), Expiry::Welcoming);
        s.set_welcoming("sess_1", false);
        assert_eq!(s.expire("sess_1"), Expiry::Expired);
        assert_eq!(
            refused(&s, resume(0, "rtk_a"), None),
            Err((
                ErrorCode::ResumeWindowExpired,
                "resume window elapsed".to_owned(),
                Some("req_1".to_owned())
            ))
        );
        assert_eq!(s.held_by("alice"), 0);
        assert!(s.forget_expired());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn restored_sessions_resume_from_the_store_only() {
        let mut s = Sessions::new(&Bounds::default(), true);
        s.restore(
            SessionRecord {
                session_id: "sess_1".into(),
                principal: "alice".into(),
                resume_token_hash: token_hash("rtk_a"),
                last_event_seq: 5,
                window_expires_at: None,
                features: FeatureSet::from(Feature::Ack),
            },
            false,
        );
        assert_eq!(
            s.check_resume(&resume(3, "rtk_a"), Some("alice"), "r"),
            Ok(ResumeFrom::Store)
        );
        let stored = |seqs: &[u64]| {
            seqs.iter()
                .map(|q| frame("job_1").with_event_seq(*q))
                .collect::<Vec<_>>()
        };
        let got = s
            .stored_replay("sess_1", 3, Some(stored(&[5, 4, 4, 2])), "r")
            .map(|(f, more)| (f.iter().map(|f| f.event_seq).collect::<Vec<_>>(), more));
        assert_eq!(got, Ok((vec![Some(4), Some(5)], false)));
        // A gap-free page: read on after it.
        let page = s
            .stored_replay("sess_1", 3, Some(stored(&[4])), "r")
            .map(|(f, more)| (f.len(), more));
        assert_eq!(page, Ok((1, true)));
        let gap = s
            .stored_replay("sess_1", 3, Some(stored(&[5])), "r")
            .map_err(|e| (e.code, e.message));
        assert_eq!(
            gap.map(|_| ()),
            Err((
                ErrorCode::ResumeWindowExpired,
                "events after 3 are no longer buffered (kept from 6)".to_owned()
            ))
        );
        let rec = s.record("sess_1", None).expect("record");
        assert_eq!(
            (rec.last_event_seq, rec.resume_token_hash),
            (5, token_hash("rtk_a"))
        );
    }

    #[test]
    fn job_slots_count_per_principal() {
        let mut s = sessions(false);
        s.create("sess_2".into(), "alice".into(), FeatureSet::empty());
        s.add_job("sess_1");
        s.add_job("sess_2");
        s.add_job("sess_2");
        s.release_job("sess_2");
        s.release_job("sess_9");
        assert_eq!(s.active_jobs_of("alice"), 2);
        assert_eq!(s.held_by("alice"), 2);
        assert_eq!(s.get("sess_2").map(Session::active_jobs), Some(1));
        // A forgotten session's jobs no longer count; releasing below zero is a no-op.
        assert!(s.forget("sess_2"));
        s.release_job("sess_1");
        s.release_job("sess_1");
        assert_eq!(s.active_jobs_of("alice"), 0);
        s.add_job("sess_1");
        assert_eq!(s.active_jobs_of("alice"), 1);
        assert_eq!(s.active_jobs_of("bob"), 0);
    }
}
