//! Streamed results: `result_chunk` reassembly by `result_id` in `chunk_seq` order, with
//! per-chunk and per-result caps ([D32]), and the small base64 decoder it needs.
//!
//! [D32]: crate::compat#d32--chunk-order

use super::event::{ChunkError, ResultValue};
use crate::wire::{ChunkEncoding, JobResult, ResultChunkBody};
use serde_json::Value;
use std::collections::HashMap;

/// Decodes standard base64 (RFC 4648 §4). Padding is optional, but when present it must be
/// correct; whitespace and any other byte are refused.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    let body = match bytes.iter().position(|&b| b == b'=') {
        Some(pad) => {
            let (body, padding) = bytes.split_at_checked(pad)?;
            if !bytes.len().is_multiple_of(4)
                || padding.len() > 2
                || padding.iter().any(|&b| b != b'=')
            {
                return None;
            }
            body
        }
        None => bytes,
    };
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for group in body.chunks(4) {
        let mut acc: u32 = 0;
        for &c in group {
            acc = (acc << 6) | value(c)?;
        }
        match group.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => {
                // 18 bits: two bytes, the low 2 bits must be zero.
                if acc & 0b11 != 0 {
                    return None;
                }
                out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
            }
            2 => {
                // 12 bits: one byte, the low 4 bits must be zero.
                if acc & 0b1111 != 0 {
                    return None;
                }
                out.push((acc >> 4) as u8);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Caps applied while reassembling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkLimits {
    pub max_chunk_bytes: usize,
    pub max_result_bytes: usize,
    pub max_open_results: usize,
}

#[derive(Debug)]
struct Stream {
    job_id: String,
    next_seq: u64,
    data: Vec<u8>,
    done: bool,
}

/// Result streams being reassembled, and those refused (kept without data so that their
/// later chunks are ignored and the terminal can say why).
#[derive(Debug)]
pub(crate) struct Reassembly {
    limits: ChunkLimits,
    open: HashMap<String, Stream>,
    refused: HashMap<String, (String, ChunkError)>,
}

impl Reassembly {
    pub fn new(limits: ChunkLimits) -> Self {
        Reassembly {
            limits,
            open: HashMap::new(),
            refused: HashMap::new(),
        }
    }

    /// Streams currently open (for tests and bounds).
    pub fn open_streams(&self) -> usize {
        self.open.len()
    }

    /// Takes one chunk of `job_id`. `Err` means the stream was refused by this chunk (report
    /// it once); chunks of an already refused stream are ignored.
    pub fn chunk(&mut self, job_id: &str, chunk: &ResultChunkBody) -> Result<(), ChunkError> {
        if self.refused.contains_key(&chunk.result_id) {
            return Ok(());
        }
        let outcome = self.accept(job_id, chunk);
        if let Err(reason) = &outcome {
            self.open.remove(&chunk.result_id);
            if self.refused.len() < self.limits.max_open_results {
                self.refused
                    .insert(chunk.result_id.clone(), (job_id.to_owned(), reason.clone()));
            }
        }
        outcome
    }

    fn accept(&mut self, job_id: &str, chunk: &ResultChunkBody) -> Result<(), ChunkError> {
        let limits = self.limits;
        if !self.open.contains_key(&chunk.result_id) {
            if chunk.chunk_seq != 0 {
                return Err(ChunkError::OutOfOrder {
                    expected: 0,
                    got: chunk.chunk_seq,
                });
            }
            if self.open.len() >= limits.max_open_results {
                return Err(ChunkError::TooManyStreams {
                    limit: limits.max_open_results,
                });
            }
            self.open.insert(
                chunk.result_id.clone(),
                Stream {
                    job_id: job_id.to_owned(),
                    next_seq: 0,
                    data: Vec::new(),
                    done: false,
                },
            );
        }
        let Some(stream) = self.open.get_mut(&chunk.result_id) else {
            return Err(ChunkError::Missing);
        };
        if stream.job_id != job_id {
            return Err(ChunkError::WrongJob);
        }
        if stream.done {
            return Err(ChunkError::AfterEnd);
        }
        // D32: refuse out-of-order chunks.
        if chunk.chunk_seq != stream.next_seq {
            return Err(ChunkError::OutOfOrder {
                expected: stream.next_seq,
                got: chunk.chunk_seq,
            });
        }
        let decoded = match chunk.encoding {
            ChunkEncoding::Utf8 => chunk.data.as_bytes().to_vec(),
            ChunkEncoding::Base64 => decode_base64(&chunk.data).ok_or(ChunkError::BadBase64)?,
        };
        if decoded.len() > limits.max_chunk_bytes {
            return Err(ChunkError::ChunkTooLarge {
                size: decoded.len(),
                limit: limits.max_chunk_bytes,
            });
        }
        if stream.data.len().saturating_add(decoded.len()) > limits.max_result_bytes {
            return Err(ChunkError::ResultTooLarge {
                limit: limits.max_result_bytes,
            });
        }
        stream.data.extend_from_slice(&decoded);
        stream.next_seq = stream.next_seq.saturating_add(1);
        // D32: accept both endings, `more:false` on the last data chunk or on an extra empty one.
        stream.done = !chunk.more;
        Ok(())
    }

    /// The value of `job_id`'s successful terminal, consuming its streams.
    pub fn finish(&mut self, job_id: &str, result: &JobResult) -> ResultValue {
        let had_stream = self.open.values().any(|s| s.job_id == job_id)
            || self.refused.values().any(|(j, _)| j == job_id);
        let value = match &result.result_id {
            Some(rid) => self.streamed(job_id, rid, result),
            None => match &result.result {
                Some(_) if had_stream => ResultValue::Refused {
                    result_id: None,
                    reason: ChunkError::InlineAfterChunks,
                },
                None | Some(Value::Null) => ResultValue::None,
                Some(v) => ResultValue::Inline(v.clone()),
            },
        };
        self.forget_job(job_id);
        value
    }

    fn streamed(&mut self, job_id: &str, rid: &str, result: &JobResult) -> ResultValue {
        let refused = |reason| ResultValue::Refused {
            result_id: Some(rid.to_owned()),
            reason,
        };
        if let Some((_, reason)) = self.refused.get(rid) {
            return refused(reason.clone());
        }
        if result.result.as_ref().is_some_and(|v| !v.is_null()) {
            return refused(ChunkError::InlineAfterChunks);
        }
        match self.open.remove(rid) {
            None => refused(ChunkError::Missing),
            Some(s) if s.job_id != job_id => refused(ChunkError::WrongJob),
            Some(s) if !s.done => refused(ChunkError::Incomplete),
            Some(s) => match result.result_size {
                Some(declared) if declared != s.data.len() as u64 => {
                    refused(ChunkError::SizeMismatch {
                        declared,
                        actual: s.data.len() as u64,
                    })
                }
                _ => ResultValue::Streamed {
                    result_id: rid.to_owned(),
                    data: s.data,
                    summary: result.summary.clone(),
                },
            },
        }
    }

    /// Drops every stream (a new session).
    pub fn clear(&mut self) {
        self.open.clear();
        self.refused.clear();
    }

    /// Drops every stream of `job_id` (at its terminal, whatever the outcome).
    pub fn forget_job(&mut self, job_id: &str) {
        self.open.retain(|_, s| s.job_id != job_id);
        self.refused.retain(|_, (j, _)| j != job_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_standard_vectors() {
        for (enc, dec) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg", "foob"),
        ] {
            assert_eq!(decode_base64(enc).as_deref(), Some(dec.as_bytes()), "{enc}");
        }
        assert_eq!(decode_base64("+/+/").unwrap(), vec![0xfb, 0xff, 0xbf]);
        for bad in [
            "Z", "Zm9=v", "Zg=", "Zm9vY===", "Zh==", "Zm9 v", "Zm-v", "Zm9vYmF=",
        ] {
            assert_eq!(decode_base64(bad), None, "{bad}");
        }
    }
}
