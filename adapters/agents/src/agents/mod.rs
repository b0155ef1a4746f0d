//! The contract agents of `interop/README.md` ("Agent contract"), as adjusted by the
//! [compatibility notes][docs/compat.md], and [`contract_agents`], the registry that hosts
//! them.
//!
//! [docs/compat.md]: arcp_proto::compat

mod budget;
mod chatty;
mod chunked;
mod delegator;
mod echo;
mod failing;
mod firehose;
mod lease_check;
mod rotator;
mod slow;
mod versioned;

pub use budget::{MAX_BUDGET_STEPS, budget};
pub use chatty::{MAX_CHATTY_ROUNDS, chatty};
pub use chunked::chunked;
pub use delegator::delegator;
pub use echo::echo;
pub use failing::failing;
pub use firehose::{MAX_FIREHOSE_EVENTS, firehose};
pub use lease_check::{MAX_LEASE_CHECK_OPS, lease_check};
pub use rotator::rotator;
pub use slow::{MAX_SLOW_TICKS, slow};
pub use versioned::versioned;

use crate::agent::AgentError;
use crate::registry::AgentRegistry;
use serde_json::Value;
use std::time::Duration;

/// The version every contract agent but `versioned` is registered at.
pub const CONTRACT_VERSION: &str = "1.0.0";

/// The contract agents, in the reference's inventory order: echo, chatty, slow, budget,
/// lease-check, chunked, delegator, failing, rotator (all `1.0.0`) and versioned (`1.0.0`
/// and `2.0.0`, default `2.0.0`). `firehose` is not included (see [`firehose`]).
pub fn contract_agents() -> AgentRegistry {
    let v = Some(CONTRACT_VERSION);
    let mut r = AgentRegistry::new();
    r.register("echo", v, echo)
        .register("chatty", v, chatty)
        .register("slow", v, slow)
        .register("budget", v, budget)
        .register("lease-check", v, lease_check)
        .register("chunked", v, chunked)
        .register("delegator", v, delegator)
        .register("failing", v, failing)
        .register("rotator", v, rotator)
        .register("versioned", Some("1.0.0"), versioned)
        .register("versioned", Some("2.0.0"), versioned);
    r.set_default("versioned", "2.0.0");
    r
}

/// `input[key]` as an unsigned integer; `default` when absent or null.
pub(crate) fn u64_field(input: &Value, key: &str, default: u64) -> Result<u64, AgentError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| {
            AgentError::invalid_input(format!("{key} must be a non-negative integer"))
        }),
    }
}

/// `input[key]` as a number; `default` when absent or null.
pub(crate) fn f64_field(input: &Value, key: &str, default: f64) -> Result<f64, AgentError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| AgentError::invalid_input(format!("{key} must be a number"))),
    }
}

/// `input[key]` as a string; `default` when absent or null.
pub(crate) fn str_field<'a>(
    input: &'a Value,
    key: &str,
    default: &'a str,
) -> Result<&'a str, AgentError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_str()
            .ok_or_else(|| AgentError::invalid_input(format!("{key} must be a string"))),
    }
}

/// `input[key]` as a boolean; `default` when absent or null.
pub(crate) fn bool_field(input: &Value, key: &str, default: bool) -> Result<bool, AgentError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| AgentError::invalid_input(format!("{key} must be a boolean"))),
    }
}

/// A non-negative, finite number of seconds as a duration (anything else: zero).
pub(crate) fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
