//! Result streaming (§8.4, [D32]): chunks leave in `chunk_seq` order, capped per chunk and in
//! total (over a cap: `INTERNAL_ERROR`), `more:false` on the last data chunk, and no inline
//! result after chunks.
//!
//! The state holds back the latest `more:true` chunk until the next one (or the terminal)
//! arrives, so that an agent's extra empty final chunk (the reference's form) is folded into
//! `more:false` on the last data chunk.
//!
//! [D32]: crate::compat#d32--chunk-order

use crate::wire::{ChunkEncoding, ErrorCode, ResultChunkBody};

/// The caps on a streamed result (`Bounds::max_chunk_bytes`, `Bounds::max_result_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::runtime) struct ChunkLimits {
    pub max_chunk: usize,
    pub max_total: usize,
}

/// One chunk an agent emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::runtime) struct Chunk {
    pub chunk_seq: u64,
    pub data: String,
    pub encoding: ChunkEncoding,
    pub more: bool,
}

/// The streamed result of one job.
#[derive(Debug, Default)]
pub(in crate::runtime) struct ChunkState {
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

/// Bytes a base64 text decodes to.
fn base64_len(data: &str) -> u64 {
    let n = data.trim_end_matches('=').len() as u64;
    n * 3 / 4
}

impl ChunkState {
    /// `(result_id, result_size)` when the job streamed its result.
    pub fn streamed(&self) -> Option<(String, u64)> {
        self.result_id.clone().map(|r| (r, self.decoded))
    }

    /// Takes `chunk`; returns the chunks to emit now, in order (at most two: the one held
    /// back, then a final one), or the failure that ends the job. `mint` names the result
    /// (called once, on the first data chunk).
    pub fn push(
        &mut self,
        chunk: Chunk,
        limits: ChunkLimits,
        mint: impl FnOnce() -> String,
    ) -> Result<Vec<ResultChunkBody>, (ErrorCode, String)> {
        let Chunk {
            chunk_seq,
            data,
            encoding,
            more,
        } = chunk;
        if self.done {
            // Only the reference's extra empty final chunk may follow a final chunk.
            return Err((
                ErrorCode::InvalidRequest,
                "result chunk after the final chunk".to_owned(),
            ));
        }
        if chunk_seq != self.next_seq {
            return Err((
                ErrorCode::InvalidRequest,
                format!(
                    "result chunk {chunk_seq} out of order (expected {})",
                    self.next_seq
                ),
            ));
        }
        if data.len() > limits.max_chunk {
            return Err((
                ErrorCode::InternalError,
                format!(
                    "result chunk of {} bytes exceeds {}",
                    data.len(),
                    limits.max_chunk
                ),
            ));
        }
        if self.data_bytes.saturating_add(data.len()) > limits.max_total {
            return Err((
                ErrorCode::InternalError,
                format!("streamed result exceeds {} bytes", limits.max_total),
            ));
        }
        self.next_seq += 1;
        self.data_bytes += data.len();
        self.decoded += match encoding {
            ChunkEncoding::Utf8 => data.len() as u64,
            ChunkEncoding::Base64 => base64_len(&data),
        };
        // The reference's extra empty final chunk: fold it into the held chunk (D32).
        if data.is_empty()
            && !more
            && let Some(mut held) = self.held.take()
        {
            held.more = false;
            self.done = true;
            return Ok(vec![held]);
        }
        let result_id = self.result_id.get_or_insert_with(mint).clone();
        let body = ResultChunkBody {
            result_id,
            chunk_seq,
            data,
            encoding,
            more,
            extra: Default::default(),
        };
        let previous = self.held.take();
        let final_now = if more {
            self.held = Some(body);
            None
        } else {
            self.done = true;
            Some(body)
        };
        Ok(previous.into_iter().chain(final_now).collect())
    }

    /// The held chunk, to send before the terminal: with `more:false` on success ([D32]).
    ///
    /// [D32]: crate::compat#d32--chunk-order
    pub fn take_held(&mut self, success: bool) -> Option<ResultChunkBody> {
        let mut held = self.held.take()?;
        if success {
            held.more = false;
            self.done = true;
        }
        Some(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ChunkLimits = ChunkLimits {
        max_chunk: 8,
        max_total: 12,
    };

    fn chunk(seq: u64, data: &str, more: bool) -> Chunk {
        Chunk {
            chunk_seq: seq,
            data: data.into(),
            encoding: ChunkEncoding::Utf8,
            more,
        }
    }

    fn view(v: &[ResultChunkBody]) -> Vec<(u64, &str, bool, &str)> {
        v.iter()
            .map(|c| (c.chunk_seq, c.data.as_str(), c.more, c.result_id.as_str()))
            .collect()
    }

    #[test]
    fn holds_one_back_and_folds_the_empty_final_chunk_d32() {
        let mut st = ChunkState::default();
        let mut minted = 0;
        let mut mint = || {
            minted += 1;
            "res_1".to_owned()
        };
        let a = st.push(chunk(0, "abc", true), LIMITS, &mut mint).unwrap();
        assert!(a.is_empty());
        let b = st.push(chunk(1, "de", true), LIMITS, &mut mint).unwrap();
        assert_eq!(view(&b), vec![(0, "abc", true, "res_1")]);
        let c = st.push(chunk(2, "", false), LIMITS, &mut mint).unwrap();
        assert_eq!(view(&c), vec![(1, "de", false, "res_1")]);
        assert_eq!(minted, 1);
        assert_eq!(st.streamed(), Some(("res_1".to_owned(), 5)));
        assert_eq!(
            st.push(chunk(3, "x", false), LIMITS, || "res_2".into()),
            Err((
                ErrorCode::InvalidRequest,
                "result chunk after the final chunk".to_owned()
            ))
        );
    }

    #[test]
    fn a_final_data_chunk_releases_the_held_one_then_itself() {
        let mut st = ChunkState::default();
        st.push(chunk(0, "ab", true), LIMITS, || "res_1".into())
            .unwrap();
        let out = st.push(chunk(1, "cd", false), LIMITS, || "res_x".into());
        assert_eq!(
            view(&out.unwrap()),
            vec![(0, "ab", true, "res_1"), (1, "cd", false, "res_1")]
        );
        assert_eq!(st.take_held(true), None);
    }

    #[test]
    fn order_and_caps_are_enforced() {
        let mut st = ChunkState::default();
        assert_eq!(
            st.push(chunk(1, "a", true), LIMITS, || "r".into()),
            Err((
                ErrorCode::InvalidRequest,
                "result chunk 1 out of order (expected 0)".to_owned()
            ))
        );
        assert_eq!(
            st.push(chunk(0, "123456789", true), LIMITS, || "r".into()),
            Err((
                ErrorCode::InternalError,
                "result chunk of 9 bytes exceeds 8".to_owned()
            ))
        );
        st.push(chunk(0, "12345678", true), LIMITS, || "r".into())
            .unwrap();
        assert_eq!(
            st.push(chunk(1, "12345", true), LIMITS, || "r".into()),
            Err((
                ErrorCode::InternalError,
                "streamed result exceeds 12 bytes".to_owned()
            ))
        );
    }

    #[test]
    fn base64_counts_decoded_bytes_and_held_chunk_closes_on_success() {
        let mut st = ChunkState::default();
        let b64 = Chunk {
            encoding: ChunkEncoding::Base64,
            ..chunk(0, "aGVsbG8=", true)
        };
        st.push(b64, LIMITS, || "res_9".into()).unwrap();
        assert_eq!(st.streamed(), Some(("res_9".to_owned(), 5)));
        let held = st.take_held(true).expect("held");
        assert_eq!((held.chunk_seq, held.more), (0, false));
        assert_eq!(
            st.push(chunk(1, "", false), LIMITS, || "r".into())
                .map(|_| ()),
            Err((
                ErrorCode::InvalidRequest,
                "result chunk after the final chunk".to_owned()
            ))
        );
        let mut failed = ChunkState::default();
        failed
            .push(chunk(0, "ab", true), LIMITS, || "r".into())
            .unwrap();
        assert_eq!(failed.take_held(false).map(|c| c.more), Some(true));
    }
}
