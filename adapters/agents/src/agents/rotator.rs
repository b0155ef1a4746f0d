//! `rotator`: `{delay_sec = 0.2, linger_sec = 0}`; after `delay_sec` rotates every
//! credential of the job (`status credential_rotated`), waits `linger_sec`, result
//! `{rotated: [ids]}`.

use super::{f64_field, seconds};
use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::{Value, json};

/// The `rotator` agent.
pub async fn rotator(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let delay = f64_field(&input, "delay_sec", 0.2)?;
    let linger = f64_field(&input, "linger_sec", 0.0)?;
    ctx.sleep(seconds(delay)).await;
    let mut rotated = Vec::new();
    for c in ctx.credentials() {
        ctx.rotate_credential(&c.id).await?;
        rotated.push(c.id);
    }
    ctx.sleep(seconds(linger)).await;
    Ok(json!({ "rotated": rotated }))
}
