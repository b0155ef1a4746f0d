//! [`AuthError`]: always `UNAUTHENTICATED`, never echoing the token.

use arcp_proto::wire::{ErrorCode, ErrorPayload};

/// Why a token was refused: a small closed set, fit for a counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// The token was empty.
    Missing,
    /// A static token that is not in the table.
    UnknownToken,
    /// Not a well-formed JWT (segments, base64, JSON).
    Malformed,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not name the configured audience.
    WrongAudience,
    /// The header's `alg` is `none` or not one the key accepts (key confusion included).
    AlgorithmRefused,
    /// No key for the token's `kid` (after the refresh the rate limit allowed).
    UnknownKey,
    /// The keys could not be fetched from the JWKS URL.
    KeySource,
    /// A required claim (`exp`, or the principal claim) is missing or not a string.
    MissingClaim,
}

impl AuthFailure {
    /// A stable snake_case name, for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::UnknownToken => "unknown_token",
            AuthFailure::Malformed => "malformed",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::WrongIssuer => "wrong_issuer",
            AuthFailure::WrongAudience => "wrong_audience",
            AuthFailure::AlgorithmRefused => "algorithm_refused",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::KeySource => "key_source",
            AuthFailure::MissingClaim => "missing_claim",
        }
    }

    /// The fixed message sent to the peer.
    fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing bearer token",
            AuthFailure::UnknownToken => "invalid bearer token",
            AuthFailure::Malformed => "malformed token",
            AuthFailure::BadSignature => "token signature is invalid",
            AuthFailure::Expired => "token has expired",
            AuthFailure::NotYetValid => "token is not yet valid",
            AuthFailure::WrongIssuer => "token issuer is not accepted",
            AuthFailure::WrongAudience => "token audience is not accepted",
            AuthFailure::AlgorithmRefused => "token algorithm is not accepted",
            AuthFailure::UnknownKey => "token signing key is unknown",
            AuthFailure::KeySource => "signing keys are unavailable",
            AuthFailure::MissingClaim => "token lacks a required claim",
        }
    }
}

/// A refused token. The message is fixed text per [`AuthFailure`] (plus, for
/// [`AuthFailure::MissingClaim`], the claim's name): it never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthError {
    reason: AuthFailure,
    message: String,
}

impl AuthError {
    /// The error for `reason`, with its fixed message.
    pub fn new(reason: AuthFailure) -> Self {
        AuthError {
            reason,
            message: reason.message().to_owned(),
        }
    }

    /// A missing or non-string claim named `claim` (a configured name, not token content).
    pub fn missing_claim(claim: &str) -> Self {
        AuthError {
            reason: AuthFailure::MissingClaim,
            message: format!("token lacks the string claim {claim:?}"),
        }
    }

    /// Why the token was refused.
    pub fn reason(&self) -> AuthFailure {
        self.reason
    }

    /// The message for the peer.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Always [`ErrorCode::Unauthenticated`].
    pub fn code(&self) -> ErrorCode {
        ErrorCode::Unauthenticated
    }

    /// The `session.error` payload (`UNAUTHENTICATED`, this message).
    pub fn to_error_payload(&self) -> ErrorPayload {
        ErrorPayload::new(ErrorCode::Unauthenticated, self.message.clone())
    }
}
