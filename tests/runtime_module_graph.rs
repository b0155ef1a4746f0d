//! The runtime's module graph (issue #17 part 4): no file-level import cycle among
//! `src/runtime`'s modules, and the layering the module docs describe —
//!
//! - leaves (`config`, `effect`, `event`, `metrics`, `fxhash`, `encoding`, `minter`, `outbox`,
//!   `redact`) import only leaves;
//! - each part (`conns`, `sessions`, `jobs`, `subscriptions`, with their files) imports only
//!   leaves and its own files;
//! - the parent (`runtime/mod.rs`) imports leaves and parts;
//! - the orchestration (`flows/*`) imports leaves, parts and the parent; nothing imports it.
//!
//! An edge is any path in code (not comments, not the `#[cfg(test)] mod tests` at the end of
//! a file) that names another runtime module: `super::…`, `crate::runtime::…`, or a child
//! module's name. A path that names an item re-exported by `runtime/mod.rs`
//! (`crate::runtime::ConnId`) is an edge to `runtime/mod.rs`. The sources are compiled in
//! with `include_str!`, and every `mod x;` must be listed, so a new file cannot be missed.

use std::collections::{BTreeMap, BTreeSet};

macro_rules! sources {
    ($($module:literal => $file:literal),* $(,)?) => {
        &[$(($module, $file, include_str!(concat!("../src/runtime/", $file)))),*]
    };
}

/// (module path, file, source) of every file under `src/runtime`.
const SOURCES: &[(&str, &str, &str)] = sources! {
    "runtime" => "mod.rs",
    "runtime::config" => "config.rs",
    "runtime::conns" => "conns/mod.rs",
    "runtime::conns::hello" => "conns/hello.rs",
    "runtime::effect" => "effect.rs",
    "runtime::encoding" => "encoding.rs",
    "runtime::event" => "event.rs",
    "runtime::flows" => "flows/mod.rs",
    "runtime::flows::admission" => "flows/admission.rs",
    "runtime::flows::cluster" => "flows/cluster.rs",
    "runtime::flows::credentials" => "flows/credentials.rs",
    "runtime::flows::delegation" => "flows/delegation.rs",
    "runtime::flows::durability" => "flows/durability.rs",
    "runtime::flows::effects" => "flows/effects.rs",
    "runtime::flows::handshake" => "flows/handshake.rs",
    "runtime::flows::heartbeat" => "flows/heartbeat.rs",
    "runtime::flows::job_run" => "flows/job_run.rs",
    "runtime::flows::limits" => "flows/limits.rs",
    "runtime::flows::list_jobs" => "flows/list_jobs.rs",
    "runtime::flows::remote_list" => "flows/remote_list.rs",
    "runtime::flows::remote_subscribe" => "flows/remote_subscribe.rs",
    "runtime::flows::session" => "flows/session.rs",
    "runtime::flows::submit" => "flows/submit.rs",
    "runtime::flows::subscribe" => "flows/subscribe.rs",
    "runtime::fxhash" => "fxhash.rs",
    "runtime::jobs" => "jobs/mod.rs",
    "runtime::jobs::admission" => "jobs/admission.rs",
    "runtime::jobs::chunks" => "jobs/chunks.rs",
    "runtime::jobs::credentials" => "jobs/credentials.rs",
    "runtime::jobs::idempotency" => "jobs/idempotency.rs",
    "runtime::jobs::lease" => "jobs/lease.rs",
    "runtime::jobs::delegation" => "jobs/delegation.rs",
    "runtime::jobs::list" => "jobs/list.rs",
    "runtime::jobs::remote" => "jobs/remote.rs",
    "runtime::metrics" => "metrics.rs",
    "runtime::minter" => "minter.rs",
    "runtime::outbox" => "outbox.rs",
    "runtime::part_fuzz" => "part_fuzz.rs",
    "runtime::redact" => "redact.rs",
    "runtime::sessions" => "sessions/mod.rs",
    "runtime::sessions::after" => "sessions/after.rs",
    "runtime::sessions::ring" => "sessions/ring.rs",
    "runtime::sessions::token" => "sessions/token.rs",
    "runtime::subscriptions" => "subscriptions.rs",
};

const LEAVES: &[&str] = &[
    "config", "effect", "event", "metrics", "fxhash", "encoding", "minter", "outbox", "redact",
];
const PARTS: &[&str] = &["conns", "sessions", "jobs", "subscriptions"];

/// The source without comments and without a trailing `#[cfg(test)] mod tests`.
fn code(src: &str) -> String {
    let src = match src.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &src[..at],
        None => src,
    };
    src.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_module(m: &str) -> bool {
    SOURCES.iter().any(|(name, _, _)| *name == m)
}

fn parent(m: &str) -> &str {
    m.rsplit_once("::").map_or("", |(p, _)| p)
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// The modules a path after `base::` names: `text` starts right after the `::`.
fn resolve(base: &str, text: &str, out: &mut BTreeSet<String>) {
    let text = text.trim_start();
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut item = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    resolve(base, &item, out);
                    item.clear();
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        resolve(base, &item, out);
        return;
    }
    let n = ident_len(text);
    let seg = &text[..n];
    let child = format!("{base}::{seg}");
    if n > 0 && seg != "self" && is_module(&child) {
        match text[n..].strip_prefix("::") {
            Some(rest) => resolve(&child, rest, out),
            None => {
                out.insert(child);
            }
        }
    } else if !seg.is_empty() || text.is_empty() {
        out.insert(base.to_owned());
    }
}

/// Every runtime module `module`'s code names.
fn edges_of(module: &str, src: &str) -> BTreeSet<String> {
    let code = code(src);
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let at_word = i == 0 || {
            let p = bytes[i - 1] as char;
            !(p.is_ascii_alphanumeric() || p == '_' || p == ':')
        };
        let rest = &code[i..];
        if at_word {
            if let Some(r) = rest.strip_prefix("crate::runtime::") {
                resolve("runtime", r, &mut out);
            } else if rest.starts_with("super::") {
                let mut base = module;
                let mut r = rest;
                while let Some(next) = r.strip_prefix("super::") {
                    base = parent(base);
                    r = next;
                }
                resolve(base, r, &mut out);
            } else {
                // A child module named directly (`use jobs::Jobs;`, `fxhash::FxHashMap`).
                let n = ident_len(rest);
                if n > 0
                    && rest[n..].starts_with("::")
                    && is_module(&format!("{module}::{}", &rest[..n]))
                {
                    resolve(module, rest, &mut out);
                }
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out.remove(module);
    out
}

fn graph() -> BTreeMap<&'static str, BTreeSet<String>> {
    SOURCES
        .iter()
        .map(|(m, _, src)| (*m, edges_of(m, src)))
        .collect()
}

/// The layer a module belongs to.
fn layer(m: &str) -> (&'static str, &str) {
    let top = m.split("::").nth(1).unwrap_or("");
    if m == "runtime" {
        ("parent", "")
    } else if top == "flows" || top == "part_fuzz" {
        // The parts' fuzz harness may use every part, like the flows; nothing imports it.
        ("flows", top)
    } else if LEAVES.contains(&top) {
        ("leaf", top)
    } else if PARTS.contains(&top) {
        ("part", top)
    } else {
        ("unknown", top)
    }
}

#[test]
fn every_runtime_file_is_listed() {
    for (module, file, src) in SOURCES {
        for line in code(src).lines() {
            let l = line.trim();
            let l = l.strip_prefix("pub(super) ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            let Some(name) = l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) else {
                continue;
            };
            let child = format!("{module}::{name}");
            assert!(
                is_module(&child),
                "{file} declares `mod {name};`: list {child}"
            );
        }
        assert!(
            *module == "runtime" || is_module(parent(module)),
            "{module} has no listed parent"
        );
        assert_ne!(layer(module).0, "unknown", "{module}: unknown layer");
    }
    assert_eq!(SOURCES.len(), 44);
}

#[test]
fn the_layers_hold() {
    let g = graph();
    for (from, tos) in &g {
        let (lf, pf) = layer(from);
        for to in tos {
            let (lt, pt) = layer(to);
            let ok = match lf {
                "leaf" => lt == "leaf",
                "part" => lt == "leaf" || (lt == "part" && pt == pf),
                "parent" => lt == "leaf" || lt == "part",
                "flows" => lt != "flows",
                _ => false,
            };
            assert!(ok, "{from} ({lf}) may not import {to} ({lt})");
        }
    }
    // Spot checks that the scan sees what it should.
    assert!(g["runtime::flows::submit"].contains("runtime"));
    assert!(g["runtime::flows::submit"].contains("runtime::jobs"));
    assert!(g["runtime::jobs::credentials"].contains("runtime::jobs"));
    assert!(g["runtime"].contains("runtime::fxhash"));
    assert!(g["runtime::outbox"].contains("runtime::effect"));
    assert!(g["runtime::config"].is_empty());
}

#[test]
fn no_import_cycle() {
    let g = graph();
    // Kahn's algorithm: repeatedly remove modules nothing left imports from.
    let mut left: BTreeMap<&str, BTreeSet<&str>> = g
        .iter()
        .map(|(m, tos)| (*m, tos.iter().map(String::as_str).collect()))
        .collect();
    let mut order = Vec::new();
    while let Some(m) = left
        .iter()
        .find(|(_, tos)| tos.iter().all(|t| !left.contains_key(t)))
        .map(|(m, _)| *m)
    {
        left.remove(m);
        order.push(m);
    }
    assert!(left.is_empty(), "import cycle among {:?}", left.keys());
    assert_eq!(order.len(), SOURCES.len());
    for (m, tos) in &g {
        println!(
            "{m} -> {}",
            tos.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
}
