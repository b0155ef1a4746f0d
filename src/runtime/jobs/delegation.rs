//! Contained delegation (§10): who may attach a child to a parent job, the budget a child
//! reserves from its parent while it runs, and the live children a parent's end cancels.
//!
//! The arithmetic, per currency of the parent's `cost.budget`:
//! - at delegation the child's initial budget (what it names, plus what it inherits for the
//!   currencies it leaves out) is taken off the parent's counter; the subset rule has
//!   checked that it is at most what the parent had left;
//! - the child spends from its own counters only;
//! - when the child ends, its counters (what it did not spend; negative when it overspent,
//!   as costs are never refused) are added back to the parent's, so the parent is charged
//!   exactly what the child spent;
//! - while reservations are outstanding the parent's counters (its `job.subscribed`
//!   `budget`, its `cost.budget.remaining` metrics) show what the parent itself can still
//!   spend or delegate, reservations excluded.
//!
//! So at every moment the parent's counter plus its live children's reservations is at most
//! the parent's budget minus what the parent and its ended children spent.

use super::{Child, Jobs, err, not_found};
use crate::lease::Operation;
use crate::runtime::config::ObserverPolicy;
use crate::wire::{Budget, Decimal, ErrorCode, ErrorPayload, Timestamp};

impl Jobs {
    /// `parent_job_id` on a `job.submit` by `principal` for `agent` (§10, [D28], [D37]): a parent
    /// `principal` cannot see is `JOB_NOT_FOUND` (no existence leak); one it can see but
    /// does not own (an observer) is `PERMISSION_DENIED`; an ended one is `INVALID_REQUEST`;
    /// then the parent's lease must authorize `agent.delegate` on the child's agent name
    /// (`PERMISSION_DENIED`, or `LEASE_EXPIRED` / `BUDGET_EXHAUSTED` as for any operation).
    ///
    /// [D28]: crate::compat#d28--delegation
    /// [D37]: crate::compat#d37--existence-leak
    pub fn check_parent(
        &self,
        parent_id: &str,
        principal: &str,
        policy: &ObserverPolicy,
        agent: &str,
        wall_now: &Timestamp,
    ) -> Result<(), ErrorPayload> {
        let parent = match self.map.get(parent_id) {
            Some(p) if policy.may_observe(principal, &p.principal) => p,
            _ => {
                return Err(err(
                    ErrorCode::JobNotFound,
                    format!("parent job {parent_id:?} not found"),
                ));
            }
        };
        if parent.principal != principal {
            return Err(err(
                ErrorCode::PermissionDenied,
                "only the parent job's principal may attach children to it",
            ));
        }
        if parent.status.is_terminal() {
            return Err(err(ErrorCode::InvalidRequest, "the parent job has ended"));
        }
        parent
            .lease
            .authorize(wall_now, &Operation::new("agent.delegate", agent))
    }

    /// Records `child_id` as a live child of `parent_id` and reserves `budget` (the child's
    /// initial budget) from the parent's counters.
    pub fn attach_child(
        &mut self,
        parent_id: &str,
        child_id: &str,
        budget: Option<&Budget>,
    ) -> Result<(), ErrorPayload> {
        let Some(parent) = self.map.get_mut(parent_id) else {
            return Err(not_found(parent_id));
        };
        if let Some(b) = budget {
            parent.lease.reserve(b)?;
        }
        parent.children.push(Child {
            job_id: child_id.to_owned(),
            reserved: budget.cloned(),
        });
        Ok(())
    }

    /// `child_id` of `parent_id` ended (or never started): it is no longer a live child and
    /// `left` — its counters at the end, or `None` for the whole reservation — goes back to
    /// the parent's counters.
    pub fn detach_child(&mut self, parent_id: &str, child_id: &str, left: Option<&Budget>) {
        let Some(parent) = self.map.get_mut(parent_id) else {
            return;
        };
        let Some(pos) = parent.children.iter().position(|c| c.job_id == child_id) else {
            return;
        };
        let child = parent.children.remove(pos);
        if let Some(back) = left.or(child.reserved.as_ref()) {
            parent.lease.settle(back);
        }
    }

    /// The live children of `id` (accepted or still minting their credentials).
    pub fn children(&self, id: &str) -> Vec<String> {
        self.map
            .get(id)
            .map(|j| j.children.iter().map(|c| c.job_id.clone()).collect())
            .unwrap_or_default()
    }

    /// `true` when `id` is a live job.
    pub fn is_live(&self, id: &str) -> bool {
        self.map.get(id).is_some_and(|j| !j.status.is_terminal())
    }

    /// The delegation invariants (checked by the simulator and the fuzz targets): no child
    /// runs after its parent's terminal; every running child is listed by its parent; a
    /// parent's counter plus its live children's reservations never exceeds its budget.
    pub fn check_delegation(&self) -> Result<(), String> {
        for job in self.map.values() {
            let running = !job.status.is_terminal();
            if let Some(pid) = &job.parent_job_id
                && running
                && let Some(parent) = self.map.get(pid)
            {
                if parent.status.is_terminal() {
                    return Err(format!("child {} runs after parent {pid} ended", job.id));
                }
                if !parent.children.iter().any(|c| c.job_id == job.id) {
                    return Err(format!("running child {} not listed by {pid}", job.id));
                }
            }
            let live_child = job.children.iter().any(|c| {
                self.map
                    .get(&c.job_id)
                    .is_some_and(|j| !j.status.is_terminal())
            });
            if !running && live_child {
                return Err(format!("ended job {} still has live children", job.id));
            }
            let (Some(initial), Some(left)) = (&job.lease.budget, job.lease.remaining()) else {
                continue;
            };
            let mut held = left.clone();
            for c in &job.children {
                for (currency, amount) in c.reserved.iter().flat_map(|b| b.0.iter()) {
                    if held.get(currency).is_some() {
                        let _ = held.add(currency, amount);
                    }
                }
            }
            for (currency, total) in &initial.0 {
                let h = held.get(currency).copied().unwrap_or(Decimal::ZERO);
                if h > *total {
                    return Err(format!(
                        "job {}: {currency} left plus reserved {h} exceeds its budget {total}",
                        job.id
                    ));
                }
            }
        }
        Ok(())
    }
}
