//! Property tests of the codec: encode→decode is the identity on typed frames; decoding
//! arbitrary bytes, and arbitrary mutations of real frames, returns Ok or Err and never panics.

use arcp_proto::wire::*;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,12}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ]
}

fn env_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9A-HJKMNP-TV-Z]{26}",
        "[a-z_]{1,5}_[0-9A-Z]{26}",
        "\\PC{1,40}"
    ]
    .prop_filter("valid envelope id", |s| valid_envelope_id(s))
}

fn ts() -> impl Strategy<Value = Timestamp> {
    (0i64..253_402_300_799_999_999, any::<bool>()).prop_map(|(m, off)| {
        let t = Timestamp::from_unix_micros(m);
        if off { t.with_offset_suffix() } else { t }
    })
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn extra() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("x_[a-z]{1,6}", json(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn agent() -> impl Strategy<Value = AgentRef> {
    (
        "[a-z][a-z0-9._-]{0,10}",
        proptest::option::of("[a-zA-Z0-9][a-zA-Z0-9.+_-]{0,8}"),
    )
        .prop_map(|(n, v)| AgentRef::new(n, v))
}

fn lease() -> impl Strategy<Value = LeaseMap> {
    prop::collection::btree_map(
        "[a-z.]{1,12}",
        prop::collection::vec(any::<String>(), 0..3),
        0..4,
    )
    .prop_map(|m| LeaseMap(m.into_iter().collect()))
}

fn budget() -> impl Strategy<Value = Budget> {
    prop::collection::btree_map(
        "[A-Z][A-Za-z0-9]{0,9}",
        (-10_000_000i128..10_000_000, 0u32..6),
        0..3,
    )
    .prop_map(|m| {
        Budget(
            m.into_iter()
                .map(|(c, (mant, sc))| (c, Decimal::new(mant, sc).unwrap()))
                .collect(),
        )
    })
}

fn body() -> impl Strategy<Value = EventBody> {
    prop_oneof![
        (text(), any::<String>(), extra()).prop_map(|(level, message, extra)| EventBody::Log(
            LogBody {
                level,
                message,
                attributes: None,
                extra
            }
        )),
        (any::<String>(), extra())
            .prop_map(|(text, extra)| EventBody::Thought(ThoughtBody { text, extra })),
        (text(), text(), proptest::option::of(json()), extra()).prop_map(
            |(id, name, arguments, extra)| {
                EventBody::ToolCall(ToolCallBody {
                    tool_call_id: id,
                    name,
                    arguments,
                    extra,
                })
            }
        ),
        (
            text(),
            prop_oneof![
                number().prop_map(MetricValue::Number),
                "[0-9]{1,4}\\.[0-9]{1,3}".prop_map(MetricValue::Text)
            ],
            proptest::option::of(text()),
            extra()
        )
            .prop_map(|(name, value, unit, extra)| EventBody::Metric(MetricBody {
                name,
                value,
                unit,
                attributes: None,
                extra
            })),
        (number(), proptest::option::of(number()), extra()).prop_map(|(current, total, extra)| {
            EventBody::Progress(ProgressBody {
                current,
                total,
                units: None,
                message: None,
                extra,
            })
        }),
        (
            text(),
            any::<u64>(),
            any::<String>(),
            any::<bool>(),
            any::<bool>(),
            extra()
        )
            .prop_map(|(result_id, chunk_seq, data, b64, more, extra)| {
                EventBody::ResultChunk(ResultChunkBody {
                    result_id,
                    chunk_seq,
                    data,
                    encoding: if b64 {
                        ChunkEncoding::Base64
                    } else {
                        ChunkEncoding::Utf8
                    },
                    more,
                    extra,
                })
            }),
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(phase, id, value)| {
                EventBody::Status(StatusBody {
                    phase,
                    message: None,
                    id,
                    value,
                    extra: Map::new(),
                })
            }),
        ("x-vendor\\.[a-z]{1,8}", json()).prop_map(|(kind, body)| EventBody::Other { kind, body }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        any::<u64>().prop_map(|n| Message::Ack(Ack {
            last_processed_seq: n
        })),
        (text(), ts()).prop_map(|(nonce, sent_at)| Message::Ping(Ping { nonce, sent_at })),
        (text(), ts()).prop_map(|(ping_nonce, received_at)| Message::Pong(Pong {
            ping_nonce,
            received_at
        })),
        (any::<String>(), proptest::option::of(text()))
            .prop_map(|(reason, code)| Message::Bye(Bye { reason, code })),
        (
            proptest::option::of(any::<String>()),
            proptest::option::of(text())
        )
            .prop_map(|(reason, code)| Message::Cancel(Cancel { reason, code })),
        (
            text(),
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<u64>())
        )
            .prop_map(
                |(job_id, history, from_event_seq)| Message::Subscribe(Subscribe {
                    job_id: job_id.into(),
                    history,
                    from_event_seq
                })
            ),
        (
            proptest::option::of(1u32..=1000),
            proptest::option::of(text()),
            proptest::option::of(ts())
        )
            .prop_map(
                |(limit, cursor, created_after)| Message::ListJobs(ListJobs {
                    filter: Some(JobFilter {
                        status: Some(vec!["running".into()]),
                        agent: None,
                        created_after
                    }),
                    limit,
                    cursor
                })
            ),
        (
            prop::sample::select(ErrorCode::ALL.to_vec()),
            any::<String>(),
            any::<bool>(),
            proptest::option::of(json()),
            proptest::option::of(env_id())
        )
            .prop_map(
                |(code, message, retryable, details, request_id)| Message::Error(ErrorPayload {
                    code,
                    message,
                    retryable,
                    details,
                    request_id: request_id.map(Into::into)
                })
            ),
        (
            agent(),
            proptest::option::of(json()),
            proptest::option::of(lease()),
            proptest::option::of("\\PC{1,20}"),
            proptest::option::of(1u32..=86_400),
            extra()
        )
            .prop_map(
                |(agent, input, lease_request, idempotency_key, max_runtime_sec, extra)| {
                    Message::Submit(Submit {
                        agent,
                        input,
                        lease_request,
                        lease_constraints: None,
                        idempotency_key,
                        max_runtime_sec,
                        parent_job_id: None,
                        delegate_id: None,
                        extra,
                    })
                }
            ),
        (ts(), body()).prop_map(|(ts, body)| Message::Event(JobEvent { ts, body })),
        (
            prop::sample::select(vec![
                FinalStatus::Success,
                FinalStatus::Cancelled,
                FinalStatus::TimedOut
            ]),
            proptest::option::of(json()),
            proptest::option::of(ts())
        )
            .prop_map(
                |(final_status, result, completed_at)| Message::Result(JobResult {
                    final_status,
                    result,
                    result_id: None,
                    result_size: None,
                    summary: None,
                    completed_at
                })
            ),
        (
            prop::sample::select(ErrorCode::ALL.to_vec()),
            any::<String>(),
            ts()
        )
            .prop_map(|(code, message, t)| Message::JobError(JobError {
                final_status: FinalStatus::Error,
                retryable: code.retryable(),
                code,
                message,
                completed_at: Some(t),
                details: None
            })),
        (
            text(),
            agent(),
            ts(),
            lease(),
            proptest::option::of(budget()),
            proptest::option::of(env_id())
        )
            .prop_map(|(job_id, agent, accepted_at, lease, budget, request_id)| {
                Message::Accepted(Accepted {
                    job_id: job_id.into(),
                    agent,
                    accepted_at,
                    lease,
                    lease_constraints: None,
                    budget,
                    parent_job_id: None,
                    delegate_id: None,
                    trace_id: None,
                    credentials: None,
                    request_id: request_id.map(Into::into),
                })
            }),
        (text(), text(), prop::collection::vec("[a-z_.]{1,12}", 0..4)).prop_map(
            |(name, token, features)| Message::Hello(Hello {
                client: ClientInfo {
                    name,
                    version: "1.0.0".into(),
                    extra: Map::new()
                },
                auth: Auth::bearer(token),
                capabilities: Some(Capabilities {
                    encodings: Some(vec!["json".into()]),
                    features: Some(features),
                    agents: Some(vec![])
                }),
                resume: None,
            })
        ),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        env_id(),
        proptest::option::of(text()),
        proptest::option::of("[0-9a-f]{31}[1-9a-f]"),
        text(),
        proptest::option::of(1u64..),
        message(),
    )
        .prop_map(|(id, session_id, trace, job_id, seq, message)| {
            let ty = message.message_type();
            Frame {
                id,
                session_id: session_id.map(Into::into),
                trace_id: trace.map(|t| TraceId::parse(&t).unwrap()),
                job_id: (ty.carries_event_seq() || ty == MessageType::Cancel)
                    .then_some(job_id.into()),
                event_seq: if ty.carries_event_seq() { seq } else { None },
                message,
            }
        })
}

fn real_frames() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    for name in [
        "handshake.jsonl",
        "budget_exhaustion.jsonl",
        "result_chunks.jsonl",
        "subscribe.jsonl",
        "provisioned_credentials.jsonl",
    ] {
        for line in std::fs::read_to_string(dir.join(name)).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(raw) = v.get("raw").and_then(Value::as_str) {
                out.push(raw.as_bytes().to_vec());
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_decode_is_identity(f in frame()) {
        let bytes = f.encode();
        let back = Frame::decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(&back, &f);
        prop_assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        arcp_proto::fuzzing::decode_bytes(&data);
    }

    #[test]
    fn mutated_real_frames_never_panic(idx in any::<prop::sample::Index>(), muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)) {
        let frames = real_frames();
        let mut f = frames[idx.index(frames.len())].clone();
        for (at, byte, op) in muts {
            if f.is_empty() { break; }
            let i = at.index(f.len());
            match op {
                0 => f[i] = byte,
                1 => { f.remove(i); }
                _ => f.insert(i, byte),
            }
        }
        arcp_proto::fuzzing::decode_bytes(&f);
        if let Err(e) = Frame::decode(&f) {
            prop_assert_eq!(e.code(), ErrorCode::InvalidRequest);
        }
    }
}

#[test]
fn fuzz_entry_point_runs_on_fixed_inputs() {
    for input in [
        &b""[..],
        b"{}",
        b"\n\n{\"id\":\"A\",\"type\":\"session.ack\",\"payload\":{\"last_processed_seq\":1}}\n",
        b"[",
        &[0xff, 0xfe],
    ] {
        arcp_proto::fuzzing::decode_bytes(input);
    }
}
