//! `chunked`: `{data, encoding = "utf8" | "base64", chunk_size = 8}` streams its result:
//! utf8 splits `data` into runs of `chunk_size` characters, base64 its UTF-8 bytes into runs
//! of `chunk_size` bytes. [D32]: `more: false` on the last data chunk, no extra empty chunk
//! (the runtime holds each chunk back until the next one or the terminal). Summary
//! `"{n} chunks"`. Edge modes: `order: [chunk_seq…]` emits the chunks in that order (the
//! runtime refuses out-of-order chunks); `inline_after_chunks: true` emits one chunk, then
//! returns `{inline: data}` (refused by the runtime).
//!
//! [D32]: arcp_proto::compat#d32--chunk-order

use super::{bool_field, str_field, u64_field};
use crate::agent::AgentError;
use crate::base64::encode_base64;
use crate::context::JobContext;
use arcp_proto::wire::ChunkEncoding;
use serde_json::{Value, json};

/// The `chunked` agent.
pub async fn chunked(input: Value, ctx: JobContext) -> Result<Value, AgentError> {
    let data = match input.get("data") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(AgentError::invalid_input("data must be a string")),
    };
    let encoding = match str_field(&input, "encoding", "utf8")? {
        "utf8" => ChunkEncoding::Utf8,
        "base64" => ChunkEncoding::Base64,
        other => {
            return Err(AgentError::invalid_input(format!(
                "unknown encoding {other:?}"
            )));
        }
    };
    let size = usize::try_from(u64_field(&input, "chunk_size", 8)?)
        .unwrap_or(usize::MAX)
        .max(1);
    let chunks: Vec<String> = match encoding {
        ChunkEncoding::Utf8 => {
            let chars: Vec<char> = data.chars().collect();
            chars.chunks(size).map(|c| c.iter().collect()).collect()
        }
        ChunkEncoding::Base64 => data.as_bytes().chunks(size).map(encode_base64).collect(),
    };
    if bool_field(&input, "inline_after_chunks", false)? {
        let first = chunks.first().cloned().unwrap_or_default();
        ctx.result_chunk(first, encoding).await?;
        return Ok(json!({ "inline": data }));
    }
    let n = chunks.len();
    match input.get("order").and_then(Value::as_array) {
        Some(order) => {
            let last = order.len().saturating_sub(1);
            for (pos, seq) in order.iter().enumerate() {
                let seq = seq
                    .as_u64()
                    .ok_or_else(|| AgentError::invalid_input("order holds chunk_seq numbers"))?;
                let chunk = usize::try_from(seq)
                    .ok()
                    .and_then(|s| chunks.get(s))
                    .cloned()
                    .ok_or_else(|| AgentError::invalid_input("order names a missing chunk"))?;
                ctx.result_chunk_at(seq, chunk, encoding, pos != last)
                    .await?;
            }
        }
        None => {
            if n == 0 {
                ctx.result_chunk(String::new(), encoding).await?;
            }
            for c in chunks {
                ctx.result_chunk(c, encoding).await?;
            }
        }
    }
    ctx.set_summary(format!("{n} chunks"));
    Ok(Value::Null)
}
