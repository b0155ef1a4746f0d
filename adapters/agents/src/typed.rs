//! Typed agents: an `async fn(T, JobContext) -> Result<U, AgentError>` whose input `T` is
//! deserialized from the job's input and whose output `U` is serialized into its result, both
//! through serde; and `?` on `serde_json` errors inside an agent.

use crate::agent::{Agent, AgentError};
use crate::context::JobContext;
use crate::host::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::marker::PhantomData;

/// A `serde_json` error inside an agent (`?` on `serde_json::from_value` of an input part or
/// a tool's output) ends the job `INVALID_REQUEST` with the error's text.
impl From<serde_json::Error> for AgentError {
    fn from(e: serde_json::Error) -> Self {
        AgentError::invalid_input(e.to_string())
    }
}

/// The agent [`typed`] returns.
pub struct Typed<F, T, U> {
    f: F,
    // `fn(T) -> U`: Send and Sync whatever T and U are; the agent holds neither.
    _types: PhantomData<fn(T) -> U>,
}

impl<F, T, U> std::fmt::Debug for Typed<F, T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed")
            .field("input", &std::any::type_name::<T>())
            .field("output", &std::any::type_name::<U>())
            .finish_non_exhaustive()
    }
}

/// An agent from a function over typed input and output:
///
/// - the job's input is deserialized into `T`; when it does not fit, the job ends
///   `INVALID_REQUEST` with the message `invalid input: ` and serde's text, and `f` is not
///   called;
/// - `f`'s `Ok(U)` is serialized into the job's result (`()` gives no result); a `U` that
///   cannot be serialized ends the job `INTERNAL_ERROR` (`cannot serialize the result: …`);
/// - `f`'s `Err` ends the job with that error, as for any agent.
///
/// ```
/// use arcp_agents::{AgentError, AgentRegistry, JobContext, typed};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Greet { name: String }
/// #[derive(Serialize)]
/// struct Greeting { text: String }
///
/// async fn greet(input: Greet, ctx: JobContext) -> Result<Greeting, AgentError> {
///     ctx.progress(1u64, Some(1), None, None).await?;
///     Ok(Greeting { text: format!("hello, {}", input.name) })
/// }
///
/// let mut agents = AgentRegistry::new();
/// agents.register("greet", None, typed(greet));
/// ```
pub fn typed<T, U, F, Fut>(f: F) -> Typed<F, T, U>
where
    T: DeserializeOwned + 'static,
    U: Serialize + 'static,
    F: Fn(T, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<U, AgentError>> + Send + 'static,
{
    Typed {
        f,
        _types: PhantomData,
    }
}

impl<T, U, F, Fut> Agent for Typed<F, T, U>
where
    T: DeserializeOwned + 'static,
    U: Serialize + 'static,
    F: Fn(T, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<U, AgentError>> + Send + 'static,
{
    fn run(&self, input: Value, ctx: JobContext) -> BoxFuture<'static, Result<Value, AgentError>> {
        let input = match serde_json::from_value::<T>(input) {
            Ok(t) => t,
            Err(e) => {
                let err = AgentError::invalid_input(format!("invalid input: {e}"));
                return Box::pin(std::future::ready(Err(err)));
            }
        };
        let fut = (self.f)(input, ctx);
        Box::pin(async move {
            let out = fut.await?;
            serde_json::to_value(out)
                .map_err(|e| AgentError::internal(format!("cannot serialize the result: {e}")))
        })
    }
}
