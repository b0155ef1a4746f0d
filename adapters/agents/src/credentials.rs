//! A simple in-process credential provisioner (§9.8): one virtual bearer
//! credential per job whose lease names `model.use`, shaped like the reference's
//! (`cred_…` id, `virt-…` value, the `llm-gateway.invalid` endpoint). Revocation always
//! succeeds: nothing outside this process ever honoured the value.

use arcp_proto::runtime::EffectOutcome;
use arcp_proto::wire::{Credential, CredentialConstraints, IdMinter, LeaseConstraints, LeaseMap};

/// Where provisioned credentials claim to be valid.
pub const ENDPOINT: &str = "https://llm-gateway.invalid/v1";

/// The provisioner (runtime-neutral; every adapter uses it). Ids come from the host's entropy through [`IdMinter`].
#[derive(Debug, Default)]
pub struct Provisioner {
    ids: IdMinter,
}

impl Provisioner {
    /// A provisioner with a fresh id minter.
    pub fn new() -> Self {
        Provisioner::default()
    }

    /// The answer to `MintCredentials`: one credential when the lease names `model.use`
    /// (with the lease's budget, models and expiry as [D13] constraints), none otherwise.
    ///
    /// [D13]: arcp_proto::compat#d13--credential-constraints
    pub fn mint(
        &mut self,
        unix_ms: u64,
        entropy: &mut dyn arcp_proto::wire::Entropy,
        lease: &LeaseMap,
        constraints: Option<&LeaseConstraints>,
    ) -> EffectOutcome {
        let get = |ns: &str| {
            lease
                .0
                .iter()
                .find(|(k, _)| k == ns)
                .map(|(_, v)| v.clone())
        };
        let Some(models) = get("model.use") else {
            return EffectOutcome::Minted {
                credentials: Vec::new(),
            };
        };
        let id = format!("cred_{}", self.ids.next_ulid(unix_ms, entropy));
        let value = format!("virt-{}", self.ids.next_ulid(unix_ms, entropy));
        EffectOutcome::Minted {
            credentials: vec![Credential {
                id,
                scheme: "bearer".into(),
                value,
                endpoint: Some(ENDPOINT.into()),
                profile: Some("openai".into()),
                constraints: Some(CredentialConstraints {
                    cost_budget: get("cost.budget"),
                    model_use: Some(models),
                    expires_at: constraints.and_then(|c| c.expires_at.clone()),
                }),
            }],
        }
    }
}

/// Entropy from the operating system (ids, resume tokens, credential values).
///
/// Each thread draws 512 bytes from the operating system at a time (one
/// `getrandom` call) and hands them out 16 at a time: a submit needs several ids, and a
/// system call per id was on the accept path. Bytes handed out are wiped from the buffer.
/// A process that forks without exec should not use ids drawn in the parent's buffer in both
/// processes; the runtimes here never fork without exec.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

/// How many bytes of operating-system randomness a thread draws at once for [`OsEntropy`].
const OS_ENTROPY_BATCH: usize = 512;

/// A thread's unused operating-system randomness, and how much of it is left (at the end).
struct EntropyPool {
    bytes: [u8; OS_ENTROPY_BATCH],
    left: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<EntropyPool> = const {
        std::cell::RefCell::new(EntropyPool { bytes: [0; OS_ENTROPY_BATCH], left: 0 })
    };
}

impl OsEntropy {
    /// 16 bytes from this thread's pool, refilled from the OS when empty; `None` when the
    /// OS has no randomness to give.
    fn pooled() -> Option<[u8; 16]> {
        POOL.try_with(|p| {
            let mut p = p.try_borrow_mut().ok()?;
            if p.left < 16 {
                getrandom::fill(&mut p.bytes).ok()?;
                p.left = OS_ENTROPY_BATCH;
            }
            let at = OS_ENTROPY_BATCH - p.left;
            p.left -= 16;
            let mut out = [0u8; 16];
            out.copy_from_slice(&p.bytes[at..at + 16]);
            p.bytes[at..at + 16].fill(0);
            Some(out)
        })
        .ok()
        .flatten()
    }
}

impl arcp_proto::wire::Entropy for OsEntropy {
    fn next_u128(&mut self) -> u128 {
        let mut b = [0u8; 16];
        if let Some(p) = Self::pooled() {
            return u128::from_le_bytes(p);
        }
        if getrandom::fill(&mut b).is_err() {
            // No OS randomness: fall back to time and a process-random hasher key.
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            let lo = h.finish();
            h.write_u64(lo);
            return (u128::from(h.finish()) << 64) | u128::from(lo);
        }
        u128::from_le_bytes(b)
    }
}

/// Unix milliseconds now (credential ids).
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcp_proto::wire::{Entropy, SeededEntropy};

    #[test]
    fn os_entropy_draws_distinct_values_across_pool_refills() {
        // 100 draws of 16 bytes span four 512-byte pools (32 draws each).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            assert!(seen.insert(OsEntropy.next_u128()));
        }
        assert_eq!(seen.len(), 100);
        assert!(!seen.contains(&0));
    }

    #[test]
    fn mints_one_virtual_credential_for_model_use_and_none_otherwise() {
        let mut p = Provisioner::new();
        let mut e = SeededEntropy::new(7);
        let lease = LeaseMap(vec![
            ("model.use".into(), vec!["tier-fast/*".into()]),
            ("cost.budget".into(), vec!["USD:1.00".into()]),
        ]);
        let EffectOutcome::Minted { credentials } = p.mint(1_000, &mut e, &lease, None) else {
            panic!("not minted");
        };
        assert_eq!(credentials.len(), 1);
        let c = &credentials[0];
        assert!(c.id.starts_with("cred_") && c.id.len() == 31, "{}", c.id);
        assert!(
            c.value.starts_with("virt-") && c.value.len() == 31,
            "{}",
            c.value
        );
        assert_eq!(c.endpoint.as_deref(), Some(ENDPOINT));
        let k = c.constraints.as_ref().unwrap();
        assert_eq!(k.model_use, Some(vec!["tier-fast/*".to_string()]));
        assert_eq!(k.cost_budget, Some(vec!["USD:1.00".to_string()]));
        let none = p.mint(1_000, &mut e, &LeaseMap(vec![]), None);
        assert_eq!(
            none,
            EffectOutcome::Minted {
                credentials: vec![]
            }
        );
    }
}
