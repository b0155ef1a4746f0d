//! Authenticators for arcp-proto runtimes, shared by every adapter.
//!
//! The core asks its host to authenticate a `session.hello` through the `Authenticate` effect;
//! the host answers with a principal or a failure, which the core sends as
//! `session.error UNAUTHENTICATED`. This crate supplies the answer:
//!
//! - [`StaticTokens`]: a fixed table of bearer tokens, each mapped to a principal;
//! - [`JwtAuthenticator`]: JSON Web Tokens signed HS256/384/512, RS256/384/512, ES256/384 or
//!   EdDSA, with `exp`, `nbf`, `iss` and `aud` validated (configurable leeway) and the
//!   principal taken from a configurable claim (default `sub`); keys are given up front or
//!   fetched from a JWKS URL ([`JwksSource`]) with a TTL cache, refresh on an unknown `kid`,
//!   and a rate limit on those refreshes;
//! - the [`Authenticator`] trait for custom schemes.
//!
//! # Why a synchronous trait
//!
//! [`Authenticator::authenticate`] is a plain blocking function, `Send + Sync`. The adapters
//! run on tokio, on a futures executor, and on plain threads; a synchronous call is the one
//! shape all three can use without pulling a runtime into this crate: the tokio adapter calls
//! it inside `spawn_blocking`, a blocking adapter calls it directly, and a futures adapter on
//! its blocking pool. Verification is CPU-bound and short; the only IO is the JWKS fetch,
//! which happens at most once per TTL or per refresh interval and is bounded by a timeout, so
//! a blocking pool thread is the right place for it. A boxed-future trait would tie every
//! implementation to an executor for the sake of that rare fetch.
//!
//! # Example
//!
//! ```no_run
//! use arcp_auth::{Authenticator, FirstOf, JwksSource, JwtAuthenticator, JwtKey, StaticTokens};
//! use std::time::Duration;
//!
//! // `--jwt-secret`: HS256/384/512 tokens from one issuer, for one audience.
//! let hs = JwtAuthenticator::with_keys(vec![JwtKey::hmac(b"a shared secret of 32+ bytes....")])
//!     .with_issuer("https://issuer.example")
//!     .with_audience("arcp")
//!     .with_leeway(Duration::from_secs(30));
//! // `--jwks-url`: keys from the issuer, the principal from the `email` claim.
//! let jwks = JwtAuthenticator::jwks(
//!     JwksSource::new("https://issuer.example/.well-known/jwks.json")
//!         .with_ttl(Duration::from_secs(600))
//!         .with_min_refresh_interval(Duration::from_secs(30)),
//! )
//! .with_audience("arcp")
//! .with_principal_claim("email");
//! // `--token`: a static operator token first, then the JWT schemes.
//! let auth = FirstOf(vec![
//!     Box::new(StaticTokens::new().with_token("ops-token", "ops")),
//!     Box::new(hs),
//!     Box::new(jwks),
//! ]);
//! let outcome = arcp_auth::effect_outcome(&auth, "ops-token");
//! # let _ = outcome;
//! ```
//!
//! # Failures
//!
//! Every failure is an [`AuthError`]: its [`AuthError::code`] is always
//! `UNAUTHENTICATED`, its [`AuthFailure`] reason is a small closed set (for counters), and its
//! message is fixed text that never contains the token or any part of it.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod jwks;
mod jwt;
mod static_tokens;

pub use error::{AuthError, AuthFailure};
pub use jwks::{JwksSource, MAX_JWKS_BYTES, MAX_JWKS_KEYS};
pub use jwt::{JwtAuthenticator, JwtKey};
pub use static_tokens::StaticTokens;

pub use jsonwebtoken::Algorithm;

use arcp_proto::runtime::EffectOutcome;
use std::sync::Arc;

/// Runs `auth` on `token` and shapes the answer to the core's `Authenticate` effect:
/// [`EffectOutcome::Authenticated`] or [`EffectOutcome::AuthFailed`] (reason label from
/// [`AuthFailure::as_str`], message without the token). Call it where blocking is allowed.
///
/// ```
/// use arcp_auth::{StaticTokens, effect_outcome};
/// use arcp_proto::runtime::EffectOutcome;
///
/// let auth = StaticTokens::new().with_token("s3cret", "alice");
/// assert_eq!(
///     effect_outcome(&auth, "s3cret"),
///     EffectOutcome::Authenticated { principal: "alice".into() }
/// );
/// assert_eq!(
///     effect_outcome(&auth, "guess"),
///     EffectOutcome::AuthFailed {
///         reason: "unknown_token".into(),
///         message: "invalid bearer token".into(),
///     }
/// );
/// ```
pub fn effect_outcome(auth: &(impl Authenticator + ?Sized), token: &str) -> EffectOutcome {
    match auth.authenticate(token) {
        Ok(p) => EffectOutcome::Authenticated {
            principal: p.into_string(),
        },
        Err(e) => EffectOutcome::AuthFailed {
            reason: e.reason().as_str().to_owned(),
            message: e.message().to_owned(),
        },
    }
}

/// Who a token belongs to: the `principal` the runtime scopes sessions and jobs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(pub String);

impl Principal {
    /// The principal's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Maps a bearer token to a principal. See the crate docs for why this is synchronous: call
/// it on a blocking pool from an async adapter.
pub trait Authenticator: Send + Sync {
    /// The principal `token` belongs to, or why it is refused.
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError>;
}

impl<T: Authenticator + ?Sized> Authenticator for Arc<T> {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        (**self).authenticate(token)
    }
}

impl<T: Authenticator + ?Sized> Authenticator for Box<T> {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        (**self).authenticate(token)
    }
}

/// Tries each authenticator in order; the first success wins (e.g. static tokens for
/// operators, JWT for everyone else). When all refuse, the answer is the first refusal that
/// says something about the token itself (expired, wrong audience, bad signature, …): a
/// "not one of mine" refusal ([`AuthFailure::UnknownToken`] from a static table,
/// [`AuthFailure::Malformed`] from a JWT verifier handed an opaque token) only when every
/// authenticator gave one, and then the first of them.
pub struct FirstOf(pub Vec<Box<dyn Authenticator>>);

impl std::fmt::Debug for FirstOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstOf")
            .field("authenticators", &self.0.len())
            .finish()
    }
}

impl Authenticator for FirstOf {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let mut first = None;
        for a in &self.0 {
            match a.authenticate(token) {
                Ok(p) => return Ok(p),
                Err(e)
                    if matches!(
                        e.reason(),
                        AuthFailure::UnknownToken | AuthFailure::Malformed
                    ) =>
                {
                    first.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first.unwrap_or_else(|| AuthError::new(AuthFailure::UnknownToken)))
    }
}
