//! `session.list_jobs` → `session.jobs` (§6.6, [D11]): the query is the jobs part's
//! ([`Jobs::list`](crate::runtime::jobs::Jobs::list)); this answers it on the wire.
//!
//! [D11]: crate::compat#d11--job-list-entries

use crate::runtime::Runtime;
use crate::runtime::effect::ConnId;
use crate::time::Instant;
use crate::wire::{ListJobs, Message};

impl Runtime {
    pub(in crate::runtime) fn list_jobs(
        &mut self,
        now: Instant,
        conn: ConnId,
        sid: &str,
        request_id: String,
        req: ListJobs,
    ) {
        if self.clustered() {
            self.list_jobs_remote(now, conn, sid, request_id, req);
            return;
        }
        let Some(principal) = self.sessions.get(sid).map(|s| s.principal().to_owned()) else {
            return;
        };
        match self
            .jobs
            .list(&principal, &self.cfg.observer_policy, req, request_id)
        {
            Ok(page) => {
                let f = self.envelope(now, conn, Message::Jobs(page));
                self.transmit(conn, f);
            }
            Err(e) => self.send_error(now, conn, e),
        }
    }
}
