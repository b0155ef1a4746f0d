//! Every lease bound, with its defined outcome: pattern size, pattern count, total pattern
//! bytes, target size, duplicates, and a worst-case inclusion search.

use arcp_proto::lease::{
    Lease, LeaseError, MAX_LEASE_PATTERN_BYTES, MAX_LEASE_PATTERNS, MAX_PATTERN_BYTES,
    MAX_TARGET_BYTES, Operation, authorize,
};
use arcp_proto::wire::{ErrorCode, LeaseMap, Timestamp};

fn map(json: &str) -> LeaseMap {
    serde_json::from_str(json).unwrap()
}

fn lease(json: &str) -> Lease {
    Lease::parse(&map(json), None).unwrap()
}

fn parse_err(json: &str) -> LeaseError {
    Lease::parse(&map(json), None).unwrap_err()
}

fn check(l: &Lease, ns: &str, target: &str) -> Result<(), LeaseError> {
    let now = Timestamp::parse("2026-11-24T01:30:40Z").unwrap();
    authorize(&now, l, None, &Operation::new(ns, target))
}

fn code(r: Result<(), LeaseError>) -> Option<ErrorCode> {
    r.err().map(|e| e.code)
}

#[test]
fn bound_pattern_bytes() {
    let ok = format!(r#"{{"tool.call":["{}"]}}"#, "a".repeat(MAX_PATTERN_BYTES));
    assert!(Lease::parse(&map(&ok), None).is_ok());
    let e = parse_err(&format!(
        r#"{{"tool.call":["{}"]}}"#,
        "a".repeat(MAX_PATTERN_BYTES + 1)
    ));
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.message, "tool.call pattern of 1025 bytes exceeds 1024");
}

#[test]
fn bound_pattern_count() {
    let pats = |n: usize| {
        (0..n)
            .map(|i| format!("\"t{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert!(
        Lease::parse(
            &map(&format!(
                r#"{{"tool.call":[{}]}}"#,
                pats(MAX_LEASE_PATTERNS)
            )),
            None
        )
        .is_ok()
    );
    let e = parse_err(&format!(
        r#"{{"tool.call":[{}]}}"#,
        pats(MAX_LEASE_PATTERNS + 1)
    ));
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::InvalidRequest,
            "lease has more than 256 patterns"
        )
    );
}

#[test]
fn bound_total_pattern_bytes() {
    let per = MAX_LEASE_PATTERN_BYTES / 8;
    let pats = |extra: usize| {
        let mut v: Vec<String> = (0..8)
            .map(|i| format!("\"{i}{}\"", "a".repeat(per - 1)))
            .collect();
        if extra > 0 {
            v.push(format!("\"{}\"", "b".repeat(extra)));
        }
        v.join(",")
    };
    assert!(Lease::parse(&map(&format!(r#"{{"tool.call":[{}]}}"#, pats(0))), None).is_ok());
    let e = parse_err(&format!(r#"{{"tool.call":[{}]}}"#, pats(1)));
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::InvalidRequest,
            "lease patterns exceed 8192 bytes"
        )
    );
}

#[test]
fn bound_target_bytes() {
    let l = lease(r#"{"tool.call":["**"]}"#);
    assert_eq!(
        check(&l, "tool.call", &"a".repeat(MAX_TARGET_BYTES)),
        Ok(())
    );
    assert_eq!(
        code(check(&l, "tool.call", &"a".repeat(MAX_TARGET_BYTES + 1))),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn duplicate_namespace_and_nul_patterns_are_invalid() {
    let m = LeaseMap(vec![
        ("tool.call".into(), vec!["a".into()]),
        ("tool.call".into(), vec!["b".into()]),
    ]);
    let e = Lease::parse(&m, None).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::InvalidRequest,
            "lease namespace 'tool.call' appears twice"
        )
    );
    let m = LeaseMap(vec![("tool.call".into(), vec!["a\0".into()])]);
    assert_eq!(
        Lease::parse(&m, None).unwrap_err().message,
        "tool.call pattern contains a NUL"
    );
}

#[test]
fn bound_worst_case_subset_check_terminates_with_a_verdict() {
    // Eight maximal patterns each side, shaped to keep the inclusion search busy: every
    // parent star can stop or swallow at every child position, and nothing ever aligns.
    let side = |unit: &str| {
        let pat = unit.repeat(MAX_PATTERN_BYTES / unit.len());
        let pats = vec![format!("\"{pat}\""); MAX_LEASE_PATTERN_BYTES / MAX_PATTERN_BYTES];
        format!(r#"{{"tool.call":[{}]}}"#, pats.join(","))
    };
    let parent = lease(&side("*a"));
    let child = lease(&side("*b"));
    let e = child.check_subset_of(&parent, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::LeaseSubsetViolation);
    assert_eq!(parent.check_subset_of(&parent, None), Ok(()));
}
