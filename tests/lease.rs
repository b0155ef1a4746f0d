//! Every example of WIRE.md §14 with its outcome under COMPAT.md (where the reference
//! differs — D18 error codes, D29 globs — the test asserts ours), plus the issue's own cases
//! (the lease bounds are in `lease_bounds.rs`).

use arcp_proto::lease::{
    BudgetCounters, CostOutcome, Lease, LeaseError, Operation, authorize, normalize_path,
};
use arcp_proto::wire::{
    Budget, Decimal, ErrorCode, LeaseConstraints, LeaseMap, Limits, MetricBody, MetricValue,
    Timestamp, decode,
};

fn map(json: &str) -> LeaseMap {
    serde_json::from_str(json).unwrap()
}

fn lease(json: &str) -> Lease {
    Lease::parse(&map(json), None).unwrap()
}

fn lease_until(json: &str, expires_at: &str) -> Lease {
    let c = LeaseConstraints {
        expires_at: Some(ts(expires_at)),
        extra: Default::default(),
    };
    Lease::parse(&map(json), Some(&c)).unwrap()
}

fn parse_err(json: &str) -> LeaseError {
    Lease::parse(&map(json), None).unwrap_err()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn now() -> Timestamp {
    ts("2026-11-24T01:30:40Z")
}

fn check(l: &Lease, ns: &str, target: &str) -> Result<(), LeaseError> {
    authorize(&now(), l, None, &Operation::new(ns, target))
}

fn code(r: Result<(), LeaseError>) -> Option<ErrorCode> {
    r.err().map(|e| e.code)
}

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn cost(name: &str, value: MetricValue, unit: &str) -> MetricBody {
    MetricBody {
        name: name.into(),
        value,
        unit: Some(unit.into()),
        attributes: None,
        extra: Default::default(),
    }
}

fn num(s: &str) -> MetricValue {
    MetricValue::Number(serde_json::from_str(s).unwrap())
}

// §14.1 Shape and namespaces.

#[test]
fn s14_1_every_reserved_namespace_and_vendor_keys_are_accepted() {
    let l = lease(
        r#"{"fs.read":["/a"],"fs.write":["/b"],"net.fetch":["https://e.com/"],"tool.call":["t"],
            "agent.delegate":["echo"],"cost.budget":["USD:1"],"model.use":["m"],"x-vendor.acme.q":["z"]}"#,
    );
    assert_eq!(l.map().0.len(), 8);
    assert_eq!(check(&l, "x-vendor.acme.q", "z"), Ok(()));
}

#[test]
fn s14_1_unknown_namespace_is_invalid_request() {
    let e = parse_err(r#"{"bogus.ns":["x"]}"#);
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.message, "unknown lease capability namespace: 'bogus.ns'");
    let p = e.to_error_payload();
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"code":"INVALID_REQUEST","message":"unknown lease capability namespace: 'bogus.ns'","retryable":false}"#
    );
}

#[test]
fn s14_1_non_array_or_non_string_patterns_are_invalid_request_d18() {
    for bad in [
        r#"{"fs.read":"/a"}"#,
        r#"{"fs.read":[1]}"#,
        r#"{"fs.read":[null]}"#,
    ] {
        assert!(serde_json::from_str::<LeaseMap>(bad).is_err(), "{bad}");
        let frame = format!(
            r#"{{"arcp":"1.1","id":"01M85JTBDBCSHMNAAFTGFMM3SK","type":"job.submit","payload":{{"agent":"echo","lease_request":{bad}}}}}"#
        );
        let err = decode(frame.as_bytes(), &Limits::default()).unwrap_err();
        let p = err.to_error_payload();
        assert_eq!(
            (p.code, p.retryable),
            (ErrorCode::InvalidRequest, false),
            "{bad}"
        );
    }
}

#[test]
fn s14_1_the_effective_lease_is_the_requested_one_verbatim() {
    let m = map(r#"{"tool.call":["paid-tool"],"cost.budget":["USD:1.00"]}"#);
    let l = Lease::parse(&m, None).unwrap();
    assert_eq!(l.map(), &m);
    assert_eq!(
        serde_json::to_string(l.map()).unwrap(),
        r#"{"tool.call":["paid-tool"],"cost.budget":["USD:1.00"]}"#
    );
}

// §14.2 Glob semantics (D29: ours, not fnmatch).

#[test]
fn s14_2_star_stays_within_a_segment_d29() {
    let l = lease(r#"{"fs.read":["/project/*"]}"#);
    assert_eq!(check(&l, "fs.read", "/project/x"), Ok(()));
    // The reference's fnmatch allows this; D29 does not.
    assert_eq!(
        code(check(&l, "fs.read", "/project/a/b/c")),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn s14_2_globstar_crosses_segments_but_needs_the_slash() {
    let l = lease(r#"{"fs.read":["/project/**"]}"#);
    assert_eq!(check(&l, "fs.read", "/project/x"), Ok(()));
    assert_eq!(check(&l, "fs.read", "/project/a/b/c"), Ok(()));
    assert_eq!(
        code(check(&l, "fs.read", "/project")),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn s14_2_question_mark_and_classes() {
    let l = lease(r#"{"tool.call":["s?arch","[abc]x","[!abc]y"]}"#);
    assert_eq!(check(&l, "tool.call", "search"), Ok(()));
    assert_eq!(check(&l, "tool.call", "bx"), Ok(()));
    assert_eq!(check(&l, "tool.call", "dy"), Ok(()));
    for t in ["dx", "ay", "s/arch", "sarch"] {
        assert_eq!(
            code(check(&l, "tool.call", t)),
            Some(ErrorCode::PermissionDenied),
            "{t}"
        );
    }
}

#[test]
fn s14_2_targets_are_normalised_before_matching_d29() {
    let l = lease(r#"{"fs.read":["/project/*"]}"#);
    // fnmatch matches the raw text; we resolve it to /etc/passwd first.
    let e = check(&l, "fs.read", "/project/../etc/passwd").unwrap_err();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    assert_eq!(
        e.message,
        "operation fs.read:/project/../etc/passwd not permitted by lease"
    );
    assert_eq!(check(&l, "fs.read", "/project/./a"), Ok(()));
    assert_eq!(check(&l, "fs.read", "//project//a"), Ok(()));
    assert_eq!(check(&l, "fs.read", "/project/b/../a"), Ok(()));
}

#[test]
fn s14_2_lease_enforcement_scenario_outcomes() {
    let l = lease(
        r#"{"fs.read":["/project/**"],"tool.call":["search","fetch-*"],"model.use":["tier-fast/*"]}"#,
    );
    let ops = [
        ("fs.read", "/project/src/main.rs", None),
        ("fs.read", "/project/a/b/c/deep.txt", None),
        ("fs.read", "/etc/passwd", Some(ErrorCode::PermissionDenied)),
        (
            "fs.write",
            "/project/out.txt",
            Some(ErrorCode::PermissionDenied),
        ),
        ("tool.call", "search", None),
        ("tool.call", "fetch-web", None),
        ("tool.call", "exec", Some(ErrorCode::PermissionDenied)),
        ("model.use", "tier-fast/small", None),
        (
            "model.use",
            "tier-slow/large",
            Some(ErrorCode::PermissionDenied),
        ),
        (
            "net.fetch",
            "https://example.com/",
            Some(ErrorCode::PermissionDenied),
        ),
    ];
    for (ns, target, want) in ops {
        assert_eq!(code(check(&l, ns, target)), want, "{ns} {target}");
    }
    assert_eq!(
        check(&l, "tool.call", "exec").unwrap_err().message,
        "operation tool.call:exec not permitted by lease"
    );
    assert_eq!(
        check(&l, "model.use", "tier-slow/large")
            .unwrap_err()
            .message,
        "operation model.use:tier-slow/large not permitted by lease"
    );
}

#[test]
fn s14_2_matching_is_case_sensitive() {
    let l = lease(r#"{"fs.read":["/project/*"]}"#);
    assert_eq!(
        code(check(&l, "fs.read", "/PROJECT/a")),
        Some(ErrorCode::PermissionDenied)
    );
}

// The issue's own path cases.

#[test]
fn relative_path_is_denied() {
    let l = lease(r#"{"fs.read":["**"]}"#);
    assert_eq!(check(&l, "fs.read", "/anything/at/all"), Ok(()));
    assert_eq!(
        code(check(&l, "fs.read", "project/a")),
        Some(ErrorCode::PermissionDenied)
    );
    assert_eq!(
        normalize_path("project/a").unwrap_err().message,
        "path \"project/a\" is not absolute"
    );
}

#[test]
fn dotdot_escape_is_denied() {
    let l = lease(r#"{"fs.read":["**"]}"#);
    assert_eq!(
        code(check(&l, "fs.read", "/p/../../etc/passwd")),
        Some(ErrorCode::PermissionDenied)
    );
    assert_eq!(
        normalize_path("/p/../../etc/passwd").unwrap_err().message,
        "path \"/p/../../etc/passwd\" climbs above /"
    );
    assert_eq!(
        code(check(&l, "fs.read", "/p/\0")),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn single_star_does_not_reach_two_levels_down() {
    let l = lease(r#"{"fs.read":["/p/*"]}"#);
    assert_eq!(
        code(check(&l, "fs.read", "/p/a/b")),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn double_star_reaches_two_levels_down() {
    let l = lease(r#"{"fs.read":["/p/**"]}"#);
    assert_eq!(check(&l, "fs.read", "/p/a/b"), Ok(()));
}

#[test]
fn net_fetch_compares_url_parts() {
    let l = lease(r#"{"net.fetch":["https://*.example.com/api/**","http://localhost:8080/*"]}"#);
    assert_eq!(
        check(&l, "net.fetch", "https://a.example.com/api/v1/x"),
        Ok(())
    );
    assert_eq!(
        check(&l, "net.fetch", "HTTPS://A.Example.com/api/x?q=1"),
        Ok(())
    );
    assert_eq!(check(&l, "net.fetch", "http://localhost:8080/x"), Ok(()));
    for t in [
        "https://example.com/api/x",
        "https://a.example.com/API/x",
        "https://a.example.com/api/../admin",
        "https://evil.com/a.example.com/api/x",
        "https://a.example.com@evil.com/api/x",
        "http://localhost/x",
        "http://localhost:8080/x/y",
        "/api/x",
    ] {
        assert_eq!(
            code(check(&l, "net.fetch", t)),
            Some(ErrorCode::PermissionDenied),
            "{t}"
        );
    }
    let e = parse_err(r#"{"net.fetch":["*"]}"#);
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(
        e.message,
        "invalid net.fetch pattern \"*\": is not scheme://host[/path]"
    );
}

// §14.3 Enforcement order.

#[test]
fn s14_3_expiry_then_pattern_then_budget() {
    let l = lease_until(
        r#"{"tool.call":["t"],"cost.budget":["USD:0"]}"#,
        "2026-11-24T01:30:42Z",
    );
    let at =
        |s: &str, target: &str| authorize(&ts(s), &l, None, &Operation::new("tool.call", target));
    // Expired beats a denied pattern and an exhausted budget.
    assert_eq!(
        code(at("2026-11-24T01:30:42Z", "nope")),
        Some(ErrorCode::LeaseExpired)
    );
    // Before expiry, a denied pattern beats the exhausted budget.
    assert_eq!(
        code(at("2026-11-24T01:30:41Z", "nope")),
        Some(ErrorCode::PermissionDenied)
    );
    // A granted op still fails on the budget.
    let e = at("2026-11-24T01:30:41Z", "t").unwrap_err();
    assert_eq!(e.code, ErrorCode::BudgetExhausted);
    assert_eq!(e.message, "budget for USD exhausted (remaining=0)");
    assert!(!e.to_error_payload().retryable);
}

// §14.4 Expiry.

#[test]
fn s14_4_operations_at_or_after_expires_at_fail_lease_expired() {
    let l = lease_until(r#"{"fs.read":["/project/**"]}"#, "2026-11-24T01:30:42Z");
    let at = |s: &str| {
        authorize(
            &ts(s),
            &l,
            None,
            &Operation::new("fs.read", "/project/a.txt"),
        )
    };
    assert_eq!(at("2026-11-24T01:30:39.947188Z"), Ok(()));
    let e = at("2026-11-24T01:30:42Z").unwrap_err();
    assert_eq!(e.code, ErrorCode::LeaseExpired);
    assert_eq!(e.message, "lease expired at 2026-11-24T01:30:42Z");
    assert_eq!(
        serde_json::to_string(&e.to_error_payload()).unwrap(),
        r#"{"code":"LEASE_EXPIRED","message":"lease expired at 2026-11-24T01:30:42Z","retryable":false}"#
    );
    assert_eq!(
        code(at("2026-11-24T01:30:47Z")),
        Some(ErrorCode::LeaseExpired)
    );
}

#[test]
fn s14_4_expires_at_must_be_in_the_future_and_utc_d22() {
    // D22: `+00:00` is the same instant as `Z`.
    let l = lease_until(r#"{"fs.read":["/a"]}"#, "2026-11-24T01:30:42+00:00");
    assert_eq!(l.expires_at(), Some(&ts("2026-11-24T01:30:42Z")));
    assert_eq!(
        l.check_expires_in_future(&ts("2026-11-24T01:30:41Z")),
        Ok(())
    );
    let e = l
        .check_expires_in_future(&ts("2026-11-24T01:30:42Z"))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(
        e.message,
        // D22: every expiry goes out with `Z`, messages included.
        "lease_constraints.expires_at 2026-11-24T01:30:42Z is not in the future"
    );
    // Naive and non-UTC values do not even parse (the decoder answers INVALID_REQUEST, D18).
    assert!(Timestamp::parse("2026-11-24T01:30:42").is_err());
    assert!(Timestamp::parse("2026-11-24T01:30:42+01:00").is_err());
}

// §14.5 Budget.

#[test]
fn s14_5_invalid_amounts_are_invalid_request_d18() {
    for bad in [
        "USD",
        "USD:-1",
        "USD:1e3",
        "1USD:1",
        "ABCDEFGHIJK:1",
        "USD:.5",
        "USD:+1",
    ] {
        let e = parse_err(&format!(r#"{{"cost.budget":["{bad}"]}}"#));
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}");
        assert!(!e.to_error_payload().retryable);
    }
    let e = parse_err(
        r#"{"cost.budget":["USD:999999999999999999999999999999","USD:999999999999999999999999999999.5"]}"#,
    );
    assert_eq!(e.code, ErrorCode::InvalidRequest);
}

#[test]
fn s14_5_amounts_are_summed_per_currency_keeping_scale_d12() {
    let l = lease(r#"{"cost.budget":["USD:1.00","USD:2.5","credits:1000"]}"#);
    assert_eq!(
        serde_json::to_string(&l.budget().unwrap()).unwrap(),
        r#"{"USD":"USD:3.50","credits":"credits:1000"}"#
    );
    assert_eq!(
        serde_json::to_string(&lease(r#"{"cost.budget":["USD:1.00"]}"#).budget().unwrap()).unwrap(),
        r#"{"USD":"USD:1.00"}"#
    );
    assert_eq!(lease(r#"{"tool.call":["t"]}"#).budget(), None);
}

#[test]
fn s14_5_cost_metrics_decrement_exactly_from_numbers_and_strings() {
    let mut c = BudgetCounters::new(lease(r#"{"cost.budget":["USD:5.00"]}"#).budget().unwrap());
    c.apply_cost(&cost("cost.inference", num("0.0234"), "USD"))
        .unwrap();
    c.apply_cost(&cost("cost.tool", MetricValue::Text("1.1".into()), "USD"))
        .unwrap();
    c.apply_cost(&cost("cost.tool", num("1"), "USD")).unwrap();
    assert_eq!(c.remaining().get("USD"), Some(&d("2.8766")));
    assert_eq!(c.remaining().get("USD").unwrap().to_string(), "2.8766");
    // Other units, other names: untouched.
    assert_eq!(
        c.apply_cost(&cost("cost.tool", num("1"), "EUR")),
        Ok(CostOutcome::NotCost)
    );
    assert_eq!(
        c.apply_cost(&cost("latency", num("1"), "USD")),
        Ok(CostOutcome::NotCost)
    );
    assert_eq!(c.remaining().get("USD"), Some(&d("2.8766")));
}

#[test]
fn s14_5_negative_cost_is_refused_without_decrement_d31() {
    let mut c = BudgetCounters::new(Budget(vec![("USD".into(), d("1.00"))]));
    let e = c
        .apply_cost(&cost("cost.refund", num("-0.5"), "USD"))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.message, "negative cost -0.5 USD refused for cost.refund");
    assert_eq!(c.remaining().get("USD").unwrap().to_string(), "1.00");
}

#[test]
fn s14_5_zero_budget_is_exhausted_from_the_start() {
    let l = lease(r#"{"tool.call":["t"],"cost.budget":["USD:0"]}"#);
    let e = check(&l, "tool.call", "t").unwrap_err();
    assert_eq!(e.code, ErrorCode::BudgetExhausted);
    let c = BudgetCounters::new(l.budget().unwrap());
    assert_eq!(c.exhausted(), Some(("USD", &d("0"))));
}

#[test]
fn s14_5_budget_exhaustion_flow() {
    let l = lease(r#"{"tool.call":["paid-tool"],"cost.budget":["USD:1.00"]}"#);
    assert_eq!(
        serde_json::to_string(&l.budget().unwrap()).unwrap(),
        r#"{"USD":"USD:1.00"}"#
    );
    let mut c = BudgetCounters::new(l.budget().unwrap());
    let op = Operation::new("tool.call", "paid-tool");
    let mut metrics = Vec::new();
    for _ in 0..3 {
        assert_eq!(authorize(&now(), &l, Some(&c), &op), Ok(()));
        // The agent sends `"0.40"`; the runtime re-serialises it as the float 0.4.
        match c
            .apply_cost(&cost("cost.inference", num("0.4"), "USD"))
            .unwrap()
        {
            CostOutcome::Applied {
                currency,
                remaining_metric,
                ..
            } => {
                assert_eq!(currency, "USD");
                metrics.push(serde_json::to_string(&remaining_metric.unwrap()).unwrap());
            }
            CostOutcome::NotCost => panic!("cost not applied"),
        }
    }
    assert_eq!(
        metrics,
        [
            r#"{"name":"cost.budget.remaining","value":0.6,"unit":"USD"}"#,
            r#"{"name":"cost.budget.remaining","value":0.2,"unit":"USD"}"#,
            r#"{"name":"cost.budget.remaining","value":-0.2,"unit":"USD"}"#,
        ]
    );
    assert_eq!(c.exhausted(), Some(("USD", &d("-0.20"))));
    let e = authorize(&now(), &l, Some(&c), &op).unwrap_err();
    assert_eq!(e.code, ErrorCode::BudgetExhausted);
    assert_eq!(e.message, "budget for USD exhausted (remaining=-0.20)");
    assert_eq!(
        serde_json::to_string(&e.to_error_payload()).unwrap(),
        r#"{"code":"BUDGET_EXHAUSTED","message":"budget for USD exhausted (remaining=-0.20)","retryable":false}"#
    );
    // The D9 echo of the live counter.
    assert_eq!(
        serde_json::to_string(c.remaining()).unwrap(),
        r#"{"USD":"USD:-0.20"}"#
    );
}

// §14.6 Subsetting.

#[test]
fn s14_6_delegation_scenario_child_is_a_subset() {
    let parent = lease(
        r#"{"agent.delegate":["echo"],"fs.read":["/project/**"],"cost.budget":["USD:2.00"]}"#,
    );
    let child = lease(r#"{"fs.read":["/project/src/**"],"cost.budget":["USD:0.50"]}"#);
    let counters = BudgetCounters::new(parent.budget().unwrap());
    assert_eq!(
        child.check_subset_of(&parent, Some(counters.remaining())),
        Ok(())
    );
    let run = child.inherit_from(&parent, Some(counters.remaining()));
    assert_eq!(
        serde_json::to_string(&run.budget().unwrap()).unwrap(),
        r#"{"USD":"USD:0.50"}"#
    );
    assert_eq!(run.map(), child.map());
}

#[test]
fn s14_6_child_patterns_must_be_covered() {
    let parent = lease(r#"{"fs.read":["/project/**"],"tool.call":["fetch-*"]}"#);
    let ok = |c: &str| lease(c).check_subset_of(&parent, None);
    assert_eq!(
        ok(r#"{"fs.read":["/project/src/**","/project/a"]}"#),
        Ok(())
    );
    assert_eq!(ok(r#"{"tool.call":["fetch-web","fetch-*"]}"#), Ok(()));
    assert_eq!(ok(r#"{"fs.write":[]}"#), Ok(()));
    let e = ok(r#"{"fs.read":["/etc/**"]}"#).unwrap_err();
    assert_eq!(e.code, ErrorCode::LeaseSubsetViolation);
    assert_eq!(
        e.message,
        "delegated fs.read pattern \"/etc/**\" is not covered by the parent lease"
    );
    assert!(!e.to_error_payload().retryable);
    let e = ok(r#"{"fs.write":["/project/a"]}"#).unwrap_err();
    assert_eq!(
        e.message,
        "delegated lease names fs.write which the parent lease does not grant"
    );
    assert_eq!(
        code(ok(r#"{"tool.call":["*"]}"#)),
        Some(ErrorCode::LeaseSubsetViolation)
    );
    // Covered as text, and harmless: targets are normalised, so a literal `..` segment never
    // matches and the child cannot reach /etc through it.
    let dotdot = lease(r#"{"fs.read":["/project/../etc/**"]}"#);
    assert_eq!(dotdot.check_subset_of(&parent, None), Ok(()));
    assert_eq!(
        code(check(&dotdot, "fs.read", "/etc/passwd")),
        Some(ErrorCode::PermissionDenied)
    );
    assert_eq!(
        code(check(&dotdot, "fs.read", "/project/../etc/passwd")),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn s14_6_model_use_follows_the_same_rule() {
    let parent = lease(r#"{"model.use":["gpt-*-mini*","tier-fast/*"]}"#);
    let sub = |c: &str| code(lease(c).check_subset_of(&parent, None));
    assert_eq!(
        sub(r#"{"model.use":["gpt-4o-mini","tier-fast/small"]}"#),
        None
    );
    assert_eq!(
        sub(r#"{"model.use":["gpt-*"]}"#),
        Some(ErrorCode::LeaseSubsetViolation)
    );
    assert_eq!(
        sub(r#"{"model.use":["tier-fast/**"]}"#),
        Some(ErrorCode::LeaseSubsetViolation)
    );
}

#[test]
fn s14_6_budget_against_the_parents_remaining() {
    let parent = lease(r#"{"tool.call":["t"],"cost.budget":["USD:5.00"]}"#);
    let mut counters = BudgetCounters::new(parent.budget().unwrap());
    counters
        .apply_cost(&cost("cost.x", MetricValue::Text("3.00".into()), "USD"))
        .unwrap();
    let left = Some(counters.remaining());
    assert_eq!(
        lease(r#"{"cost.budget":["USD:2.00"]}"#).check_subset_of(&parent, left),
        Ok(())
    );
    let e = lease(r#"{"cost.budget":["USD:2.01"]}"#)
        .check_subset_of(&parent, left)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::LeaseSubsetViolation);
    assert_eq!(
        e.message,
        "delegated cost.budget USD:2.01 exceeds the parent's remaining USD:2.00"
    );
    let e = lease(r#"{"cost.budget":["EUR:1"]}"#)
        .check_subset_of(&parent, left)
        .unwrap_err();
    assert_eq!(
        e.message,
        "delegated cost.budget EUR:1 has no parent EUR budget"
    );
    // No remaining passed: the parent's initial budget is the limit.
    assert_eq!(
        code(lease(r#"{"cost.budget":["USD:5.01"]}"#).check_subset_of(&parent, None)),
        Some(ErrorCode::LeaseSubsetViolation)
    );
    // A child without cost.budget inherits the parent's remaining counters.
    let run = lease(r#"{"tool.call":["t"]}"#).inherit_from(&parent, left);
    assert_eq!(
        serde_json::to_string(&run.budget().unwrap()).unwrap(),
        r#"{"USD":"USD:2.00"}"#
    );
    // An unbudgeted parent is unlimited.
    let free = lease(r#"{"tool.call":["t"]}"#);
    assert_eq!(
        lease(r#"{"cost.budget":["USD:1000000"]}"#).check_subset_of(&free, None),
        Ok(())
    );
    assert_eq!(
        lease(r#"{"tool.call":["t"]}"#)
            .inherit_from(&free, None)
            .budget(),
        None
    );
}

#[test]
fn s14_6_missing_currencies_are_inherited_so_they_stay_limited() {
    let parent = lease(r#"{"cost.budget":["USD:5.00","credits:100"]}"#);
    let child = lease(r#"{"cost.budget":["USD:1"]}"#);
    assert_eq!(child.check_subset_of(&parent, None), Ok(()));
    assert_eq!(
        serde_json::to_string(&child.inherit_from(&parent, None).budget().unwrap()).unwrap(),
        r#"{"USD":"USD:1","credits":"credits:100"}"#
    );
    let empty = lease(r#"{"cost.budget":[]}"#);
    assert_eq!(
        serde_json::to_string(&empty.inherit_from(&parent, None).budget().unwrap()).unwrap(),
        r#"{"USD":"USD:5.00","credits":"credits:100"}"#
    );
}

#[test]
fn s14_6_expiry_not_later_and_inherited() {
    let parent = lease_until(r#"{"tool.call":["t"]}"#, "2026-11-24T02:00:00Z");
    let earlier = lease_until(r#"{"tool.call":["t"]}"#, "2026-11-24T01:45:00Z");
    let later = lease_until(r#"{"tool.call":["t"]}"#, "2026-11-24T02:00:00.000001Z");
    let none = lease(r#"{"tool.call":["t"]}"#);
    assert_eq!(earlier.check_subset_of(&parent, None), Ok(()));
    assert_eq!(none.check_subset_of(&parent, None), Ok(()));
    let e = later.check_subset_of(&parent, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::LeaseSubsetViolation);
    assert_eq!(
        e.message,
        "delegated expires_at 2026-11-24T02:00:00.000001Z is later than the parent's 2026-11-24T02:00:00Z"
    );
    assert_eq!(
        none.inherit_from(&parent, None).expires_at(),
        Some(&ts("2026-11-24T02:00:00Z"))
    );
    assert_eq!(
        earlier.inherit_from(&parent, None).expires_at(),
        Some(&ts("2026-11-24T01:45:00Z"))
    );
    assert_eq!(
        later.inherit_from(&parent, None).expires_at(),
        Some(&ts("2026-11-24T02:00:00Z"))
    );
    assert_eq!(parent.check_subset_of(&none, None), Ok(()));
}

#[test]
fn cost_budget_grants_no_operation() {
    let l = lease(r#"{"cost.budget":["USD:1"]}"#);
    assert_eq!(
        code(check(&l, "cost.budget", "USD:1")),
        Some(ErrorCode::PermissionDenied)
    );
}

#[test]
fn an_empty_lease_grants_nothing_and_has_no_budget() {
    let l = Lease::parse(&LeaseMap::default(), None).unwrap();
    assert_eq!(l.budget(), None);
    assert_eq!(l.expires_at(), None);
    assert_eq!(serde_json::to_string(l.map()).unwrap(), "{}");
    for (ns, t) in [("fs.read", "/a"), ("tool.call", "t"), ("bogus", "x")] {
        assert_eq!(
            code(check(&l, ns, t)),
            Some(ErrorCode::PermissionDenied),
            "{ns}"
        );
    }
    assert_eq!(
        l.check_subset_of(&lease(r#"{"tool.call":["t"]}"#), None),
        Ok(())
    );
}
