//! [`ClientError`]: the one error type of every adapter's client.

use arcp_proto::client::{ApiError, RequestError};
use arcp_proto::wire::{ErrorCode, ErrorPayload, JobId};
use serde_json::Value;
use std::sync::Arc;

/// Everything a client call can fail with (the same type in arcp-tokio, arcp-futures and
/// arcp-blocking).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Caller misuse, refused before anything was sent (not open, feature not negotiated,
    /// bad argument, a bound reached).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The runtime refused the request (or the handshake) with a §12 error.
    #[error("{code}: {message}")]
    Refused {
        /// The §12 code.
        code: ErrorCode,
        /// The runtime's text.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// The job ended with `job.error` (other than `CANCELLED` / `TIMEOUT`, which are
    /// outcomes, [D6]/[D8]).
    ///
    /// [D6]: arcp_proto::compat#d6--cancel
    /// [D8]: arcp_proto::compat#d8--timeout
    #[error("job {job_id} failed: {code}: {message}")]
    JobFailed {
        /// The job.
        job_id: JobId,
        /// The §12 code.
        code: ErrorCode,
        /// The agent's or runtime's text.
        message: String,
        /// Whether a retry may succeed (never for `LEASE_EXPIRED` / `BUDGET_EXHAUSTED`).
        retryable: bool,
        /// Extra detail.
        details: Option<Value>,
    },
    /// The transport could not be opened or was lost; [`source`](std::error::Error::source)
    /// is the IO or WebSocket error, when there was one.
    #[error("transport: {message}")]
    Transport {
        /// What happened.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The session is closed.
    #[error("session closed")]
    Closed,
    /// A subscription's replay exceeded the client's buffers before `job.subscribed`.
    #[error("subscription replay exceeded the client's buffer of {limit} events")]
    Overflow {
        /// `max_buffered_events`.
        limit: usize,
    },
    /// No answer within the call's bound (blocking calls, `connect`).
    #[error("timed out")]
    Timeout,
}

impl PartialEq for ClientError {
    /// Equal when the variant and every field but a transport error's `source` are equal.
    fn eq(&self, other: &Self) -> bool {
        use ClientError as E;
        match (self, other) {
            (E::Api(a), E::Api(b)) => a == b,
            (
                E::Refused {
                    code: a,
                    message: m,
                    retryable: r,
                },
                E::Refused {
                    code: b,
                    message: n,
                    retryable: s,
                },
            ) => a == b && m == n && r == s,
            (
                E::JobFailed {
                    job_id: j,
                    code: a,
                    message: m,
                    retryable: r,
                    details: d,
                },
                E::JobFailed {
                    job_id: k,
                    code: b,
                    message: n,
                    retryable: s,
                    details: e,
                },
            ) => j == k && a == b && m == n && r == s && d == e,
            (E::Transport { message: a, .. }, E::Transport { message: b, .. }) => a == b,
            (E::Closed, E::Closed) | (E::Timeout, E::Timeout) => true,
            (E::Overflow { limit: a }, E::Overflow { limit: b }) => a == b,
            _ => false,
        }
    }
}

impl ClientError {
    /// A runtime refusal.
    pub fn refused(p: &ErrorPayload) -> Self {
        ClientError::Refused {
            code: p.code.clone(),
            message: p.message.clone(),
            retryable: p.retryable,
        }
    }

    /// A transport failure with no underlying error value.
    pub fn transport(message: impl Into<String>) -> Self {
        ClientError::Transport {
            message: message.into(),
            source: None,
        }
    }

    /// A transport failure caused by `source`.
    pub fn transport_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ClientError::Transport {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// A failed request, as the caller sees it (`closed` when the session closed).
    pub(crate) fn from_request(error: RequestError, closed: &ClientError) -> Self {
        match error {
            RequestError::Runtime(p) => ClientError::refused(&p),
            RequestError::ConnectionLost => {
                ClientError::transport("connection lost before the answer")
            }
            RequestError::SessionClosed => closed.clone(),
            // Any failure a later core adds: the request got no answer.
            _ => ClientError::transport("request failed without an answer"),
        }
    }

    /// The §12 code, for runtime refusals and failed jobs.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { code, .. } | ClientError::JobFailed { code, .. } => {
                Some(code.clone())
            }
            _ => None,
        }
    }

    /// Whether retrying may succeed: the runtime's flag for refusals and failed jobs,
    /// `true` for transport failures and timeouts, `false` otherwise.
    pub fn retryable(&self) -> bool {
        match self {
            ClientError::Refused { retryable, .. } | ClientError::JobFailed { retryable, .. } => {
                *retryable
            }
            ClientError::Transport { .. } | ClientError::Timeout => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn code_retryable_display_and_source() {
        let refused = ClientError::refused(&ErrorPayload::new(ErrorCode::DuplicateKey, "dup"));
        assert_eq!(refused.code(), Some(ErrorCode::DuplicateKey));
        assert!(!refused.retryable());
        assert_eq!(refused.to_string(), "DUPLICATE_KEY: dup");
        let failed = ClientError::JobFailed {
            job_id: "job_1".into(),
            code: ErrorCode::InternalError,
            message: "boom".into(),
            retryable: true,
            details: None,
        };
        assert_eq!(failed.code(), Some(ErrorCode::InternalError));
        assert!(failed.retryable());
        assert_eq!(failed.to_string(), "job job_1 failed: INTERNAL_ERROR: boom");
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let t = ClientError::transport_from("cannot connect", io);
        assert!(t.retryable());
        assert_eq!(t.code(), None);
        assert_eq!(t.to_string(), "transport: cannot connect");
        assert_eq!(
            t.source().map(|s| s.to_string()).as_deref(),
            Some("refused")
        );
        assert_eq!(t, ClientError::transport("cannot connect"));
        assert!(ClientError::transport("x").source().is_none());
        assert_eq!(ClientError::Closed.code(), None);
        assert!(!ClientError::Closed.retryable());
        assert!(!ClientError::Overflow { limit: 2 }.retryable());
        assert!(ClientError::Timeout.retryable());
        let api = ClientError::from(ApiError::Closed);
        assert_eq!(api.code(), None);
        assert!(!api.retryable());
    }
}
