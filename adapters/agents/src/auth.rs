//! Bearer-token authentication: a static table `token → principal`, answering the runtime's
//! `Authenticate` effect (runtime-neutral; every adapter uses it).

use arcp_proto::runtime::EffectOutcome;
use std::collections::HashMap;

/// The contract tokens of `interop/README.md`: used when no token is configured.
pub const DEFAULT_TOKENS: [(&str, &str); 3] = [
    ("alice-token", "alice"),
    ("bob-token", "bob"),
    ("auditor-token", "auditor"),
];

/// The observer of the default token table: it may list and subscribe to every job.
pub const DEFAULT_OBSERVER: &str = "auditor";

/// A static table of bearer tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenTable {
    tokens: HashMap<String, String>,
}

impl TokenTable {
    /// An empty table (every token refused).
    pub fn new() -> Self {
        TokenTable::default()
    }

    /// The contract tokens (`alice-token`→alice, `bob-token`→bob, `auditor-token`→auditor).
    pub fn contract() -> Self {
        let mut t = TokenTable::new();
        for (token, principal) in DEFAULT_TOKENS {
            t.insert(token, principal);
        }
        t
    }

    /// Adds (or replaces) `token`.
    pub fn insert(&mut self, token: impl Into<String>, principal: impl Into<String>) {
        self.tokens.insert(token.into(), principal.into());
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// `true` when no token is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The principal `token` belongs to.
    pub fn principal(&self, token: &str) -> Option<&str> {
        self.tokens.get(token).map(String::as_str)
    }

    /// The answer to an `Authenticate` effect.
    pub fn authenticate(&self, token: &str) -> EffectOutcome {
        match self.principal(token) {
            Some(p) => EffectOutcome::Authenticated {
                principal: p.to_owned(),
            },
            None => EffectOutcome::Failed {
                message: "invalid bearer token".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_tokens_map_to_their_principals_and_others_fail() {
        let t = TokenTable::contract();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.authenticate("bob-token"),
            EffectOutcome::Authenticated {
                principal: "bob".into()
            }
        );
        assert_eq!(t.principal("auditor-token"), Some("auditor"));
        assert_eq!(
            t.authenticate("nope"),
            EffectOutcome::Failed {
                message: "invalid bearer token".into()
            }
        );
    }
}
