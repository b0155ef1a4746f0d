//! Runtime-hosted tools: a [`ToolRegistry`] of named async functions with a declared cost,
//! which agents reach only through [`crate::JobContext::call_tool`] (the lease gate on
//! `tool.call`, the `tool_call` / `tool_result` events around the call, the cost charged
//! against the budget, cancellation observed).

use crate::agent::AgentError;
use crate::cancel::CancelToken;
use crate::host::BoxFuture;
use arcp_proto::wire::Amount;
use serde_json::Value;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

/// A runtime-hosted tool. Implemented for every `Fn(Value) -> impl Future<Output =
/// Result<Value, AgentError>>`, so an `async fn(args: Value)` is a tool.
pub trait Tool: Send + Sync + 'static {
    /// Runs one call with `args`. `Ok` becomes `tool_result {output}`, `Err`
    /// `tool_result {error}`.
    fn call(&self, args: Value) -> BoxFuture<'static, Result<Value, AgentError>>;
}

impl<F, Fut> Tool for F
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, AgentError>> + Send + 'static,
{
    fn call(&self, args: Value) -> BoxFuture<'static, Result<Value, AgentError>> {
        Box::pin(self(args))
    }
}

struct Entry {
    name: String,
    cost: Option<Amount>,
    tool: Arc<dyn Tool>,
}

/// Named tools with their declared cost per call. A server is built with one beside its
/// agent registry; nothing outside [`crate::JobContext::call_tool`] can run a registered
/// tool.
#[derive(Default)]
pub struct ToolRegistry {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.name, &e.cost)))
            .finish()
    }
}

impl ToolRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        ToolRegistry::default()
    }

    /// Registers `tool` as `name`, free of charge. Registering a name again replaces it.
    pub fn register(&mut self, name: &str, tool: impl Tool) -> &mut Self {
        self.insert(name, None, Arc::new(tool))
    }

    /// Registers `tool` as `name` with a declared `cost` per call (e.g.
    /// `Amount::parse("USD:0.25")`), charged against the job's budget on every call.
    pub fn register_with_cost(&mut self, name: &str, cost: Amount, tool: impl Tool) -> &mut Self {
        self.insert(name, Some(cost), Arc::new(tool))
    }

    fn insert(&mut self, name: &str, cost: Option<Amount>, tool: Arc<dyn Tool>) -> &mut Self {
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(e) => {
                e.cost = cost;
                e.tool = tool;
            }
            None => self.entries.push(Entry {
                name: name.to_owned(),
                cost,
                tool,
            }),
        }
        self
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// The declared cost of `name` (`None`: not registered or free).
    pub fn cost(&self, name: &str) -> Option<&Amount> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.cost.as_ref())
    }

    /// `true` when no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The tool and its cost; only `call_tool` reaches this, after the lease gate.
    pub(crate) fn get(&self, name: &str) -> Option<(Arc<dyn Tool>, Option<Amount>)> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| (e.tool.clone(), e.cost.clone()))
    }
}

/// Runs `fut` until it completes (`Some`) or `cancel` fires (`None`, `fut` dropped).
pub(crate) async fn until_cancelled<F: Future>(fut: F, cancel: &CancelToken) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cancelled = pin!(cancel.cancelled());
    std::future::poll_fn(move |cx| {
        if cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        fut.as_mut().poll(cx).map(Some)
    })
    .await
}
