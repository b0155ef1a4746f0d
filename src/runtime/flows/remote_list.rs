//! (Clustered) `session.list_jobs` across nodes: the shared store's job records
//! ([`Effect::ListStoredJobs`]) merged with the jobs held here (a held job wins over its
//! record), then the usual filters, order and paging ([D11]).
//!
//! [D11]: crate::compat#d11--job-list-entries

use crate::runtime::Runtime;
use crate::runtime::effect::{ConnId, Effect, EffectOutcome};
use crate::runtime::subscriptions::{RemoteAsk, RemoteRequest};
use crate::time::Instant;
use crate::wire::{ListJobs, Message};

impl Runtime {
    /// `session.list_jobs` on a node of a cluster: read the stored records first — the
    /// principal's, or everyone's for an observer.
    pub(in crate::runtime) fn list_jobs_remote(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        req: ListJobs,
    ) {
        let Some(principal) = self.sessions.get(sid).map(|s| s.principal().to_owned()) else {
            return;
        };
        let observer = self.cfg.observer_policy.observers.contains(&principal);
        let effect = Effect::ListStoredJobs {
            principal: (!observer).then_some(principal),
        };
        let req = RemoteRequest {
            conn,
            session_id: sid.to_owned(),
            request_id,
            ask: RemoteAsk::List(req),
        };
        self.ask_store(now, req, effect);
    }

    /// The stored records arrived: answer the listing with them and the held jobs.
    pub(in crate::runtime) fn stored_listed(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        req: ListJobs,
        outcome: EffectOutcome,
    ) {
        let Some(principal) = self.sessions.get(sid).map(|s| s.principal().to_owned()) else {
            return;
        };
        let stored = match outcome {
            EffectOutcome::JobsListed { jobs } => jobs,
            EffectOutcome::Failed { message } => {
                self.send_error(now, conn, Self::store_failed(&message, request_id));
                return;
            }
            _ => Vec::new(),
        };
        let policy = &self.cfg.observer_policy;
        match self
            .jobs
            .list_merged(&principal, policy, req, request_id, &stored)
        {
            Ok(page) => {
                let f = self.envelope(now, conn, Message::Jobs(page));
                self.transmit(conn, f);
            }
            Err(e) => self.send_error(now, conn, e),
        }
    }
}
