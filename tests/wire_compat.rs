//! Exact-value tests for the COMPAT.md rows the wire layer owns: D12, D13, D15, D16, D17, D21,
//! D22, D23, D34, plus decode errors (D18, D19, D20) and the frame cap (D35).

use arcp_proto::wire::{
    Accepted, Budget, DecodeErrorKind, ErrorCode, ErrorPayload, EventBody, Frame, JobResult,
    Limits, Message, MessageType, decode,
};
use serde_json::{Value, json};

fn dec(s: &str) -> Frame {
    Frame::decode(s.as_bytes()).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn json_of(f: &Frame) -> Value {
    serde_json::from_slice(&f.encode()).unwrap()
}

#[test]
fn d12_budget_echo_reference_form_out_both_forms_in() {
    let f = dec(
        r#"{"arcp":"1.1","id":"A1","type":"job.accepted","payload":{"job_id":"job_1","agent":"budget@1.0.0","accepted_at":"2026-11-24T01:30:39.915733Z","lease":{"cost.budget":["USD:1.00","USD:2.5","credits:1000"]},"budget":{"USD":3.5,"credits":"credits:1000"}}}"#,
    );
    let Message::Accepted(a) = &f.message else {
        panic!()
    };
    let b: &Budget = a.budget.as_ref().unwrap();
    assert_eq!(b.get("USD").unwrap().to_string(), "3.5");
    assert_eq!(
        json_of(&f)["payload"]["budget"],
        json!({"USD":"USD:3.5","credits":"credits:1000"})
    );
    // The reference form keeps its scale exactly.
    let f = dec(
        r#"{"id":"A2","type":"job.accepted","payload":{"job_id":"j","agent":"a","accepted_at":"2026-11-24T01:30:39Z","lease":{},"budget":{"USD":"USD:5.00"}}}"#,
    );
    assert_eq!(json_of(&f)["payload"]["budget"], json!({"USD":"USD:5.00"}));
}

#[test]
fn d13_credential_constraints_reference_keys_out_spec_keys_in() {
    let spec = r#"{"id":"A3","type":"job.accepted","payload":{"job_id":"j","agent":"a","accepted_at":"2026-11-24T01:30:39Z","lease":{},"credentials":[{"id":"cred_1","scheme":"bearer","value":"v","endpoint":"https://gw.invalid/v1","constraints":{"cost.budget":["USD:1.00"],"model.use":["tier-fast/*"],"expires_at":"2026-11-24T01:32:43Z"}}]}}"#;
    let f = dec(spec);
    assert_eq!(
        json_of(&f)["payload"]["credentials"][0]["constraints"],
        json!({"cost_budget":["USD:1.00"],"model_use":["tier-fast/*"],"expires_at":"2026-11-24T01:32:43Z"})
    );
    let reference = spec
        .replace("cost.budget", "cost_budget")
        .replace("model.use", "model_use");
    assert_eq!(dec(&reference), f);
}

#[test]
fn d15_trace_id_bare_out_traceparent_in() {
    let f = dec(
        r#"{"id":"A4","type":"session.ping","trace_id":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","payload":{"nonce":"n","sent_at":"2026-11-24T01:30:36.909290+00:00"}}"#,
    );
    assert_eq!(
        json_of(&f)["trace_id"],
        json!("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let e = Frame::decode(br#"{"id":"A5","type":"session.ping","trace_id":"00000000000000000000000000000000","payload":{"nonce":"n","sent_at":"2026-11-24T01:30:36Z"}}"#).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Envelope);
    assert_eq!(e.request_id.as_deref(), Some("A5"));
    assert_eq!(e.code(), ErrorCode::InvalidRequest);
}

#[test]
fn d16_envelope_ids_any_nonempty_string_up_to_128() {
    let ok = format!(
        r#"{{"id":"{}","type":"session.ack","payload":{{"last_processed_seq":1}}}}"#,
        "x".repeat(128)
    );
    assert_eq!(dec(&ok).id.len(), 128);
    assert_eq!(
        dec(r#"{"id":"lower-case-id","type":"session.ack","payload":{"last_processed_seq":1}}"#).id,
        "lower-case-id"
    );
    for bad in [
        format!(
            r#"{{"id":"{}","type":"session.ack","payload":{{"last_processed_seq":1}}}}"#,
            "x".repeat(129)
        ),
        r#"{"id":"","type":"session.ack","payload":{"last_processed_seq":1}}"#.to_owned(),
        r#"{"id":7,"type":"session.ack","payload":{"last_processed_seq":1}}"#.to_owned(),
        r#"{"type":"session.ack","payload":{"last_processed_seq":1}}"#.to_owned(),
    ] {
        let e = Frame::decode(bad.as_bytes()).unwrap_err();
        assert_eq!(
            (e.kind, e.request_id),
            (DecodeErrorKind::Envelope, None),
            "{bad}"
        );
    }
    // Minted ids are upper-case ULIDs.
    let mut m = arcp_proto::wire::IdMinter::new();
    let id = m.mint(
        arcp_proto::wire::IdKind::Envelope,
        1_795_483_836_909,
        &mut arcp_proto::wire::SeededEntropy::new(1),
    );
    assert!(
        id.len() == 26
            && id.starts_with("01M85JT8FD")
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    );
}

#[test]
fn d17_arcp_absent_is_1_1_other_values_invalid() {
    let f = dec(r#"{"id":"A6","type":"session.ack","payload":{"last_processed_seq":3}}"#);
    assert_eq!(json_of(&f)["arcp"], json!("1.1"));
    for v in [r#""1.0""#, r#""2.0""#, "1.1", "null_x"] {
        let s = format!(
            r#"{{"arcp":{v},"id":"A7","type":"session.ack","payload":{{"last_processed_seq":3}}}}"#
        );
        match Frame::decode(s.as_bytes()) {
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::InvalidRequest, "{s}");
                if v != "null_x" {
                    assert_eq!(e.request_id.as_deref(), Some("A7"), "{s}");
                }
            }
            Ok(_) => panic!("accepted {s}"),
        }
    }
}

#[test]
fn d18_d19_d20_every_decode_failure_is_invalid_request_with_request_id() {
    let cases: [(&str, DecodeErrorKind, Option<&str>); 9] = [
        ("{not json", DecodeErrorKind::Malformed, None),
        ("[1,2]", DecodeErrorKind::NotObject, None),
        ("\"str\"", DecodeErrorKind::NotObject, None),
        (
            r#"{"id":"B1","type":"session.frobnicate"}"#,
            DecodeErrorKind::UnknownType("session.frobnicate".into()),
            Some("B1"),
        ),
        (
            r#"{"id":"B2","type":"job.submit","payload":{"agent":"-bad"}}"#,
            DecodeErrorKind::Payload(MessageType::Submit),
            Some("B2"),
        ),
        (
            r#"{"id":"B3","type":"session.hello","payload":{"client":{"name":"c","version":"1"},"auth":{"scheme":"Bearer","token":"t"}}}"#,
            DecodeErrorKind::Payload(MessageType::Hello),
            Some("B3"),
        ),
        (
            r#"{"id":"B4","type":"session.list_jobs","payload":{"limit":0}}"#,
            DecodeErrorKind::Payload(MessageType::ListJobs),
            Some("B4"),
        ),
        (
            r#"{"id":"B5","type":"job.cancel","payload":{"reason":"x"}}"#,
            DecodeErrorKind::Envelope,
            Some("B5"),
        ),
        (
            r#"{"id":"B6","type":"job.event","event_seq":0,"payload":{}}"#,
            DecodeErrorKind::Envelope,
            Some("B6"),
        ),
    ];
    for (raw, kind, rid) in cases {
        let e = Frame::decode(raw.as_bytes()).unwrap_err();
        assert_eq!(e.kind, kind, "{raw}");
        assert_eq!(e.request_id.as_deref(), rid, "{raw}");
        let p: ErrorPayload = e.to_error_payload();
        assert_eq!(
            (p.code, p.retryable, p.details),
            (ErrorCode::InvalidRequest, false, None),
            "{raw}"
        );
        assert_eq!(p.request_id.as_deref(), rid, "{raw}");
    }
    // The lease pattern type is checked at decode: a non-string pattern is INVALID_REQUEST (D18).
    let e = Frame::decode(br#"{"id":"B7","type":"job.submit","payload":{"agent":"echo","lease_request":{"fs.read":[1]}}}"#).unwrap_err();
    assert_eq!(
        (e.code(), e.kind),
        (
            ErrorCode::InvalidRequest,
            DecodeErrorKind::Payload(MessageType::Submit)
        )
    );
}

#[test]
fn d21_details_kept_when_decoded_omitted_when_built() {
    let f = dec(
        r#"{"arcp":"1.1","id":"C1","type":"session.error","payload":{"code":"UNAUTHENTICATED","message":"invalid bearer token","retryable":false,"details":null}}"#,
    );
    let Message::Error(p) = &f.message else {
        panic!()
    };
    assert_eq!(p.details, Some(Value::Null));
    assert_eq!(
        json_of(&f)["payload"],
        json!({"code":"UNAUTHENTICATED","message":"invalid bearer token","retryable":false,"details":null})
    );
    let built = Frame::new(
        "C2",
        Message::Error(ErrorPayload::new(ErrorCode::JobNotFound, "no such job")),
    );
    assert_eq!(
        built.to_json(),
        r#"{"arcp":"1.1","id":"C2","type":"session.error","payload":{"code":"JOB_NOT_FOUND","message":"no such job","retryable":false}}"#
    );
    let empty =
        ErrorPayload::new(ErrorCode::InternalError, "x").with_details(serde_json::Map::new());
    assert_eq!((empty.details, empty.retryable), (None, true));
}

#[test]
fn d22_expires_at_z_or_offset_echoed_byte_for_byte() {
    for ts in ["2026-11-24T01:32:43Z", "2026-11-24T01:32:43.5+00:00"] {
        let s = format!(
            r#"{{"id":"D1","type":"job.submit","payload":{{"agent":"echo","lease_constraints":{{"expires_at":"{ts}"}}}}}}"#
        );
        let f = dec(&s);
        assert!(
            f.to_json().contains(&format!(r#""expires_at":"{ts}""#)),
            "{}",
            f.to_json()
        );
    }
    for ts in ["2026-11-24T01:32:43", "2026-11-24T03:32:43+02:00"] {
        let s = format!(
            r#"{{"id":"D2","type":"job.submit","payload":{{"agent":"echo","lease_constraints":{{"expires_at":"{ts}"}}}}}}"#
        );
        assert_eq!(
            Frame::decode(s.as_bytes()).unwrap_err().code(),
            ErrorCode::InvalidRequest,
            "{ts}"
        );
    }
}

#[test]
fn d23_agent_grammar_union() {
    for (agent, ok) in [
        ("echo", true),
        ("versioned@2.0.0", true),
        ("CodeRefactor@1.0", true),
        ("3d@1.0+b5", true),
        ("-x", false),
        ("echo@", false),
        ("a b", false),
    ] {
        let s = format!(r#"{{"id":"E1","type":"job.submit","payload":{{"agent":"{agent}"}}}}"#);
        assert_eq!(Frame::decode(s.as_bytes()).is_ok(), ok, "{agent}");
    }
}

#[test]
fn d34_null_result_omitted_when_built_kept_when_decoded() {
    let built = Frame::new(
        "F1",
        Message::Result(JobResult {
            final_status: arcp_proto::wire::FinalStatus::Success,
            result: None,
            result_id: None,
            result_size: None,
            summary: None,
            completed_at: None,
        }),
    );
    assert_eq!(
        built.to_json(),
        r#"{"arcp":"1.1","id":"F1","type":"job.result","payload":{"final_status":"success"}}"#
    );
    let f = dec(
        r#"{"id":"F2","type":"job.result","payload":{"final_status":"success","result":null}}"#,
    );
    assert_eq!(
        json_of(&f)["payload"],
        json!({"final_status":"success","result":null})
    );
}

#[test]
fn d35_frame_cap_is_configurable() {
    let raw = br#"{"id":"G1","type":"session.ack","payload":{"last_processed_seq":1}}"#;
    let e = decode(
        raw,
        &Limits {
            max_frame_bytes: 10,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::TooLarge {
            size: raw.len(),
            limit: 10
        }
    );
    assert!(
        decode(
            raw,
            &Limits {
                max_frame_bytes: raw.len(),
                ..Limits::default()
            }
        )
        .is_ok()
    );
    assert_eq!(Limits::default().max_frame_bytes, 1_048_576);
}

#[test]
fn numbers_keep_integer_and_float_forms_and_unknown_body_fields_pass_through() {
    let raw = r#"{"arcp":"1.1","id":"H1","type":"job.event","session_id":"s","job_id":"j","event_seq":2,"payload":{"kind":"metric","ts":"2026-11-24T01:30:39.916517Z","body":{"name":"tokens","value":1,"unit":"tok","vendor":{"x":1.0}}}}"#;
    let f = dec(raw);
    assert_eq!(f.to_json(), raw);
    let Message::Event(ev) = &f.message else {
        panic!()
    };
    assert!(matches!(&ev.body, EventBody::Metric(m) if m.extra.contains_key("vendor")));
    let unknown = r#"{"arcp":"1.1","id":"H2","type":"job.event","payload":{"kind":"x-vendor.custom","ts":"2026-11-24T01:30:39Z","body":{"a":[1,2.5,null]}}}"#;
    assert_eq!(dec(unknown).to_json(), unknown);
}

#[test]
fn unknown_top_level_fields_are_ignored_and_not_echoed() {
    let f = dec(
        r#"{"arcp":"1.1","id":"I1","type":"session.ack","x-extra":{"deep":[1]},"payload":{"last_processed_seq":4}}"#,
    );
    assert_eq!(
        f.to_json(),
        r#"{"arcp":"1.1","id":"I1","type":"session.ack","payload":{"last_processed_seq":4}}"#
    );
}

#[test]
fn spec_aliases_decode() {
    let close = dec(r#"{"id":"J1","type":"session.close","payload":{}}"#);
    assert_eq!(close.message_type(), MessageType::Close);
    let resume = dec(
        r#"{"id":"J2","type":"session.resume","payload":{"session_id":"sess_1","resume_token":"rtk_1","last_event_seq":5}}"#,
    );
    let Message::Resume(r) = &resume.message else {
        panic!()
    };
    assert_eq!((r.session_id.as_str(), r.last_event_seq), ("sess_1", 5));
    let accepted: Accepted = serde_json::from_value(
        json!({"job_id":"j","agent":"echo@1.0.0","accepted_at":"2026-11-24T01:30:25.166530Z"}),
    )
    .unwrap();
    assert!(accepted.lease.is_empty());
}

#[test]
fn hello_agents_in_any_shape_are_kept_not_refused() {
    let f = dec(
        r#"{"id":"K1","type":"session.hello","payload":{"client":{"name":"c","version":"1","x":true},"auth":{"scheme":"bearer","token":"t"},"capabilities":{"features":["ack"],"agents":[{"name":"mine"},7]}}}"#,
    );
    let Message::Hello(h) = &f.message else {
        panic!()
    };
    let agents = h.capabilities.as_ref().unwrap().agents.as_ref().unwrap();
    assert_eq!(
        agents.iter().map(|a| a.name()).collect::<Vec<_>>(),
        vec!["mine", ""]
    );
    assert_eq!(h.features(), ["ack".to_owned()]);
    assert_eq!(
        json_of(&f)["payload"]["client"],
        json!({"name":"c","version":"1","x":true})
    );
}

#[test]
fn d14_spec_body_names_accepted_reference_names_emitted() {
    let f = dec(
        r#"{"id":"L1","type":"job.event","payload":{"kind":"tool_call","ts":"2026-11-24T01:30:39Z","body":{"tool":"search","args":{"q":"x"},"call_id":"c1"}}}"#,
    );
    assert_eq!(
        json_of(&f)["payload"]["body"],
        json!({"tool_call_id":"c1","name":"search","arguments":{"q":"x"}})
    );
    let f = dec(
        r#"{"id":"L2","type":"job.event","payload":{"kind":"tool_result","ts":"2026-11-24T01:30:39Z","body":{"call_id":"c1","result":[1]}}}"#,
    );
    assert_eq!(
        json_of(&f)["payload"]["body"],
        json!({"tool_call_id":"c1","output":[1]})
    );
    let f = dec(
        r#"{"id":"L3","type":"job.event","payload":{"kind":"artifact_ref","ts":"2026-11-24T01:30:39Z","body":{"uri":"mem://a","content_type":"text/plain","byte_size":2,"sha256":"ab"}}}"#,
    );
    assert_eq!(
        json_of(&f)["payload"]["body"],
        json!({"media_type":"text/plain","size_bytes":2,"uri":"mem://a","sha256":"ab"})
    );
    let f = dec(
        r#"{"id":"L4","type":"job.event","payload":{"kind":"metric","ts":"2026-11-24T01:30:39Z","body":{"name":"n","value":1.5,"dimensions":{"k":"v"}}}}"#,
    );
    assert_eq!(
        json_of(&f)["payload"]["body"],
        json!({"name":"n","value":1.5,"attributes":{"k":"v"}})
    );
}

#[test]
fn d33_progress_current_any_number_kept_exactly() {
    let raw = r#"{"arcp":"1.1","id":"M1","type":"job.event","payload":{"kind":"progress","ts":"2026-11-24T01:30:39Z","body":{"current":2.5,"total":10,"units":"MB"}}}"#;
    let f = dec(raw);
    let Message::Event(ev) = &f.message else {
        panic!()
    };
    let EventBody::Progress(p) = &ev.body else {
        panic!("{:?}", ev.body)
    };
    assert_eq!(
        (
            p.current.as_f64(),
            p.total.as_ref().and_then(|t| t.as_u64())
        ),
        (Some(2.5), Some(10))
    );
    assert_eq!(f.to_json(), raw);
}

#[test]
fn d38_every_section_12_code_accepted_and_only_internal_error_retryable() {
    for code in ErrorCode::ALL {
        let raw = format!(
            r#"{{"id":"N1","type":"session.error","payload":{{"code":"{}","message":"m","retryable":{}}}}}"#,
            code.as_str(),
            code.retryable()
        );
        let Message::Error(p) = dec(&raw).message else {
            panic!()
        };
        assert_eq!(p.code, code);
        assert_eq!(code.retryable(), code == ErrorCode::InternalError);
    }
    let Message::Error(p) = dec(r#"{"id":"N2","type":"session.error","payload":{"code":"X_VENDOR","message":"m","retryable":false}}"#).message else { panic!() };
    assert_eq!((p.code.as_str(), p.code.retryable()), ("X_VENDOR", false));
}

#[test]
fn welcome_agent_entries_with_repeated_keys_round_trip() {
    // Found by the decode fuzz target: a repeated key must not flip an entry between the
    // rich and the verbatim form across encode → decode.
    let raw = r#"{"id":"O1","type":"session.welcome","session_id":"s","payload":{"runtime":{"name":"r","version":"1"},"session_id":"s","resume_token":"t","resume_window_sec":600,"capabilities":{"encodings":["json"],"features":[],"agents":[{"name":"failing","versions":["1.0.0"],"default":"x","versions":["1.0.0"],"default":"1.0.0"},{"name":"e","versions":[],"default":null},{"name":"z","versions":["1"],"extra":true},"flat"]}}}"#;
    arcp_proto::fuzzing::decode_bytes(raw.as_bytes());
    let Message::Welcome(w) = dec(raw).message else {
        panic!()
    };
    let agents = w.capabilities.agents.unwrap();
    assert_eq!(
        agents[0],
        arcp_proto::wire::AgentInfo::Versions {
            name: "failing".into(),
            versions: vec!["1.0.0".into()],
            default: Some("1.0.0".into())
        }
    );
    assert!(matches!(&agents[1], arcp_proto::wire::AgentInfo::Other(v) if v["default"].is_null()));
    assert!(
        matches!(&agents[2], arcp_proto::wire::AgentInfo::Other(v) if v["extra"] == json!(true))
    );
    assert_eq!(agents[3], arcp_proto::wire::AgentInfo::Name("flat".into()));
}

#[test]
fn nesting_limit_is_configurable_and_exact() {
    // `{"id":..,"type":"session.ack","payload":{"last_processed_seq":1},"x":[[..]]}`: the
    // envelope is level 1, so `n` arrays make depth n + 1.
    let frame = |n: usize| {
        format!(
            r#"{{"id":"G1","type":"session.ack","payload":{{"last_processed_seq":1}},"x":{}{}}}"#,
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let limits = Limits {
        max_depth: 5,
        ..Limits::default()
    };
    assert!(decode(frame(4).as_bytes(), &limits).is_ok());
    let e = decode(frame(5).as_bytes(), &limits).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TooDeep { limit: 5 });
    assert_eq!(e.message, "frame nesting depth exceeds limit of 5");
    assert_eq!(e.request_id.as_deref(), Some("G1"));
    // Brackets inside strings do not count.
    let quoted =
        r#"{"id":"G2","type":"session.ack","payload":{"last_processed_seq":1},"x":"[[[[[[[["}"#;
    assert!(decode(quoted.as_bytes(), &limits).is_ok());
    // The default is the ceiling, serde_json's limit: 128.
    assert_eq!(Limits::default().max_depth, 128);
    assert!(decode(frame(127).as_bytes(), &Limits::default()).is_ok());
    let e = decode(frame(128).as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TooDeep { limit: 128 });
    let above = Limits {
        max_depth: 1000,
        ..Limits::default()
    };
    assert_eq!(
        decode(frame(128).as_bytes(), &above).unwrap_err().kind,
        DecodeErrorKind::TooDeep { limit: 128 }
    );
}
