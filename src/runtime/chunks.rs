//! Result streaming (§8.4, D32): chunks leave in `chunk_seq` order, capped per chunk and in
//! total (over a cap: `INTERNAL_ERROR`), `more:false` on the last data chunk, and no inline
//! result after chunks.
//!
//! The runtime holds back the latest `more:true` chunk until the next one (or the terminal)
//! arrives, so that an agent's extra empty final chunk (the reference's form) is folded into
//! `more:false` on the last data chunk.

use super::Runtime;
use crate::time::Instant;
use crate::wire::{ChunkEncoding, ErrorCode, EventBody, IdKind, ResultChunkBody};

/// The streamed result of one job.
#[derive(Debug, Default)]
pub(super) struct ChunkState {
    result_id: Option<String>,
    next_seq: u64,
    /// Decoded bytes so far (`result_size`).
    decoded: u64,
    /// `data` bytes so far (the total cap).
    data_bytes: usize,
    held: Option<ResultChunkBody>,
    /// A `more:false` chunk was sent.
    done: bool,
}

impl ChunkState {
    /// `(result_id, result_size)` when the job streamed its result.
    pub fn streamed(&self) -> Option<(String, u64)> {
        self.result_id.clone().map(|r| (r, self.decoded))
    }
}

/// Bytes a base64 text decodes to.
fn base64_len(data: &str) -> u64 {
    let n = data.trim_end_matches('=').len() as u64;
    n * 3 / 4
}

impl Runtime {
    pub(super) fn result_chunk(
        &mut self,
        now: Instant,
        job_id: &str,
        chunk_seq: u64,
        data: String,
        encoding: ChunkEncoding,
        more: bool,
    ) {
        let max_chunk = self.cfg.bounds.max_chunk_bytes;
        let max_total = self.cfg.bounds.max_result_bytes;
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let st = &mut job.chunks;
        let failure = if st.done {
            // Only the reference's extra empty final chunk may follow a final chunk.
            Some((
                ErrorCode::InvalidRequest,
                "result chunk after the final chunk".to_owned(),
            ))
        } else if chunk_seq != st.next_seq {
            Some((
                ErrorCode::InvalidRequest,
                format!(
                    "result chunk {chunk_seq} out of order (expected {})",
                    st.next_seq
                ),
            ))
        } else if data.len() > max_chunk {
            Some((
                ErrorCode::InternalError,
                format!("result chunk of {} bytes exceeds {max_chunk}", data.len()),
            ))
        } else if st.data_bytes.saturating_add(data.len()) > max_total {
            Some((
                ErrorCode::InternalError,
                format!("streamed result exceeds {max_total} bytes"),
            ))
        } else {
            None
        };
        if let Some((code, msg)) = failure {
            self.fail_job(now, job_id, code, msg, true);
            return;
        }
        st.next_seq += 1;
        st.data_bytes += data.len();
        st.decoded += match encoding {
            ChunkEncoding::Utf8 => data.len() as u64,
            ChunkEncoding::Base64 => base64_len(&data),
        };
        // The reference's extra empty final chunk: fold it into the held chunk (D32).
        if data.is_empty()
            && !more
            && let Some(mut held) = st.held.take()
        {
            held.more = false;
            st.done = true;
            self.emit_event(now, job_id, EventBody::ResultChunk(held));
            return;
        }
        let result_id = match &st.result_id {
            Some(r) => r.clone(),
            None => {
                let r = self.mint(now, IdKind::Result);
                if let Some(j) = self.jobs.get_mut(job_id) {
                    j.chunks.result_id = Some(r.clone());
                }
                r
            }
        };
        let body = ResultChunkBody {
            result_id,
            chunk_seq,
            data,
            encoding,
            more,
            extra: Default::default(),
        };
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let previous = job.chunks.held.take();
        let final_now = if more {
            job.chunks.held = Some(body);
            None
        } else {
            job.chunks.done = true;
            Some(body)
        };
        if let Some(p) = previous {
            self.emit_event(now, job_id, EventBody::ResultChunk(p));
        }
        if let Some(b) = final_now {
            self.emit_event(now, job_id, EventBody::ResultChunk(b));
        }
    }

    /// Sends the held chunk before the terminal: with `more:false` on success (D32).
    pub(super) fn flush_held_chunk(&mut self, now: Instant, job_id: &str, last: bool) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        if let Some(mut held) = job.chunks.held.take() {
            if last {
                held.more = false;
                job.chunks.done = true;
            }
            self.emit_event(now, job_id, EventBody::ResultChunk(held));
        }
    }
}
