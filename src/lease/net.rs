//! `net.fetch` patterns and targets: URLs compared by parts (COMPAT D29).
//!
//! A pattern is `scheme://host[:port][/path-glob]`. Scheme and host are compared
//! case-insensitively and exactly; a host written `*.example.com` stands for one or more
//! labels in front of `example.com` (not `example.com` itself). Ports are compared after
//! filling in the scheme's default (`http`/`ws` 80, `https`/`wss` 443), so
//! `https://h` and `https://h:443` are the same origin. The path is matched with the
//! segment rules of [`Glob`] after normalising the target path as for `fs.*`
//! ([`normalize_path`]); an empty path is `/`. Query and fragment take no part.
//!
//! Targets that could be read two ways are denied rather than guessed at: userinfo
//! (`https://a@b/`), an invalid host, whitespace or control characters, a `\` in the path, and
//! percent-encoded `.`, `/`, `\` or NUL (`%2e`, `%2f`, `%5c`, `%00`), which some servers
//! decode into separators or dot segments after we have matched.

use super::glob::Glob;
use super::path::normalize_path;

/// A host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this (lower-cased) host.
    Exact(String),
    /// One or more labels followed by this suffix, which starts with `.`.
    Suffix(String),
}

/// A parsed `net.fetch` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlPattern {
    scheme: String,
    host: HostPattern,
    port: Option<u16>,
    path: Glob,
}

/// A parsed, normalised `net.fetch` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlTarget {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
    /// `?…` as written (empty when none); it takes no part in matching.
    query: String,
}

fn valid_scheme(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn valid_hostname(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, b':' | b'.'));
    }
    !h.is_empty()
        && h.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
        })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Splits `authority` into a lower-cased host and the effective port.
fn split_authority(authority: &str, scheme: &str) -> Result<(String, Option<u16>), String> {
    if authority.contains('@') {
        return Err("has userinfo".into());
    }
    // A bracketed IPv6 host may contain `:`; the port follows the `]`.
    let split_at = match authority.rfind(']') {
        Some(end) => authority
            .get(end..)
            .and_then(|rest| rest.find(':'))
            .map(|i| end + i),
        None => authority.find(':'),
    };
    let (host, port) = match split_at {
        Some(i) => {
            let port = authority.get(i + 1..).unwrap_or("");
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit()) {
                return Err("has an invalid port".into());
            }
            let port: u16 = port.parse().map_err(|_| "has an invalid port".to_owned())?;
            (authority.get(..i).unwrap_or(""), Some(port))
        }
        None => (authority, default_port(scheme)),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Splits `scheme://rest` into a lower-cased, valid scheme and the rest.
fn split_scheme(s: &str) -> Result<(String, &str), String> {
    let (scheme, rest) = s
        .split_once("://")
        .ok_or_else(|| "is not scheme://host[/path]".to_owned())?;
    if !valid_scheme(scheme) {
        return Err("has an invalid scheme".into());
    }
    Ok((scheme.to_ascii_lowercase(), rest))
}

impl UrlPattern {
    /// Parses a pattern; `Err` carries the reason.
    pub(crate) fn parse(s: &str) -> Result<UrlPattern, String> {
        let (scheme, rest) = split_scheme(s)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (rest.get(..i).unwrap_or(""), rest.get(i..).unwrap_or("/")),
            None => (rest, "/"),
        };
        let (host, port) = split_authority(authority, &scheme)?;
        let host = match host.strip_prefix("*.") {
            Some(suffix) if valid_hostname(suffix) && !suffix.starts_with('[') => {
                HostPattern::Suffix(format!(".{suffix}"))
            }
            Some(_) => return Err("has an invalid host".into()),
            None if valid_hostname(&host) => HostPattern::Exact(host),
            None => return Err("has an invalid host".into()),
        };
        Ok(UrlPattern {
            scheme,
            host,
            port,
            path: Glob::parse(path),
        })
    }

    /// `true` when the target is granted.
    pub(crate) fn matches(&self, t: &UrlTarget) -> bool {
        self.scheme == t.scheme
            && self.port == t.port
            && match &self.host {
                HostPattern::Exact(h) => *h == t.host,
                HostPattern::Suffix(s) => t.host.len() > s.len() && t.host.ends_with(s.as_str()),
            }
            && self.path.matches(&t.path)
    }

    /// `true` only if every target `child` grants, `self` grants (sound; see [`Glob::covers`]).
    pub(crate) fn covers(&self, child: &UrlPattern) -> bool {
        self.scheme == child.scheme
            && self.port == child.port
            && match (&self.host, &child.host) {
                (HostPattern::Exact(p), HostPattern::Exact(c)) => p == c,
                (HostPattern::Suffix(p), HostPattern::Exact(c)) => {
                    c.len() > p.len() && c.ends_with(p.as_str())
                }
                (HostPattern::Suffix(p), HostPattern::Suffix(c)) => c.ends_with(p.as_str()),
                (HostPattern::Exact(_), HostPattern::Suffix(_)) => false,
            }
            && self.path.covers(&child.path)
    }
}

impl UrlTarget {
    /// Parses and normalises a target; `Err` carries the reason it is denied.
    pub(crate) fn parse(s: &str) -> Result<UrlTarget, String> {
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace or a control character".into());
        }
        let (scheme, rest) = split_scheme(s)?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest.get(..end).unwrap_or("");
        let tail = rest.get(end..).unwrap_or("");
        let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
        let raw_path = match tail.get(..path_end).unwrap_or("") {
            "" => "/",
            p => p,
        };
        let (host, port) = split_authority(authority, &scheme)?;
        if !valid_hostname(&host) {
            return Err("has an invalid host".into());
        }
        let lower = raw_path.to_ascii_lowercase();
        if ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|e| lower.contains(e))
        {
            return Err("has a percent-encoded dot, slash, backslash or NUL in its path".into());
        }
        let path = normalize_path(raw_path).map_err(|e| e.message)?;
        let rest = tail.get(path_end..).unwrap_or("");
        let query = match rest.strip_prefix('?') {
            Some(q) => format!("?{}", q.split('#').next().unwrap_or("")),
            None => String::new(),
        };
        Ok(UrlTarget {
            scheme,
            host,
            port,
            path,
            query,
        })
    }

    /// The URL exactly as it was matched: lower-cased scheme and host, the port only when
    /// it is not the scheme's default, the normalised path, the query as written, no
    /// fragment (`HTTPS://Example.COM:443/a/./b/../c?q=1#f` → `https://example.com/a/c?q=1`).
    pub(crate) fn canonical(&self) -> String {
        let port = match self.port {
            Some(p) if Some(p) != default_port(&self.scheme) => format!(":{p}"),
            _ => String::new(),
        };
        format!(
            "{}://{}{}{}{}",
            self.scheme, self.host, port, self.path, self.query
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str, t: &str) -> bool {
        UrlPattern::parse(p)
            .unwrap()
            .matches(&UrlTarget::parse(t).unwrap())
    }

    #[test]
    fn scheme_host_port_exact_and_case_insensitive() {
        assert!(ok("https://example.com/*", "HTTPS://Example.COM/a"));
        assert!(!ok("https://example.com/*", "http://example.com/a"));
        assert!(!ok("https://example.com/*", "https://example.com.evil/a"));
        assert!(ok("https://example.com/*", "https://example.com:443/a"));
        assert!(!ok("https://example.com/*", "https://example.com:8443/a"));
        assert!(ok("https://example.com", "https://example.com"));
        assert!(ok("https://example.com", "https://example.com/?q=1#f"));
        assert!(!ok("https://example.com", "https://example.com/a"));
        assert!(ok("http://[::1]:8080/**", "http://[::1]:8080/a/b"));
    }

    #[test]
    fn canonical_is_what_was_matched() {
        let c = |t: &str| UrlTarget::parse(t).unwrap().canonical();
        assert_eq!(
            c("HTTPS://Example.COM:443/a/./b/../c?q=1#f"),
            "https://example.com/a/c?q=1"
        );
        assert_eq!(c("http://h:8080"), "http://h:8080/");
        assert_eq!(c("https://h/x#frag"), "https://h/x");
        assert_eq!(c("http://[::1]:80//a//b/"), "http://[::1]/a/b");
    }

    #[test]
    fn wildcard_host_needs_a_label() {
        assert!(ok("https://*.example.com/**", "https://a.example.com/x"));
        assert!(ok("https://*.example.com/**", "https://a.b.example.com/x"));
        assert!(!ok("https://*.example.com/**", "https://example.com/x"));
        assert!(!ok("https://*.example.com/**", "https://badexample.com/x"));
    }

    #[test]
    fn paths_are_normalised_segment_globs() {
        assert!(ok("https://h/api/*", "https://h/api/x"));
        assert!(!ok("https://h/api/*", "https://h/api/x/y"));
        assert!(!ok("https://h/api/*", "https://h/api/../admin"));
        assert!(ok("https://h/api/**", "https://h/api/x/../y"));
    }

    #[test]
    fn ambiguous_targets_are_refused() {
        for t in [
            "https://user@h/",
            "https://h/%2e%2e/admin",
            "https://h/a%2Fb",
            "https://h/a\\b",
            "https://h/a b",
            "https://h/../x",
            "https://h:/x",
            "https://h:99999/x",
            "https:/h/x",
            "https://a..b/x",
            "1x://h/",
        ] {
            assert!(UrlTarget::parse(t).is_err(), "{t}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for p in [
            "*",
            "https://*",
            "https://*/x",
            "https://a*b.com/",
            "https://u@h/",
            "h/x",
        ] {
            assert!(UrlPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn covers_compares_parts() {
        let p = |s: &str| UrlPattern::parse(s).unwrap();
        assert!(p("https://*.e.com/**").covers(&p("https://a.e.com/x/*")));
        assert!(p("https://*.e.com/**").covers(&p("https://*.a.e.com/**")));
        assert!(!p("https://*.e.com/**").covers(&p("https://e.com/**")));
        assert!(!p("https://a.e.com/**").covers(&p("https://*.e.com/**")));
        assert!(!p("https://e.com/**").covers(&p("http://e.com/**")));
        assert!(p("https://e.com/**").covers(&p("https://e.com:443/a")));
        assert!(!p("https://e.com/*").covers(&p("https://e.com/**")));
    }
}
