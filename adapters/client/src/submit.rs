//! [`SubmitRequest`]: everything `job.submit` carries, builder-style.

use arcp_proto::client::SubmitRequest as CoreSubmit;
use arcp_proto::wire::{JobId, LeaseConstraints, LeaseMap, Timestamp, TraceId};
use serde_json::Value;

/// A `job.submit` (the reference's `client.submit(...)` arguments), built with setters:
///
/// ```
/// use arcp_client::SubmitRequest;
/// let req = SubmitRequest::new("echo", serde_json::json!({"x": 1}))
///     .lease("tool.call", ["search.*"])
///     .budget(["USD:5.00"])
///     .idempotency_key("order-17")
///     .max_runtime_sec(60);
/// assert_eq!(req.agent(), "echo");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SubmitRequest {
    inner: CoreSubmit,
}

impl SubmitRequest {
    /// A submit of `agent` (`name` or `name@version`) with `input` and an empty lease.
    pub fn new(agent: impl Into<String>, input: Value) -> Self {
        SubmitRequest {
            inner: CoreSubmit::new(agent, input),
        }
    }

    /// The agent.
    pub fn agent(&self) -> &str {
        &self.inner.agent
    }

    /// The input.
    pub fn input(&self) -> &Value {
        &self.inner.input
    }

    /// Adds (or replaces) one lease namespace, e.g. `("tool.call", ["search.*"])`.
    pub fn lease<I, S>(mut self, namespace: impl Into<String>, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let patterns = patterns.into_iter().map(Into::into).collect();
        self.inner = self.inner.lease(namespace, patterns);
        self
    }

    /// Replaces the whole requested lease.
    pub fn lease_request(mut self, lease: LeaseMap) -> Self {
        self.inner.lease_request = lease;
        self
    }

    /// The `cost.budget` lease namespace: amounts such as `"USD:5.00"` (needs the
    /// `cost.budget` feature).
    pub fn budget<I, S>(self, amounts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.lease("cost.budget", amounts)
    }

    /// `lease_constraints.expires_at` (needs `lease_expires_at`).
    pub fn expires_at(mut self, at: Timestamp) -> Self {
        let mut c = self.inner.lease_constraints.take().unwrap_or_default();
        c.expires_at = Some(at);
        self.inner.lease_constraints = Some(c);
        self
    }

    /// The whole `lease_constraints`.
    pub fn lease_constraints(mut self, c: LeaseConstraints) -> Self {
        self.inner.lease_constraints = Some(c);
        self
    }

    /// `idempotency_key` (1..=256 chars): a resubmit with the same key and payload gets the
    /// same job ([D27]).
    ///
    /// [D27]: arcp_proto::compat#d27--idempotent-resubmit
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.inner.idempotency_key = Some(key.into());
        self
    }

    /// `max_runtime_sec` (1..=86400).
    pub fn max_runtime_sec(mut self, secs: u32) -> Self {
        self.inner.max_runtime_sec = Some(secs);
        self
    }

    /// The parent job of a delegation ([D28]).
    ///
    /// [D28]: arcp_proto::compat#d28--delegation
    pub fn parent_job(mut self, job_id: impl Into<JobId>) -> Self {
        self.inner.parent_job_id = Some(job_id.into());
        self
    }

    /// The envelope `trace_id` ([D15]).
    ///
    /// [D15]: arcp_proto::compat#d15--trace-id
    pub fn trace_id(mut self, trace: TraceId) -> Self {
        self.inner.trace_id = Some(trace);
        self
    }

    /// The core's form.
    pub fn into_core(self) -> CoreSubmit {
        self.inner
    }
}

impl From<CoreSubmit> for SubmitRequest {
    fn from(inner: CoreSubmit) -> Self {
        SubmitRequest { inner }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_setter_lands_in_the_core_request() {
        let at = Timestamp::parse("2026-11-24T01:30:25Z").unwrap();
        let trace = TraceId::parse("0123456789abcdef0123456789abcdef").unwrap();
        let req = SubmitRequest::new("echo@1", json!({"x": 1}))
            .lease("tool.call", ["a.*"])
            .budget(["USD:5.00"])
            .lease("tool.call", ["b.*"])
            .expires_at(at.clone())
            .idempotency_key("k")
            .max_runtime_sec(60)
            .parent_job("job_1")
            .trace_id(trace);
        assert_eq!(req.agent(), "echo@1");
        assert_eq!(req.input(), &json!({"x": 1}));
        let core = req.into_core();
        assert_eq!(
            core.lease_request.0,
            vec![
                ("tool.call".to_owned(), vec!["b.*".to_owned()]),
                ("cost.budget".to_owned(), vec!["USD:5.00".to_owned()]),
            ]
        );
        assert_eq!(core.lease_constraints.unwrap().expires_at, Some(at));
        assert_eq!(core.idempotency_key.as_deref(), Some("k"));
        assert_eq!(core.max_runtime_sec, Some(60));
        assert_eq!(core.parent_job_id.as_deref(), Some("job_1"));
        assert_eq!(core.trace_id, Some(trace));
    }
}
