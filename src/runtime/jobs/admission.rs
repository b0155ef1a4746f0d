//! Submits being admitted (clustered runtimes only): a submit that passed the local checks
//! waits here, its job id minted, while the shared store admits it (`Effect::AdmitJob`),
//! including between the attempts of an idempotent resubmit whose first job is still being
//! accepted on another node.

use super::{Admitting, Jobs, NewJob};

impl Jobs {
    /// `nj` waits for its admission.
    pub fn start_admitting(&mut self, nj: NewJob) {
        self.admitting
            .insert(nj.job_id.clone(), Admitting { nj, unaccepted: 0 });
    }

    /// The submit of `job_id` waiting for its admission.
    pub fn admitting(&self, job_id: &str) -> Option<&Admitting> {
        self.admitting.get(job_id)
    }

    /// [`Jobs::admitting`], to count its attempts.
    pub fn admitting_mut(&mut self, job_id: &str) -> Option<&mut Admitting> {
        self.admitting.get_mut(job_id)
    }

    /// The admission of `job_id` ended (admitted or refused): its submit.
    pub fn end_admitting(&mut self, job_id: &str) -> Option<NewJob> {
        self.admitting.remove(job_id).map(|a| a.nj)
    }

    /// Every job id waiting for its admission.
    pub fn admitting_ids(&self) -> Vec<String> {
        self.admitting.keys().cloned().collect()
    }
}
