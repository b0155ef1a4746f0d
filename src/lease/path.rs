//! Filesystem target normalisation ([D29]).
//!
//! The reference matches raw targets, so `/project/*` matches `/project/../etc/passwd`. We
//! resolve the path first and match the result: `.` segments and repeated `/` vanish, `..`
//! removes the segment before it, and a target that is relative, contains a NUL or a `\`, or
//! whose `..` would climb above `/` is refused outright. A trailing `/` is dropped (`/p/a/` is
//! `/p/a`). The result is absolute, has no empty, `.` or `..` segment, and is its own
//! normalisation.
//!
//! [D29]: crate::compat#d29--globs

use super::LeaseError;
use crate::wire::ErrorCode;

/// Normalises an `fs.*` target ([D29]), or explains why it must be denied
/// (`PERMISSION_DENIED`): a relative path, a NUL, a `\` (a separator on some hosts, so it
/// could hide a `..`), or a `..` that climbs above `/`.
///
/// [D29]: crate::compat#d29--globs
pub fn normalize_path(target: &str) -> Result<String, LeaseError> {
    let deny = |why: &str| {
        LeaseError::new(
            ErrorCode::PermissionDenied,
            format!("path {target:?} {why}"),
        )
    };
    if target.contains('\0') {
        return Err(deny("contains a NUL"));
    }
    if target.contains('\\') {
        return Err(deny("contains a backslash"));
    }
    if !target.starts_with('/') {
        return Err(deny("is not absolute"));
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if segments.pop().is_none() {
                    return Err(deny("climbs above /"));
                }
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(target.len());
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dots_and_slashes() {
        assert_eq!(normalize_path("/p/./a//b/").unwrap(), "/p/a/b");
        assert_eq!(normalize_path("/p/a/../b").unwrap(), "/p/b");
        assert_eq!(normalize_path("/p/../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalize_path("/").unwrap(), "/");
        assert_eq!(normalize_path("//").unwrap(), "/");
        assert_eq!(normalize_path("/a/..").unwrap(), "/");
        assert_eq!(normalize_path("/...").unwrap(), "/...");
    }

    #[test]
    fn refuses_escapes() {
        for (t, why) in [
            ("p/a", "is not absolute"),
            ("", "is not absolute"),
            ("./p", "is not absolute"),
            ("/..", "climbs above /"),
            ("/p/../../etc", "climbs above /"),
            ("/p/\0", "contains a NUL"),
            ("/p/..\\..\\etc", "contains a backslash"),
        ] {
            let e = normalize_path(t).unwrap_err();
            assert_eq!(e.code, ErrorCode::PermissionDenied);
            assert_eq!(e.message, format!("path {t:?} {why}"));
        }
    }
}
