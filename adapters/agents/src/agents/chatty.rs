//! `chatty`: `{count = 3}`; 6·count + 2 events of every common kind, result
//! `{rounds, events}`.

use super::u64_field;
use crate::agent::AgentError;
use crate::context::JobContext;
use arcp_proto::wire::ArtifactRefBody;
use serde_json::{Map, Value, json};

/// Rounds above this are refused (`INVALID_REQUEST`): each round is six events.
pub const MAX_CHATTY_ROUNDS: u64 = 100_000;

/// The `chatty` agent.
pub async fn chatty(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let count = u64_field(&input, "count", 3)?;
    if count > MAX_CHATTY_ROUNDS {
        return Err(AgentError::invalid_input(format!(
            "count must be at most {MAX_CHATTY_ROUNDS}"
        )));
    }
    ctx.status("chatty.start", Some(&format!("emitting {count} rounds")))
        .await?;
    for i in 0..count {
        let round = format!("round {i}");
        let call = format!("call_{i}");
        ctx.log("info", &round).await?;
        ctx.thought(&format!("thinking about round {i}")).await?;
        ctx.tool_call(&call, "lookup", json!({"round": i})).await?;
        ctx.tool_result(&call, json!({"round": i, "ok": true}))
            .await?;
        ctx.metric("rounds.completed", i + 1, Some("count")).await?;
        ctx.progress(i + 1, Some(count), Some("rounds"), Some(&round))
            .await?;
    }
    ctx.artifact_ref(ArtifactRefBody {
        artifact_id: Some("art_chatty_summary".into()),
        media_type: Some("text/plain".into()),
        size_bytes: Some(2),
        uri: Some("mem://chatty/summary".into()),
        summary: Some(format!("{count} rounds")),
        sha256: None,
        extra: Map::new(),
    })
    .await?;
    Ok(json!({"rounds": count, "events": 6 * count + 2}))
}
