// The compatibility notes, docs/compat.md, as a documentation-only module: docs.rs renders them
// with the crate, and doc comments across the workspace link a decision as
// `[D27](arcp_proto::compat#d27--idempotent-resubmit)` (`crate::compat` inside this crate).
#![doc = include_str!("../docs/compat.md")]
