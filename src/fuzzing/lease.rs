//! The `lease` fuzz target's entry point.

use crate::lease::{
    BudgetCounters, CostOutcome, Glob, Lease, MAX_TARGET_BYTES, Operation, authorize,
    authorize_target, normalize_path,
};
use crate::wire::{Decimal, LeaseConstraints, LeaseMap, MetricBody, MetricValue, Timestamp};
use arbitrary::Unstructured;

/// Builds a parent and a child lease, a few operations and a few metrics from `data`, and
/// checks the lease invariants. Panics only if one is broken:
///
/// - parsing, subset, inherit, authorize, cost and normalisation never panic;
/// - a lease is a subset of itself;
/// - subset soundness: when the child passes [`Lease::check_subset_of`], every operation the
///   child (as it runs, [`Lease::inherit_from`]) is authorized for, the parent is too;
/// - a refused cost changes no counter; an applied one subtracts exactly its value;
/// - normalising a normalised path changes nothing;
/// - a checked operation ([`authorize_target`]) decides exactly as [`authorize`], and the
///   target it hands back is itself authorised and is its own normalisation (the agent acts
///   on nothing the lease did not grant).
pub fn lease_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = lease_ops_inner(&mut u);
}

const FUZZ_NAMESPACES: [&str; 9] = [
    "fs.read",
    "fs.write",
    "net.fetch",
    "tool.call",
    "model.use",
    "agent.delegate",
    "x-vendor.q",
    "cost.budget",
    "bogus.ns",
];

const FUZZ_PIECES: [&str; 18] = [
    "a", "b", "-", "/", ".", "..", "gpt", "mini", "*", "**", "?", "[ab]", "[!a]", "[a-c]", "[",
    "]", "!", "\\",
];

const FUZZ_AMOUNTS: [&str; 6] = ["USD:1.00", "USD:0", "USD:2.5", "EUR:3", "USD:0.40", "x:1e3"];

fn fuzz_pattern(u: &mut Unstructured<'_>, ns: &str) -> arbitrary::Result<String> {
    if ns == "cost.budget" {
        return Ok(u.choose(&FUZZ_AMOUNTS)?.to_string());
    }
    let mut s = match (ns, u.int_in_range(0u8..=3)?) {
        (_, 0) => return u.arbitrary::<String>(),
        ("net.fetch", _) => "https://h.example/".to_owned(),
        ("fs.read" | "fs.write", _) => "/".to_owned(),
        _ => String::new(),
    };
    for _ in 0..u.int_in_range(0u8..=6)? {
        s.push_str(u.choose(&FUZZ_PIECES)?);
    }
    Ok(s)
}

/// The `k`-th character boundary of `s` (mod their number).
fn char_boundary(s: &str, k: usize) -> usize {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    bounds.get(k % bounds.len().max(1)).copied().unwrap_or(0)
}

fn fuzz_map(u: &mut Unstructured<'_>) -> arbitrary::Result<LeaseMap> {
    let mut map = LeaseMap::default();
    for _ in 0..u.int_in_range(0u8..=4)? {
        let ns = *u.choose(&FUZZ_NAMESPACES)?;
        let mut pats = Vec::new();
        for _ in 0..u.int_in_range(0u8..=3)? {
            pats.push(fuzz_pattern(u, ns)?);
        }
        if map.get(ns).is_none() {
            map.0.push((ns.to_owned(), pats));
        }
    }
    Ok(map)
}

fn fuzz_constraints(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<LeaseConstraints>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    let secs = u.int_in_range(0i64..=20)?;
    Ok(Some(LeaseConstraints {
        expires_at: Some(Timestamp::from_unix_micros(secs * 1_000_000)),
        extra: Default::default(),
    }))
}

fn lease_ops_inner(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let parent_map = fuzz_map(u)?;
    let parent_c = fuzz_constraints(u)?;
    let child_map = if u.arbitrary::<bool>()? {
        fuzz_map(u)?
    } else {
        // A child drawn from the parent's own patterns, some of them altered.
        let mut m = parent_map.clone();
        for (ns, pats) in &mut m.0 {
            for p in pats.iter_mut() {
                *p = match u.int_in_range(0u8..=3)? {
                    0 => p.clone(),
                    1 => fuzz_pattern(u, ns)?,
                    // Insert a piece at a character boundary (`*` → `**`, `a` → `a/b`, ...).
                    2 => {
                        let at = char_boundary(p, u.arbitrary::<usize>()?);
                        let mut q = p.clone();
                        q.insert_str(at, u.choose(&FUZZ_PIECES)?);
                        q
                    }
                    // Drop one character.
                    _ => {
                        let at = char_boundary(p, u.arbitrary::<usize>()?);
                        let mut q = p.clone();
                        if at < q.len() {
                            q.remove(at);
                        }
                        q
                    }
                };
            }
        }
        m
    };
    let child_c = fuzz_constraints(u)?;
    let now = Timestamp::from_unix_micros(u.int_in_range(0i64..=20)? * 1_000_000);

    let parent = Lease::parse(&parent_map, parent_c.as_ref());
    let child = Lease::parse(&child_map, child_c.as_ref());
    let mut targets: Vec<(String, String)> = Vec::new();
    // Targets aimed at the patterns: a few examples of each, from a seeded xorshift so they
    // keep varying after the fuzz input runs out.
    let mut state = u.arbitrary::<u64>()? | 1;
    let mut pick = |n: usize| -> usize {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % (n.max(1) as u64)).unwrap_or(0)
    };
    for (ns, pats) in child_map.0.iter().chain(parent_map.0.iter()) {
        for p in pats {
            let glob = Glob::parse(p);
            for _ in 0..3 {
                if let Some(t) = glob.example(&mut pick) {
                    targets.push((ns.clone(), t));
                }
            }
        }
    }
    for _ in 0..u.int_in_range(0u8..=4)? {
        let ns = u.choose(&FUZZ_NAMESPACES)?.to_string();
        targets.push((ns, u.arbitrary::<String>()?));
    }

    // Pattern-level soundness: whenever a parent pattern covers a child pattern, every
    // target the child matches, the parent matches.
    let all: Vec<&String> = parent_map
        .0
        .iter()
        .chain(child_map.0.iter())
        .flat_map(|(_, pats)| pats)
        // Keep each fuzz iteration fast: covers is quadratic in pattern length.
        .filter(|p| p.len() <= 256)
        .collect();
    for p in &all {
        let pg = Glob::parse(p);
        for c in &all {
            let cg = Glob::parse(c);
            // Identical patterns trivially agree; only reflexivity is worth asserting.
            if p == c {
                assert!(pg.covers(&cg), "{pg:?} does not cover itself");
                continue;
            }
            if !pg.covers(&cg) {
                continue;
            }
            for _ in 0..4 {
                if let Some(t) = cg.example(&mut pick) {
                    assert!(pg.matches(&t), "{pg:?} covers {cg:?} but misses {t:?}");
                }
            }
            for (_, t) in &targets {
                if cg.matches(t) {
                    assert!(pg.matches(t), "{pg:?} covers {cg:?} but misses {t:?}");
                }
            }
        }
    }

    for (_, t) in &targets {
        if let Ok(n) = normalize_path(t) {
            assert_eq!(
                normalize_path(&n).as_deref(),
                Ok(n.as_str()),
                "normalisation is idempotent"
            );
        }
    }

    let (Ok(parent), Ok(child)) = (parent, child) else {
        return Ok(());
    };
    assert_eq!(
        parent.check_subset_of(&parent, None),
        Ok(()),
        "a lease is a subset of itself"
    );
    let counters = parent.budget().map(BudgetCounters::new);
    let remaining = counters.as_ref().map(BudgetCounters::remaining);
    let subset = child.check_subset_of(&parent, remaining);
    let run = child.inherit_from(&parent, remaining);
    for (ns, target) in &targets {
        let op = Operation::new(ns.clone(), target.clone());
        let by_child = authorize(&now, &run, None, &op);
        let by_parent = authorize(&now, &parent, counters.as_ref(), &op);
        let checked = authorize_target(&now, &parent, counters.as_ref(), &op);
        assert_eq!(
            checked.is_ok(),
            by_parent.is_ok(),
            "one decision for {op:?}"
        );
        if let Ok(t) = checked
            && t.len() <= MAX_TARGET_BYTES
        {
            let again = Operation::new(ns.clone(), t.clone());
            assert_eq!(
                authorize_target(&now, &parent, counters.as_ref(), &again),
                Ok(t),
                "the checked target of {op:?} is authorised as itself"
            );
        }
        if subset.is_ok() && by_child.is_ok() {
            assert_eq!(
                by_parent,
                Ok(()),
                "subset soundness: the child may {op:?} but the parent may not"
            );
        }
    }

    if let Some(mut counters) = counters {
        for _ in 0..u.int_in_range(0u8..=6)? {
            let value = if u.arbitrary::<bool>()? {
                let cents = u.int_in_range(-500i64..=500)?;
                MetricValue::Number(serde_json::Number::from(cents))
            } else {
                MetricValue::Text(u.arbitrary::<String>()?)
            };
            let unit = u
                .choose(&[Some("USD"), Some("EUR"), None])?
                .map(str::to_owned);
            let name = u.choose(&["cost.x", "latency", "cost.budget.remaining"])?;
            let metric = MetricBody {
                name: (*name).to_owned(),
                value,
                unit,
                attributes: None,
                extra: Default::default(),
            };
            let before = counters.remaining().clone();
            match counters.apply_cost(&metric) {
                Ok(CostOutcome::Applied {
                    currency,
                    remaining,
                    ..
                }) => {
                    let was = before.get(&currency).copied();
                    assert!(was.is_some(), "applied to an unbudgeted currency");
                    assert_eq!(counters.remaining().get(&currency), Some(&remaining));
                    if let (Some(was), MetricValue::Number(n)) = (was, &metric.value) {
                        let cost = Decimal::from_json_number(n).unwrap_or(Decimal::ZERO);
                        assert_eq!(was.checked_sub(&cost), Ok(remaining), "exact decrement");
                    }
                }
                Ok(CostOutcome::NotCost) | Err(_) => {
                    assert_eq!(
                        counters.remaining(),
                        &before,
                        "a refused cost changes nothing"
                    );
                }
            }
        }
    }
    Ok(())
}
