//! `slow`: `{seconds = 30, tick = 0.5}`; `status slow.start`, then one `progress` per tick;
//! result `{slept, ticks}`. Cancellable at any time (the adapter drops it on cancel, which
//! also covers `max_runtime_sec`).

use super::{f64_field, seconds};
use crate::agent::AgentError;
use crate::context::JobContext;
use serde_json::{Value, json};

/// Ticks above this are refused (`INVALID_REQUEST`).
pub const MAX_SLOW_TICKS: u64 = 1_000_000;

/// The `slow` agent.
pub async fn slow(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let secs = f64_field(&input, "seconds", 30.0)?.max(0.0);
    let tick = f64_field(&input, "tick", 0.5)?;
    if tick <= 0.0 {
        return Err(AgentError::invalid_input("tick must be positive"));
    }
    let ticks_f = (secs / tick).ceil().max(1.0);
    if ticks_f > MAX_SLOW_TICKS as f64 {
        return Err(AgentError::invalid_input(format!(
            "at most {MAX_SLOW_TICKS} ticks"
        )));
    }
    let ticks = ticks_f as u64;
    // The reference prints `{seconds:g}`: 0.6 → "0.6", 30.0 → "30" (as Rust's f64 Display).
    ctx.status(
        "slow.start",
        Some(&format!("sleeping {secs}s in {ticks} ticks")),
    )
    .await?;
    let mut elapsed = 0.0f64;
    for k in 1..=ticks {
        let step = tick.min(secs - elapsed).max(0.0);
        ctx.sleep(seconds(step)).await;
        elapsed += step;
        ctx.progress(k, Some(ticks), Some("ticks"), None).await?;
    }
    let slept = input
        .get("seconds")
        .filter(|v| v.is_number())
        .cloned()
        .unwrap_or(json!(30));
    Ok(json!({"slept": slept, "ticks": ticks}))
}
