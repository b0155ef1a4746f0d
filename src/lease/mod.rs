//! Leases: capability grammar, globs, subset, expiry and exact budgets (spec §9).
