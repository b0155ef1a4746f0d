//! [`Agent`]: what an agent is (an `async fn(input, JobContext) -> Result<Value, AgentError>`)
//! and [`AgentError`], how it fails.

use crate::context::JobContext;
use crate::host::BoxFuture;
use arcp_proto::wire::{ErrorCode, ErrorPayload};
use serde_json::Value;
use std::fmt;
use std::future::Future;

/// Why an agent (or one of its context calls) failed. Returned from [`Agent::run`], it ends
/// the job with `job.error` of this code.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentError {
    /// The §12 code.
    pub code: ErrorCode,
    /// Human-readable text.
    pub message: String,
    /// `None`: the code's default (`true` only for `INTERNAL_ERROR`).
    pub retryable: Option<bool>,
}

impl AgentError {
    /// An error with the code's default `retryable`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AgentError {
            code,
            message: message.into(),
            retryable: None,
        }
    }

    /// `INTERNAL_ERROR` (retryable).
    pub fn internal(message: impl Into<String>) -> Self {
        AgentError::new(ErrorCode::InternalError, message)
    }

    /// `INVALID_REQUEST`, e.g. for an input the agent cannot use.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        AgentError::new(ErrorCode::InvalidRequest, message)
    }

    /// Overrides `retryable`.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// The effective `retryable` flag.
    pub fn is_retryable(&self) -> bool {
        self.retryable.unwrap_or_else(|| self.code.retryable())
    }

    /// As a wire error payload (e.g. a `tool_result` error).
    pub fn to_payload(&self) -> ErrorPayload {
        let mut p = ErrorPayload::new(self.code.clone(), self.message.clone());
        p.retryable = self.is_retryable();
        p
    }
}

impl From<ErrorPayload> for AgentError {
    fn from(p: ErrorPayload) -> Self {
        AgentError {
            code: p.code,
            message: p.message,
            retryable: Some(p.retryable),
        }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for AgentError {}

/// An agent. Implemented for every `Fn(Value, JobContext) -> impl Future<Output =
/// Result<Value, AgentError>>`, so an `async fn` is an agent.
pub trait Agent: Send + Sync + 'static {
    /// Runs one job. `Ok(value)` ends it with `job.result` (no `result` key for `null`, [D34];
    /// after streamed chunks return `null`); `Err` ends it with `job.error`.
    ///
    /// [D34]: arcp_proto::compat#d34--null-result
    fn run(&self, input: Value, ctx: JobContext) -> BoxFuture<'static, Result<Value, AgentError>>;
}

impl<F, Fut> Agent for F
where
    F: Fn(Value, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, AgentError>> + Send + 'static,
{
    fn run(&self, input: Value, ctx: JobContext) -> BoxFuture<'static, Result<Value, AgentError>> {
        Box::pin(self(input, ctx))
    }
}
