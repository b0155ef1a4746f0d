//! Provisioned credentials (§9.8) for every adapter: the [`CredentialProvisioner`] a server
//! is built with (mint, rotate, revoke), the [`DemoProvisioner`] of demo mode, and the
//! operator-visible list of credentials whose revocation failed for good
//! ([`UnrevokedCredential`], in [`ServerMetrics`](super::ServerMetrics)).

use super::agents::SharedEntropy;
use arcp_agents::CREDENTIAL_ENDPOINT;
use arcp_proto::wire::{
    Budget, Credential, CredentialConstraints, IdMinter, JobId, LeaseConstraints, LeaseMap,
    Timestamp, TraceId,
};
use std::collections::VecDeque;
use std::sync::Mutex;

/// What a job's credentials are minted for: the lease, and the budget and expiry the job
/// actually runs with. For a delegated child `budget` is what it reserved from its parent
/// and `expires_at` the earlier of its own and its parent's, so a provisioner that sizes
/// the upstream's spend cap and lifetime from them mints within the child's lease,
/// reservation and expiry.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MintRequest<'a> {
    /// The job being accepted.
    pub job_id: &'a JobId,
    /// The submitting principal.
    pub principal: &'a str,
    /// The job's lease (it names `model.use`).
    pub lease: &'a LeaseMap,
    /// The lease's constraints as requested.
    pub lease_constraints: Option<&'a LeaseConstraints>,
    /// The job's `cost.budget` totals (a child: its reservation).
    pub budget: Option<&'a Budget>,
    /// When the job's lease stops authorizing anything (a child: inherited when earlier).
    pub expires_at: Option<&'a Timestamp>,
    /// The job's trace id (spec §11: forward it upstream).
    pub trace_id: Option<TraceId>,
    /// The wall time of the request, Unix milliseconds (the host reads no clock itself).
    pub unix_ms: u64,
}

/// Mints, rotates and revokes the credentials a server hands to jobs whose lease names
/// `model.use` (§9.8). Configure one with the builder's `credential_provisioner`; without
/// one (and outside demo mode) `provisioned_credentials` is not advertised.
///
/// The methods are called on the server's driver (mint, revoke) or on an agent task
/// (rotate) and must return promptly: hand slow upstream calls to a worker and answer from
/// its state. A failed revoke is retried by the runtime with backoff (the retry delay doubled
/// per failed attempt, a bounded number of attempts), then reported: a `tracing` warning and
/// an entry in [`ServerMetrics::unrevoked`](super::ServerMetrics::unrevoked).
pub trait CredentialProvisioner: Send + Sync + 'static {
    /// The credentials for a job (possibly none); `Err(message)` fails the submit with
    /// `INTERNAL_ERROR` "credential provisioning failed: …".
    fn mint(&self, req: &MintRequest<'_>) -> Result<Vec<Credential>, String>;

    /// A new value for `credential_id` of `job_id` at `unix_ms`; the runtime emits
    /// `credential_rotated` and then revokes the old value through [`Self::revoke`].
    fn rotate(&self, job_id: &JobId, credential_id: &str, unix_ms: u64) -> Result<String, String>;

    /// Revokes `value` of `credential_id` (`None`: whatever the credential still grants;
    /// after a restart only the id is known, values are never stored).
    fn revoke(
        &self,
        job_id: &JobId,
        credential_id: &str,
        value: Option<&str>,
    ) -> Result<(), String>;
}

/// Demo mode's provisioner: one virtual bearer credential per job whose lease names
/// `model.use`, shaped like the reference's (`cred_…` id, `virt-…` value, the
/// `llm-gateway.invalid` endpoint, the job's budget, models and expiry as [D13]
/// constraints). Its values are honoured nowhere, so revoking always succeeds.
///
/// [D13]: arcp_proto::compat#d13--credential-constraints
pub struct DemoProvisioner {
    ids: Mutex<IdMinter>,
    entropy: SharedEntropy,
}

impl std::fmt::Debug for DemoProvisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoProvisioner").finish_non_exhaustive()
    }
}

impl DemoProvisioner {
    /// A demo provisioner drawing ids and values from `entropy`.
    pub(crate) fn new(entropy: SharedEntropy) -> Self {
        DemoProvisioner {
            ids: Mutex::default(),
            entropy,
        }
    }

    fn ulid(&self, unix_ms: u64) -> String {
        let mut ids = match self.ids.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut e = match self.entropy.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        ids.next_ulid(unix_ms, &mut **e).to_string()
    }
}

impl CredentialProvisioner for DemoProvisioner {
    fn mint(&self, req: &MintRequest<'_>) -> Result<Vec<Credential>, String> {
        let Some(models) = req.lease.get("model.use") else {
            return Ok(Vec::new());
        };
        let cost_budget = req.budget.map(|b| {
            b.0.iter()
                .map(|(currency, amount)| format!("{currency}:{amount}"))
                .collect()
        });
        Ok(vec![Credential {
            id: format!("cred_{}", self.ulid(req.unix_ms)),
            scheme: "bearer".into(),
            value: format!("virt-{}", self.ulid(req.unix_ms)),
            endpoint: Some(CREDENTIAL_ENDPOINT.into()),
            profile: Some("openai".into()),
            constraints: Some(CredentialConstraints {
                cost_budget,
                model_use: Some(models.to_vec()),
                expires_at: req.expires_at.cloned(),
            }),
        }])
    }

    fn rotate(&self, _job: &JobId, _credential_id: &str, unix_ms: u64) -> Result<String, String> {
        Ok(format!("virt-{}", self.ulid(unix_ms)))
    }

    fn revoke(&self, _job: &JobId, _id: &str, _value: Option<&str>) -> Result<(), String> {
        Ok(())
    }
}

/// A credential whose revocation failed on every attempt: it may still be honoured
/// upstream until an operator revokes it by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnrevokedCredential {
    /// The job it was minted for.
    pub job_id: JobId,
    /// The credential.
    pub credential_id: String,
    /// The provisioner's last error.
    pub message: String,
}

impl UnrevokedCredential {
    /// `credential_id` of `job_id`, last refused with `message`.
    pub fn new(
        job_id: JobId,
        credential_id: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        UnrevokedCredential {
            job_id,
            credential_id: credential_id.into(),
            message: message.into(),
        }
    }
}

/// The most recent unrevoked credentials kept for operators: 256; older ones are only
/// counted (`ServerMetrics::unrevoked_dropped`).
pub const MAX_UNREVOKED: usize = 256;

/// The bounded list of unrevoked credentials (newest last).
#[derive(Debug, Default)]
pub(crate) struct Unrevoked {
    list: VecDeque<UnrevokedCredential>,
    /// Entries pushed out by newer ones.
    pub(crate) dropped: u64,
}

impl Unrevoked {
    pub(crate) fn push(&mut self, c: UnrevokedCredential) {
        if self.list.len() >= MAX_UNREVOKED {
            self.list.pop_front();
            self.dropped += 1;
        }
        self.list.push_back(c);
    }

    pub(crate) fn snapshot(&self) -> Vec<UnrevokedCredential> {
        self.list.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcp_proto::wire::{Decimal, Entropy, SeededEntropy};
    use std::sync::Arc;

    #[test]
    fn the_demo_mints_within_the_jobs_budget_and_expiry() {
        let entropy: SharedEntropy = Arc::new(Mutex::new(
            Box::new(SeededEntropy::new(7)) as Box<dyn Entropy + Send>
        ));
        let p = DemoProvisioner::new(entropy);
        let lease = LeaseMap(vec![
            ("model.use".into(), vec!["tier-fast/*".into()]),
            ("cost.budget".into(), vec!["USD:1.00".into()]),
        ]);
        let job = JobId::from("job_1");
        let budget = Budget(vec![("USD".into(), Decimal::parse("0.25").unwrap())]);
        let exp = Timestamp::from_unix_micros(1_795_483_825_000_000);
        let req = MintRequest {
            job_id: &job,
            principal: "alice",
            lease: &lease,
            lease_constraints: None,
            budget: Some(&budget),
            expires_at: Some(&exp),
            trace_id: None,
            unix_ms: 1_000,
        };
        let creds = p.mint(&req).unwrap();
        assert_eq!(creds.len(), 1);
        let c = creds[0].constraints.clone().unwrap();
        assert_eq!(c.cost_budget, Some(vec!["USD:0.25".to_owned()]));
        assert_eq!(c.model_use, Some(vec!["tier-fast/*".to_owned()]));
        assert_eq!(c.expires_at.as_ref(), Some(&exp));
        let rotated = p.rotate(&job, &creds[0].id, 2_000).unwrap();
        assert!(rotated.starts_with("virt-") && rotated != creds[0].value);
        let none = MintRequest {
            lease: &LeaseMap::default(),
            ..req
        };
        assert_eq!(p.mint(&none), Ok(Vec::new()));
    }

    #[test]
    fn the_unrevoked_list_is_bounded() {
        let mut u = Unrevoked::default();
        for i in 0..MAX_UNREVOKED + 2 {
            u.push(UnrevokedCredential {
                job_id: JobId::from("job_1"),
                credential_id: format!("cred_{i}"),
                message: "down".into(),
            });
        }
        let list = u.snapshot();
        assert_eq!((list.len(), u.dropped), (MAX_UNREVOKED, 2));
        assert_eq!(list[0].credential_id, "cred_2");
    }
}
