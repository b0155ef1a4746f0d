//! [`StaticTokens`]: a fixed bearer-token table.

use crate::{AuthError, AuthFailure, Authenticator, Principal};

/// A fixed table of bearer tokens, each mapped to a principal. Every lookup compares the
/// presented token with every entry in constant time per entry, so timing does not reveal
/// how much of a token matched.
#[derive(Clone, Default)]
pub struct StaticTokens {
    entries: Vec<(Vec<u8>, String)>,
}

impl std::fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the tokens.
        f.debug_struct("StaticTokens")
            .field("tokens", &self.entries.len())
            .finish()
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl StaticTokens {
    /// An empty table (every token refused).
    pub fn new() -> Self {
        StaticTokens::default()
    }

    /// Adds `token` for `principal`; a token already present is remapped.
    pub fn with_token(mut self, token: impl Into<String>, principal: impl Into<String>) -> Self {
        let token = token.into().into_bytes();
        let principal = principal.into();
        match self.entries.iter_mut().find(|(t, _)| *t == token) {
            Some(e) => e.1 = principal,
            None => self.entries.push((token, principal)),
        }
        self
    }

    /// How many tokens the table holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Authenticator for StaticTokens {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::new(AuthFailure::Missing));
        }
        let mut found = None;
        for (t, p) in &self.entries {
            if same(t, token.as_bytes()) && found.is_none() {
                found = Some(p);
            }
        }
        found
            .map(|p| Principal(p.clone()))
            .ok_or_else(|| AuthError::new(AuthFailure::UnknownToken))
    }
}
