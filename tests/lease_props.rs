//! Property tests for leases: the matcher against an independent reference, subset
//! soundness (no escalation), reflexivity and transitivity, normalisation, and exact budget
//! arithmetic.

use arcp_proto::lease::{
    BudgetCounters, CostOutcome, Glob, Lease, Operation, authorize, normalize_path,
};
use arcp_proto::wire::{Budget, Decimal, LeaseMap, MetricBody, MetricValue, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------------------
// Pattern generation. Patterns are built from pieces; the pieces never combine across a
// boundary into a different token (no bare `[`, `]` or `!`), except adjacent stars, which the
// reference matcher below merges the same way the parser documents (`*` next to `*` is `**`).

const PIECES: &[&str] = &[
    "a", "b", "-", "/", ".", "gpt", "mini", "*", "**", "?", "[ab]", "[!a]", "[a-c]", "[!/]",
];

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PIECES)
}

fn pieces() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(piece(), 0..8)
}

/// A narrowing of one piece: every replacement matches a subset of what the piece matches.
fn narrowings(p: &str) -> &'static [&'static str] {
    match p {
        "*" => &["", "a", "ab", "*", "?", "[ab]", "a*", "*b", "gpt-*"],
        "**" => &["*", "", "a/b", "**", "/", "?/*", "a**", "**/b", "/**"],
        "?" => &["a", "[ab]", "?", "[!a]", "-"],
        "[ab]" => &["a", "b", "[ab]"],
        "[!a]" => &["b", "-", "[b-c]", "[!a]", "[!ab]"],
        "[a-c]" => &["b", "[ab]", "[a-c]", "c"],
        "[!/]" => &["?", "a", "[!a]"],
        "a" => &["a"],
        "b" => &["b"],
        "-" => &["-"],
        "/" => &["/"],
        "." => &["."],
        "gpt" => &["gpt"],
        "mini" => &["mini"],
        _ => &[""],
    }
}

fn narrow(parent: Vec<&'static str>) -> impl Strategy<Value = Vec<&'static str>> {
    let choices: Vec<_> = parent
        .iter()
        .map(|p| prop::sample::select(narrowings(p)))
        .collect();
    choices
}

fn render(ps: &[&str]) -> String {
    ps.concat()
}

// ---------------------------------------------------------------------------------------
// An independent reference matcher: a plain recursive backtracker over the pattern text.

#[derive(Debug, Clone)]
enum RTok {
    Ch(char),
    Star,
    GlobStar,
    Q,
    Class(bool, Vec<(char, char)>),
}

fn rtoks(p: &str) -> Vec<RTok> {
    let cs: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        match cs[i] {
            '*' => {
                let mut n = 0;
                while i + n < cs.len() && cs[i + n] == '*' {
                    n += 1;
                }
                i += n;
                out.push(if n >= 2 { RTok::GlobStar } else { RTok::Star });
            }
            '?' => {
                out.push(RTok::Q);
                i += 1;
            }
            '[' => {
                // Pieces only ever hold well-formed classes.
                let neg = cs[i + 1] == '!';
                let mut j = i + 1 + usize::from(neg);
                let mut ranges = Vec::new();
                while cs[j] != ']' {
                    if cs[j + 1] == '-' && cs[j + 2] != ']' {
                        ranges.push((cs[j], cs[j + 2]));
                        j += 3;
                    } else {
                        ranges.push((cs[j], cs[j]));
                        j += 1;
                    }
                }
                out.push(RTok::Class(neg, ranges));
                i = j + 1;
            }
            c => {
                out.push(RTok::Ch(c));
                i += 1;
            }
        }
    }
    out
}

fn rmatch(p: &[RTok], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some(RTok::Star) => (0..=t.len())
            .take_while(|&k| k == 0 || t[k - 1] != '/')
            .any(|k| rmatch(&p[1..], &t[k..])),
        Some(RTok::GlobStar) => (0..=t.len()).any(|k| rmatch(&p[1..], &t[k..])),
        Some(tok) => match t.first() {
            None => false,
            Some(&c) => {
                let one = match tok {
                    RTok::Ch(x) => *x == c,
                    RTok::Q => c != '/',
                    RTok::Class(neg, rs) => {
                        c != '/' && rs.iter().any(|&(a, b)| a <= c && c <= b) != *neg
                    }
                    _ => false,
                };
                one && rmatch(&p[1..], &t[1..])
            }
        },
    }
}

fn reference_matches(p: &str, t: &str) -> bool {
    // Adjacent star tokens merge into `**`, as the parser does.
    let mut toks: Vec<RTok> = Vec::new();
    for tok in rtoks(p) {
        match (toks.last(), &tok) {
            (Some(RTok::Star | RTok::GlobStar), RTok::Star | RTok::GlobStar) => {
                *toks.last_mut().unwrap() = RTok::GlobStar;
            }
            _ => toks.push(tok),
        }
    }
    let chars: Vec<char> = t.chars().collect();
    rmatch(&toks, &chars)
}

/// Every string of length ≤ 4 over a small alphabet that exercises separators.
fn small_strings() -> Vec<String> {
    let alphabet = ['a', 'b', '/', '-'];
    let mut all = vec![String::new()];
    let mut layer = vec![String::new()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for s in &layer {
            for c in alphabet {
                let mut t = s.clone();
                t.push(c);
                next.push(t);
            }
        }
        all.extend(next.iter().cloned());
        layer = next;
    }
    all
}

/// Targets aimed at `g`: examples it matches, built from `seed`.
fn examples(g: &Glob, seed: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut state = seed | 1;
    for _ in 0..8 {
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (n.max(1) as u64)) as usize
        };
        if let Some(t) = g.example(&mut pick) {
            out.push(t);
        }
    }
    out
}

/// The soundness obligation: everything `child` matches among `targets`, `parent` matches.
fn no_escalation(parent: &Glob, child: &Glob, targets: &[String]) -> Result<(), TestCaseError> {
    for t in targets {
        if child.matches(t) {
            prop_assert!(
                parent.matches(t),
                "{parent:?} covers {child:?} but misses {t:?}"
            );
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(2000)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matcher_agrees_with_the_reference(p in pieces(), t in "[ab/.-]{0,8}", seed in any::<u64>()) {
        let text = render(&p);
        let g = Glob::parse(&text);
        prop_assert_eq!(g.matches(&t), reference_matches(&text, &t), "{:?} vs {:?}", text, t);
        for ex in examples(&g, seed) {
            prop_assert!(g.matches(&ex), "{:?} does not match its own example {:?}", text, ex);
            prop_assert!(reference_matches(&text, &ex));
        }
    }

    #[test]
    fn covers_is_reflexive(p in pieces()) {
        let g = Glob::parse(&render(&p));
        prop_assert!(g.covers(&g));
    }

    #[test]
    fn narrowed_children_are_accepted_and_never_escalate(
        (parent, child) in pieces().prop_flat_map(|p| (Just(p.clone()), narrow(p))),
        seed in any::<u64>(),
    ) {
        let (pt, ct) = (render(&parent), render(&child));
        let (pg, cg) = (Glob::parse(&pt), Glob::parse(&ct));
        prop_assert!(pg.covers(&cg), "{:?} should cover its narrowing {:?}", pt, ct);
        let mut targets = small_strings();
        targets.extend(examples(&cg, seed));
        no_escalation(&pg, &cg, &targets)?;
    }

    #[test]
    fn random_pairs_never_escalate(parent in pieces(), child in pieces(), seed in any::<u64>()) {
        let (pg, cg) = (Glob::parse(&render(&parent)), Glob::parse(&render(&child)));
        if pg.covers(&cg) {
            let mut targets = small_strings();
            targets.extend(examples(&cg, seed));
            no_escalation(&pg, &cg, &targets)?;
        }
    }

    #[test]
    fn covers_is_transitive(
        (a, b, c) in pieces()
            .prop_flat_map(|a| (Just(a.clone()), narrow(a)))
            .prop_flat_map(|(a, b)| (Just(a), Just(b.clone()), narrow(b))),
        other in pieces(),
        pick in 0u8..4,
    ) {
        // Mostly real chains, sometimes a random link, so both branches are exercised.
        let c = if pick == 0 { other } else { c };
        let (ga, gb, gc) = (
            Glob::parse(&render(&a)),
            Glob::parse(&render(&b)),
            Glob::parse(&render(&c)),
        );
        if ga.covers(&gb) && gb.covers(&gc) {
            prop_assert!(ga.covers(&gc), "{:?} ⊇ {:?} ⊇ {:?} but not transitively", ga, gb, gc);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The bug shapes seen in another implementation.

#[test]
fn bug_shapes() {
    let g = Glob::parse;
    assert!(!g("gpt-*-mini*").covers(&g("gpt-*")));
    assert!(g("gpt-*").matches("gpt-4o"));
    assert!(!g("gpt-*-mini*").matches("gpt-4o"));
    assert!(g("a*b").matches("abxb"));
    assert!(g("*-mini").matches("o4-mini-fast-mini"));
    let parent = lease(r#"{"model.use":["gpt-*-mini*"]}"#);
    let child = lease(r#"{"model.use":["gpt-*"]}"#);
    assert!(child.check_subset_of(&parent, None).is_err());
}

// ---------------------------------------------------------------------------------------
// Lease-level: subset ⇒ no operation the child may do that the parent may not.

fn lease(json: &str) -> Lease {
    Lease::parse(&serde_json::from_str::<LeaseMap>(json).unwrap(), None).unwrap()
}

fn now() -> Timestamp {
    Timestamp::parse("2026-11-24T01:30:40Z").unwrap()
}

const NAMESPACES: [&str; 4] = ["fs.read", "tool.call", "model.use", "net.fetch"];

/// A pattern for a namespace from pieces (fs patterns are made absolute, URLs get a fixed
/// origin so that only the path varies).
fn pattern_for(ns: &str, ps: &[&str]) -> String {
    let body = render(ps);
    match ns {
        "fs.read" => format!("/{body}"),
        "net.fetch" => format!("https://h.example/{body}"),
        _ => body,
    }
}

fn target_for(ns: &str, t: &str) -> String {
    match ns {
        "fs.read" => format!("/{t}"),
        "net.fetch" => format!("https://h.example/{t}"),
        _ => t.to_owned(),
    }
}

fn lease_of(grants: &[(usize, Vec<String>)]) -> Lease {
    let mut map = LeaseMap::default();
    for (ns, pats) in grants {
        let ns = NAMESPACES[*ns % NAMESPACES.len()];
        if map.get(ns).is_none() {
            map.0.push((ns.to_owned(), pats.clone()));
        }
    }
    Lease::parse(&map, None).unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lease_subset_never_escalates(
        grants in prop::collection::vec(
            (0usize..4, prop::collection::vec(pieces(), 1..3)).prop_flat_map(|(ns, pats)| {
                let narrowed: Vec<_> = pats.iter().cloned().map(narrow).collect();
                (Just(ns), Just(pats), narrowed, pieces())
            }),
            1..4,
        ),
        random_child in any::<bool>(),
        targets in prop::collection::vec("[ab/.-]{0,6}", 0..24),
        seed in any::<u64>(),
    ) {
        let parent = lease_of(
            &grants
                .iter()
                .map(|(ns, pats, _, _)| {
                    let ns_name = NAMESPACES[*ns];
                    (*ns, pats.iter().map(|p| pattern_for(ns_name, p)).collect())
                })
                .collect::<Vec<_>>(),
        );
        let child = lease_of(
            &grants
                .iter()
                .map(|(ns, _, narrowed, random)| {
                    let ns_name = NAMESPACES[*ns];
                    let mut pats: Vec<String> =
                        narrowed.iter().map(|p| pattern_for(ns_name, p)).collect();
                    if random_child {
                        pats.push(pattern_for(ns_name, random));
                    }
                    (*ns, pats)
                })
                .collect::<Vec<_>>(),
        );
        prop_assert!(parent.check_subset_of(&parent, None).is_ok());
        if !random_child {
            prop_assert!(child.check_subset_of(&parent, None).is_ok());
        }
        if child.check_subset_of(&parent, None).is_ok() {
            for (ns_i, _, narrowed, random) in &grants {
                let ns = NAMESPACES[*ns_i];
                let mut ts: Vec<String> = targets.iter().map(|t| target_for(ns, t)).collect();
                for ps in narrowed.iter().chain(std::iter::once(random)) {
                    let g = Glob::parse(&render(ps));
                    ts.extend(examples(&g, seed).iter().map(|t| target_for(ns, t)));
                }
                for t in ts {
                    let op = Operation::new(ns, t);
                    if authorize(&now(), &child, None, &op).is_ok() {
                        prop_assert!(
                            authorize(&now(), &parent, None, &op).is_ok(),
                            "child allows {:?} but the parent does not", op
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Normalisation.

fn raw_path() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(
            prop::sample::select(&["a", "b", "..", ".", "", "x.y", "...", "p"][..]),
            0..8,
        ),
        any::<bool>(),
    )
        .prop_map(|(abs, segs, trailing)| {
            let mut s = if abs { "/".to_owned() } else { String::new() };
            s.push_str(&segs.join("/"));
            if trailing {
                s.push('/');
            }
            s
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn normalisation_is_idempotent_and_clean(raw in raw_path()) {
        match normalize_path(&raw) {
            Ok(n) => {
                prop_assert_eq!(normalize_path(&n).ok(), Some(n.clone()));
                prop_assert!(n.starts_with('/'));
                prop_assert!(n == "/" || !n.ends_with('/'));
                prop_assert!(n.split('/').skip(1).all(|s| n == "/" || !matches!(s, "" | "." | "..")));
            }
            Err(e) => {
                prop_assert_eq!(e.code, arcp_proto::wire::ErrorCode::PermissionDenied);
                let escapes = {
                    let mut depth = 0i32;
                    let mut bad = false;
                    for s in raw.split('/') {
                        match s {
                            "" | "." => {}
                            ".." => { depth -= 1; bad |= depth < 0; }
                            _ => depth += 1,
                        }
                    }
                    bad
                };
                prop_assert!(!raw.starts_with('/') || escapes, "{:?} refused for no reason", raw);
            }
        }
    }

    #[test]
    fn no_normalised_target_escapes_its_pattern_root(
        root in prop::collection::vec(prop::sample::select(&["p", "q", "src"][..]), 1..3),
        tail in pieces(),
        raw in raw_path(),
        prefix_it in any::<bool>(),
    ) {
        let root = format!("/{}/", root.join("/"));
        let pattern = format!("{root}{}", render(&tail));
        let l = lease(&format!(r#"{{"fs.read":[{}]}}"#, serde_json::to_string(&pattern).unwrap()));
        // Half the targets start inside the root and try to climb out with `..`.
        let target = if prefix_it { format!("{root}{raw}") } else { raw };
        if authorize(&now(), &l, None, &Operation::new("fs.read", target.clone())).is_ok() {
            let n = normalize_path(&target).unwrap();
            let lit = Glob::parse(&pattern).literal_root();
            prop_assert!(lit.starts_with(&root));
            prop_assert!(n.starts_with(&lit), "{:?} → {:?} escaped {:?}", target, n, lit);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Budget arithmetic.

fn cost(value: MetricValue) -> MetricBody {
    MetricBody {
        name: "cost.step".into(),
        value,
        unit: Some("USD".into()),
        attributes: None,
        extra: Default::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn budget_never_loses_a_cent_over_10000_costs(
        costs in prop::collection::vec((0u32..100_000, 0u32..=4, any::<bool>()), 10_000),
    ) {
        let initial = Decimal::parse("1000000.00").unwrap();
        let mut c = BudgetCounters::new(Budget(vec![("USD".into(), initial)]));
        // Expected, in units of 0.0001.
        let mut expected: i128 = 1_000_000 * 10_000;
        let mut reported: i128 = expected;
        for (mantissa, scale, as_text) in costs {
            let d = Decimal::new(i128::from(mantissa), scale).unwrap();
            let text = d.to_string();
            let value = if as_text {
                MetricValue::Text(text)
            } else {
                MetricValue::Number(serde_json::from_str(&text).unwrap())
            };
            expected -= i128::from(mantissa) * 10i128.pow(4 - scale);
            match c.apply_cost(&cost(value)).unwrap() {
                CostOutcome::Applied { remaining, remaining_metric, .. } => {
                    let at4 = Decimal::new(expected, 4).unwrap();
                    prop_assert_eq!(remaining, at4);
                    let moved = (reported - expected).abs() >= 1;
                    prop_assert_eq!(remaining_metric.is_some(), moved);
                    if moved {
                        reported = expected;
                    }
                }
                CostOutcome::NotCost => prop_assert!(false, "cost not applied"),
            }
        }
        prop_assert_eq!(
            *c.remaining().get("USD").unwrap(),
            Decimal::new(expected, 4).unwrap()
        );
    }
}
