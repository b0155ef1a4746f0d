//! Our glob matcher against `globset` (with `literal_separator(true)`, no backslash escapes):
//! the same answers on the syntax both share, and the exact places where `globset`'s
//! language differs from the one the inclusion check reasons about — the reasons the matcher
//! is hand-written (see `src/lease/glob.rs`).

use arcp_proto::lease::Glob;
use globset::GlobBuilder;
use proptest::prelude::*;

fn globset(p: &str) -> Result<globset::GlobMatcher, globset::Error> {
    GlobBuilder::new(p)
        .literal_separator(true)
        .backslash_escape(false)
        .build()
        .map(|g| g.compile_matcher())
}

fn both(p: &str, t: &str) -> (bool, Option<bool>) {
    (
        Glob::parse(p).matches(t),
        globset(p).ok().map(|m| m.is_match(t)),
    )
}

#[test]
fn agreement_on_the_cases_the_issue_names() {
    for (p, t, want) in [
        ("/p/*", "/p/a/b", false),
        ("/p/**", "/p/a/b", true),
        ("/p/**", "/p", false),
        ("s?arch", "search", true),
        ("?", "/", false),
        ("[!a]", "/", false),
        ("[!a]", "b", true),
        ("[]]", "]", true),
        ("a*b", "abxb", true),
        ("*-mini", "o4-mini-fast-mini", true),
        ("/PROJECT/*", "/project/a", false),
    ] {
        assert_eq!(both(p, t), (want, Some(want)), "{p} {t}");
    }
}

#[test]
fn where_globset_means_something_else() {
    // `**` inside a segment: ours crosses `/`, globset's is a plain `*`.
    assert_eq!(both("a**b", "a/x/b"), (true, Some(false)));
    // `/**/`: globset also matches zero directories; ours needs the two slashes.
    assert_eq!(both("/p/**/x", "/p/x"), (false, Some(true)));
    // A trailing `/**` matches the bare directory with a slash in globset.
    assert_eq!(both("/p/**", "/p/"), (true, Some(true)));
    // `{a,b}` is alternation in globset, literal text in fnmatch and here.
    assert_eq!(both("fetch-{x,y}", "fetch-x"), (false, Some(true)));
    assert_eq!(both("fetch-{x,y}", "fetch-{x,y}"), (true, Some(false)));
    // `[^a]` negates in globset; in fnmatch `^` is an ordinary member.
    assert_eq!(both("[^a]", "b"), (false, Some(true)));
    assert_eq!(both("[^a]", "^"), (true, Some(true)));
    // Patterns fnmatch (and the reference) accept, globset refuses.
    assert_eq!(both("[ab", "[ab"), (true, None));
    assert_eq!(both("[z-a]", "m"), (false, None));
}

/// Pieces whose meaning both engines share: no `**`, no `{}`, no `\`, no `[^`.
const SHARED: &[&str] = &[
    "a", "b", "-", "/", ".", "mini", "*", "?", "[ab]", "[!a]", "[a-c]", "[!/]", "]",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn same_answers_on_the_shared_syntax(
        pieces in prop::collection::vec(prop::sample::select(SHARED), 0..8),
        targets in prop::collection::vec("[ab/.\\]-]{0,8}", 1..16),
    ) {
        let p = pieces.concat();
        // Two `*` pieces side by side spell `**`, which the engines read differently.
        prop_assume!(!p.contains("**"));
        let theirs = globset(&p).unwrap();
        let ours = Glob::parse(&p);
        for t in &targets {
            prop_assert_eq!(ours.matches(t), theirs.is_match(t), "{:?} vs {:?}", p, t);
        }
    }
}
