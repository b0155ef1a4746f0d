//! The agent's stderr → `log` events at `warn` (`docs/agent-protocol.md` §8): bounded line
//! length, a rate limit per one-second window, a total per job; always drained.

use super::lines::next_stderr_line;
use super::spec::StderrLimits;
use arcp_agents::JobContext;
use arcp_proto::wire::{EventBody, LogBody};
use serde_json::{Map, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, BufReader};
use tokio::time::Instant;

/// A `log warn` event; `source` marks a line of the agent's stderr.
fn log(message: String, from_stderr: bool) -> EventBody {
    EventBody::Log(LogBody {
        level: "warn".to_owned(),
        message,
        attributes: from_stderr.then(|| json!({"source": "stderr"})),
        extra: Map::new(),
    })
}

/// Reads `stderr` to EOF, turning lines into events on the job of `ctx` until `ended`.
pub(crate) async fn run<R: AsyncRead + Unpin>(
    stderr: R,
    ctx: JobContext,
    limits: StderrLimits,
    ended: Arc<AtomicBool>,
) {
    let mut r = BufReader::new(stderr);
    let mut buf = Vec::new();
    let mut passed: u64 = 0;
    let mut dropped: u64 = 0;
    let mut over = false;
    // The current rate window: when it started, lines passed in it.
    let mut window: Option<(Instant, u32)> = None;
    while let Ok(Some(line)) = next_stderr_line(&mut r, limits.line_bytes, &mut buf).await {
        if line.is_empty() || over || ended.load(Ordering::Acquire) {
            continue;
        }
        if limits.lines_per_sec > 0 {
            let now = Instant::now();
            let count = match &mut window {
                Some((start, n)) if now < *start + Duration::from_secs(1) => n,
                w => &mut w.insert((now, 0)).1,
            };
            if *count >= limits.lines_per_sec {
                dropped += 1;
                continue;
            }
            *count += 1;
        }
        if dropped > 0 {
            let notice = format!("agent stderr: {dropped} lines dropped (rate limit)");
            dropped = 0;
            let _ = ctx.event(log(notice, false)).await;
        }
        if passed >= limits.max_lines {
            over = true;
            let notice = format!(
                "agent stderr: limit of {} lines reached; further output discarded",
                limits.max_lines
            );
            let _ = ctx.event(log(notice, false)).await;
            continue;
        }
        passed += 1;
        if !ended.load(Ordering::Acquire) {
            // Refused only once the job has ended: nothing to do.
            let _ = ctx.event(log(line, true)).await;
        }
    }
}
