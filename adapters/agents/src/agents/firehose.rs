//! `firehose` (benchmarks only; not in [`super::contract_agents`]): `{count = 1000}` `log`
//! events as fast as the runtime takes them, result `{events: count}`.

use super::u64_field;
use crate::agent::AgentError;
use crate::context::JobContext;
use arcp_proto::runtime::AgentEvent;
use arcp_proto::wire::{EventBody, LogBody};
use serde_json::{Map, Value, json};

/// Counts above this are refused (`INVALID_REQUEST`).
pub const MAX_FIREHOSE_EVENTS: u64 = 10_000_000;

/// The `firehose` agent.
pub async fn firehose(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let count = u64_field(&input, "count", 1000)?;
    if count > MAX_FIREHOSE_EVENTS {
        return Err(AgentError::invalid_input(format!(
            "count must be at most {MAX_FIREHOSE_EVENTS}"
        )));
    }
    let mut digits = itoa::Buffer::new();
    for i in 0..count {
        ctx.emit(log_event(digits.format(i))).await?;
    }
    Ok(json!({ "events": count }))
}

/// The `info` log `event {i}`, built in place: one allocation per string, no formatting.
fn log_event(i: &str) -> AgentEvent {
    let mut message = String::with_capacity("event ".len() + i.len());
    message.push_str("event ");
    message.push_str(i);
    AgentEvent::Event(EventBody::Log(LogBody {
        level: "info".to_owned(),
        message,
        attributes: None,
        extra: Map::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_event_says_event_and_its_number() {
        let AgentEvent::Event(EventBody::Log(log)) = log_event("41") else {
            panic!("not a log event");
        };
        assert_eq!(log.level, "info");
        assert_eq!(log.message, "event 41");
        assert_eq!(log.attributes, None);
        assert!(log.extra.is_empty());
    }
}
