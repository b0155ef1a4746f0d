//! Streamed results: reassembly of `result_chunk`s (utf8 and base64), both stream endings,
//! and refusal of out-of-order, over-cap and inline-after-chunk streams (COMPAT D32).

mod client_support;

use arcp_proto::client::{ChunkError, ClientEvent, ClientSession, JobOutcome, ResultValue};
use client_support::*;
use serde_json::{Value, json};

fn chunk(job: &str, seq: u64, rid: &str, n: u64, data: &str, enc: &str, more: bool) -> Value {
    event(
        job,
        seq,
        "result_chunk",
        json!({"result_id": rid, "chunk_seq": n, "data": data, "encoding": enc, "more": more}),
    )
}

fn done(job: &str, seq: u64, rid: &str, size: u64) -> Value {
    result(
        job,
        seq,
        json!({"final_status": "success", "result_id": rid, "result_size": size,
        "summary": "chunks"}),
    )
}

fn outcome(c: &mut ClientSession) -> (Vec<ClientEvent>, ResultValue) {
    let ev = evs(c);
    let r = ev.iter().find_map(|e| match e {
        ClientEvent::Terminal {
            outcome: JobOutcome::Success { result, .. },
            ..
        } => Some(result.clone()),
        _ => None,
    });
    (ev, r.expect("a success terminal"))
}

const TEXT: &str = "ARCP streams large results in order. Ünïcödé ✓ — done.";

#[test]
fn utf8_chunks_with_the_reference_empty_final_chunk() {
    let mut c = open(config());
    let parts = [
        "ARCP str",
        "eams lar",
        "ge resul",
        "ts in or",
        "der. Ünï",
        "cödé ✓ —",
        " done.",
    ];
    let mut seq = 0;
    for (i, p) in parts.iter().enumerate() {
        seq += 1;
        feed(
            &mut c,
            ms(1),
            chunk(JOB, seq, "res_1", i as u64, p, "utf8", true),
        );
    }
    feed(&mut c, ms(1), chunk(JOB, 8, "res_1", 7, "", "utf8", false));
    assert_eq!(c.open_result_streams(), 1);
    feed(&mut c, ms(1), done(JOB, 9, "res_1", 62));
    let (ev, r) = outcome(&mut c);
    assert_eq!(ev.len(), 9, "eight chunk events and the terminal");
    assert_eq!(
        r,
        ResultValue::Streamed {
            result_id: "res_1".into(),
            data: TEXT.as_bytes().to_vec(),
            summary: Some("chunks".into())
        }
    );
    assert_eq!(c.open_result_streams(), 0);
}

#[test]
fn base64_chunks_ending_on_the_last_data_chunk_d32() {
    let mut c = open(config());
    let parts = [
        "QVJDUCBzdHI=",
        "ZWFtcyBsYXI=",
        "Z2UgcmVzdWw=",
        "dHMgaW4gb3I=",
        "ZGVyLiDDnG4=",
        "w69jw7Zkw6k=",
        "IOKckyDigJQ=",
        "IGRvbmUu",
    ];
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        feed(
            &mut c,
            ms(1),
            chunk(JOB, i as u64 + 1, "res_2", i as u64, p, "base64", !last),
        );
    }
    feed(&mut c, ms(1), done(JOB, 9, "res_2", 62));
    let (_, r) = outcome(&mut c);
    match r {
        ResultValue::Streamed { data, .. } => assert_eq!(String::from_utf8(data).unwrap(), TEXT),
        other => panic!("{other:?}"),
    }
}

#[test]
fn out_of_order_chunks_are_refused() {
    let mut c = open(config());
    feed(&mut c, ms(1), chunk(JOB, 1, "res_3", 0, "ab", "utf8", true));
    feed(&mut c, ms(1), chunk(JOB, 2, "res_3", 2, "ef", "utf8", true));
    feed(
        &mut c,
        ms(1),
        chunk(JOB, 3, "res_3", 1, "cd", "utf8", false),
    );
    feed(&mut c, ms(1), done(JOB, 4, "res_3", 6));
    let (ev, r) = outcome(&mut c);
    let refused: Vec<_> = ev
        .iter()
        .filter(|e| matches!(e, ClientEvent::ResultRefused { .. }))
        .collect();
    assert_eq!(
        refused,
        vec![&ClientEvent::ResultRefused {
            job_id: JOB.into(),
            result_id: "res_3".into(),
            reason: ChunkError::OutOfOrder {
                expected: 1,
                got: 2
            }
        }],
        "reported once; later chunks of the stream are ignored"
    );
    assert_eq!(
        r,
        ResultValue::Refused {
            result_id: Some("res_3".into()),
            reason: ChunkError::OutOfOrder {
                expected: 1,
                got: 2
            }
        }
    );
    // A stream that does not start at 0 is refused too.
    feed(
        &mut c,
        ms(2),
        chunk("job_b", 5, "res_4", 1, "x", "utf8", false),
    );
    assert!(evs(&mut c).contains(&ClientEvent::ResultRefused {
        job_id: "job_b".into(),
        result_id: "res_4".into(),
        reason: ChunkError::OutOfOrder {
            expected: 0,
            got: 1
        }
    }));
}

#[test]
fn malformed_and_inconsistent_streams_are_refused() {
    let cases: Vec<(Vec<Value>, ChunkError)> = vec![
        (
            vec![
                chunk(JOB, 1, "r", 0, "%%%", "base64", false),
                done(JOB, 2, "r", 0),
            ],
            ChunkError::BadBase64,
        ),
        (
            vec![
                chunk(JOB, 1, "r", 0, "ab", "utf8", true),
                done(JOB, 2, "r", 2),
            ],
            ChunkError::Incomplete,
        ),
        (vec![done(JOB, 1, "r", 0)], ChunkError::Missing),
        (
            vec![
                chunk(JOB, 1, "r", 0, "ab", "utf8", false),
                done(JOB, 2, "r", 3),
            ],
            ChunkError::SizeMismatch {
                declared: 3,
                actual: 2,
            },
        ),
        (
            vec![
                chunk(JOB, 1, "r", 0, "ab", "utf8", false),
                chunk(JOB, 2, "r", 1, "c", "utf8", false),
                done(JOB, 3, "r", 2),
            ],
            ChunkError::AfterEnd,
        ),
        (
            vec![
                chunk("job_o", 1, "r", 0, "ab", "utf8", true),
                chunk(JOB, 2, "r", 1, "c", "utf8", false),
                done(JOB, 3, "r", 3),
            ],
            ChunkError::WrongJob,
        ),
    ];
    for (frames, want) in cases {
        let mut c = open(config());
        for f in frames {
            feed(&mut c, ms(1), f);
        }
        let (_, r) = outcome(&mut c);
        assert_eq!(
            r,
            ResultValue::Refused {
                result_id: Some("r".into()),
                reason: want.clone()
            },
            "{want:?}"
        );
    }
}

#[test]
fn inline_result_after_chunks_is_refused_d32() {
    let mut c = open(config());
    feed(&mut c, ms(1), chunk(JOB, 1, "r", 0, "ab", "utf8", true));
    feed(
        &mut c,
        ms(1),
        result(
            JOB,
            2,
            json!({"final_status": "success", "result": {"inline": "ab"}}),
        ),
    );
    let (_, r) = outcome(&mut c);
    assert_eq!(
        r,
        ResultValue::Refused {
            result_id: None,
            reason: ChunkError::InlineAfterChunks
        }
    );
    // D34: an explicit null result is no result.
    feed(
        &mut c,
        ms(2),
        result(
            "job_n",
            3,
            json!({"final_status": "success", "result": null}),
        ),
    );
    assert_eq!(outcome(&mut c).1, ResultValue::None);
}

#[test]
fn chunk_and_result_caps_d32() {
    let mut cfg = config();
    cfg.max_chunk_bytes = 4;
    cfg.max_result_bytes = 6;
    let mut c = open(cfg);
    feed(
        &mut c,
        ms(1),
        chunk(JOB, 1, "big", 0, "abcde", "utf8", false),
    );
    feed(
        &mut c,
        ms(1),
        chunk("job_2", 2, "long", 0, "abcd", "utf8", true),
    );
    feed(
        &mut c,
        ms(1),
        chunk("job_2", 3, "long", 1, "efg", "utf8", false),
    );
    feed(
        &mut c,
        ms(1),
        chunk("job_3", 4, "fits", 0, "abcd", "utf8", true),
    );
    feed(
        &mut c,
        ms(1),
        chunk("job_3", 5, "fits", 1, "ef", "utf8", false),
    );
    feed(&mut c, ms(1), done("job_3", 6, "fits", 6));
    let refused: Vec<_> = evs(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::ResultRefused {
                result_id, reason, ..
            } => Some((result_id, reason)),
            ClientEvent::Terminal {
                outcome: JobOutcome::Success { result, .. },
                ..
            } => {
                assert!(
                    matches!(result, ResultValue::Streamed { ref data, .. } if data == b"abcdef")
                );
                None
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            (
                "big".to_owned(),
                ChunkError::ChunkTooLarge { size: 5, limit: 4 }
            ),
            ("long".to_owned(), ChunkError::ResultTooLarge { limit: 6 }),
        ]
    );
}

#[test]
fn open_stream_cap() {
    let mut cfg = config();
    cfg.max_open_results = 2;
    let mut c = open(cfg);
    for (i, rid) in ["a", "b", "c"].iter().enumerate() {
        feed(
            &mut c,
            ms(1),
            chunk(
                &format!("job_{rid}"),
                i as u64 + 1,
                rid,
                0,
                "x",
                "utf8",
                true,
            ),
        );
    }
    assert_eq!(c.open_result_streams(), 2);
    let ev = evs(&mut c);
    assert_eq!(
        ev.last(),
        Some(&ClientEvent::ResultRefused {
            job_id: "job_c".into(),
            result_id: "c".into(),
            reason: ChunkError::TooManyStreams { limit: 2 }
        })
    );
    // A terminal frees its job's streams.
    feed(
        &mut c,
        ms(2),
        result("job_a", 4, json!({"final_status": "cancelled"})),
    );
    assert_eq!(c.open_result_streams(), 1);
}
