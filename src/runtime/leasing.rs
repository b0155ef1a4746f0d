//! The runtime's view of a job's lease: the parsed lease, its expiry and its live budget
//! counters, with the checks the runtime needs (authorize, cost, subset).

use crate::wire::{
    Amount, Budget, Decimal, ErrorCode, ErrorPayload, LeaseConstraints, LeaseMap, MetricBody,
    MetricValue, Timestamp,
};

/// An authority-bearing operation an agent asks the runtime to authorize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The capability namespace, e.g. `fs.read`.
    pub namespace: String,
    /// The target, e.g. a path or tool name.
    pub target: String,
}

impl Operation {
    /// An operation on `target` under `namespace`.
    pub fn new(namespace: impl Into<String>, target: impl Into<String>) -> Self {
        Operation {
            namespace: namespace.into(),
            target: target.into(),
        }
    }
}

const NAMESPACES: [&str; 7] = [
    "fs.read",
    "fs.write",
    "net.fetch",
    "tool.call",
    "agent.delegate",
    "cost.budget",
    "model.use",
];

/// A validated lease with its budget counters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobLease {
    pub map: LeaseMap,
    pub expires_at: Option<Timestamp>,
    /// Initial totals (the `job.accepted` echo, D12).
    pub budget: Option<Budget>,
    /// Live counters.
    pub remaining: Option<Budget>,
    /// Counter values at the last `cost.budget.remaining` metric.
    last_reported: Vec<(String, Decimal)>,
}

fn invalid(msg: impl Into<String>) -> ErrorPayload {
    ErrorPayload::new(ErrorCode::InvalidRequest, msg)
}

impl JobLease {
    /// Validates namespaces and budget amounts (D18: `INVALID_REQUEST`).
    pub fn parse(
        map: &LeaseMap,
        constraints: Option<&LeaseConstraints>,
    ) -> Result<JobLease, ErrorPayload> {
        let mut budget: Option<Budget> = None;
        for (ns, patterns) in &map.0 {
            if !NAMESPACES.contains(&ns.as_str()) && !ns.starts_with("x-vendor.") {
                return Err(invalid(format!(
                    "unknown lease capability namespace: {ns:?}"
                )));
            }
            if ns == "cost.budget" {
                let b = budget.get_or_insert_with(Budget::default);
                for p in patterns {
                    let a = Amount::parse(p)
                        .map_err(|_| invalid(format!("invalid budget amount {p:?}")))?;
                    b.add(&a.currency, &a.value)
                        .map_err(|_| invalid(format!("budget amount out of range {p:?}")))?;
                }
            }
        }
        Ok(JobLease {
            map: map.clone(),
            expires_at: constraints.and_then(|c| c.expires_at.clone()),
            remaining: budget.clone(),
            last_reported: budget.as_ref().map(|b| b.0.clone()).unwrap_or_default(),
            budget,
        })
    }

    /// Expiry → `LEASE_EXPIRED`, pattern → `PERMISSION_DENIED`, counter ≤ 0 →
    /// `BUDGET_EXHAUSTED` (WIRE.md §14.3, D30).
    pub fn authorize(&self, wall_now: &Timestamp, op: &Operation) -> Result<(), ErrorPayload> {
        if let Some(exp) = &self.expires_at {
            if wall_now >= exp {
                return Err(ErrorPayload::new(ErrorCode::LeaseExpired, "lease expired"));
            }
        }
        let allowed = self
            .map
            .get(&op.namespace)
            .is_some_and(|pats| pats.iter().any(|p| glob(p, &op.target)));
        if !allowed {
            return Err(ErrorPayload::new(
                ErrorCode::PermissionDenied,
                format!(
                    "{} {:?} not permitted by the lease",
                    op.namespace, op.target
                ),
            ));
        }
        self.check_budget()
    }

    /// `BUDGET_EXHAUSTED` when any counter is ≤ 0.
    pub fn check_budget(&self) -> Result<(), ErrorPayload> {
        if let Some(r) = &self.remaining {
            if let Some((cur, d)) = r.0.iter().find(|(_, d)| d.is_exhausted()) {
                return Err(ErrorPayload::new(
                    ErrorCode::BudgetExhausted,
                    format!("budget for {cur} exhausted (remaining={d})"),
                ));
            }
        }
        Ok(())
    }

    /// Applies a cost metric. `Ok(None)`: not a cost (passed through unchanged). `Ok(Some(m))`:
    /// applied, and `m` is the `cost.budget.remaining` metric to emit when the counter moved by
    /// at least 0.0001 since the last one. A negative cost is refused (D31).
    pub fn apply_cost(
        &mut self,
        metric: &MetricBody,
    ) -> Result<Option<Option<MetricBody>>, ErrorPayload> {
        if !metric.name.starts_with("cost.") || metric.name == "cost.budget.remaining" {
            return Ok(None);
        }
        let (Some(unit), Some(remaining)) = (&metric.unit, self.remaining.as_mut()) else {
            return Ok(None);
        };
        let Some(counter) = remaining.0.iter_mut().find(|(c, _)| c == unit) else {
            return Ok(None);
        };
        let value = match &metric.value {
            MetricValue::Number(n) => Decimal::from_json_number(n),
            MetricValue::Text(s) => Decimal::parse(s),
        }
        .map_err(|_| invalid("cost metric value is not a decimal"))?;
        if value.is_negative() {
            return Err(invalid(format!("negative cost metric rejected: {value}")));
        }
        counter.1 = counter
            .1
            .checked_sub(&value)
            .map_err(|_| invalid("cost out of range"))?;
        let now = counter.1;
        let last = self.last_reported.iter_mut().find(|(c, _)| c == unit);
        let threshold = Decimal::new(1, 4).unwrap_or(value);
        let moved = match &last {
            Some((_, l)) => l.checked_sub(&now).map_or(true, |d| {
                let neg = Decimal::new(0, 0).ok().and_then(|z| z.checked_sub(&d).ok());
                d >= threshold || neg.is_some_and(|n| n >= threshold)
            }),
            None => true,
        };
        if !moved {
            return Ok(Some(None));
        }
        match last {
            Some(l) => l.1 = now,
            None => self.last_reported.push((unit.clone(), now)),
        }
        Ok(Some(Some(MetricBody {
            name: "cost.budget.remaining".into(),
            value: MetricValue::Number(float_number(now.to_f64())),
            unit: Some(unit.clone()),
            attributes: None,
            extra: Default::default(),
        })))
    }

    /// §9.4 subset: every child namespace but `cost.budget` in the parent with covered
    /// patterns; each child currency within the parent's remaining counter; expiry no later
    /// than the parent's (D28). Violations are `LEASE_SUBSET_VIOLATION`.
    pub fn check_subset_of(&self, parent: &JobLease) -> Result<(), ErrorPayload> {
        let violation = |m: String| ErrorPayload::new(ErrorCode::LeaseSubsetViolation, m);
        for (ns, pats) in &self.map.0 {
            if ns == "cost.budget" {
                continue;
            }
            let Some(parent_pats) = parent.map.get(ns) else {
                return Err(violation(format!("namespace {ns} not in the parent lease")));
            };
            for p in pats {
                if !parent_pats.iter().any(|pp| pp == p || glob(pp, p)) {
                    return Err(violation(format!(
                        "{ns} pattern {p:?} exceeds the parent lease"
                    )));
                }
            }
        }
        if let Some(child) = &self.budget {
            for (cur, amount) in &child.0 {
                let within = parent
                    .remaining
                    .as_ref()
                    .and_then(|r| r.get(cur))
                    .is_some_and(|rem| amount <= rem);
                if !within && !amount.is_exhausted() {
                    return Err(violation(format!(
                        "budget {cur}:{amount} exceeds the parent's remaining budget"
                    )));
                }
            }
        }
        if let (Some(c), Some(p)) = (&self.expires_at, &parent.expires_at) {
            if c > p {
                return Err(violation("expires_at later than the parent's".into()));
            }
        }
        Ok(())
    }
}

/// A JSON float (`1` goes out as `1.0`, as the reference writes metric values).
pub(crate) fn float_number(v: f64) -> serde_json::Number {
    serde_json::Number::from_f64(v).unwrap_or_else(|| serde_json::Number::from(0))
}

/// D29 globs: `*` and `?` within one `/`-separated segment, `**` across segments, `[...]`
/// classes (with `!` negation).
pub(crate) fn glob(pattern: &str, target: &str) -> bool {
    if target.contains('\0') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = target.chars().collect();
    glob_at(&p, &t, 0)
}

fn glob_at(p: &[char], t: &[char], depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => {
            let (cross, rest) = match rest.split_first() {
                Some(('*', r)) => (true, r),
                _ => (false, rest),
            };
            for i in 0..=t.len() {
                let Some(prefix) = t.get(..i) else { break };
                if !cross && prefix.contains(&'/') {
                    break;
                }
                if let Some(tail) = t.get(i..) {
                    if glob_at(rest, tail, depth + 1) {
                        return true;
                    }
                }
            }
            false
        }
        Some(('?', rest)) => match t.split_first() {
            Some((c, tr)) if *c != '/' => glob_at(rest, tr, depth + 1),
            _ => false,
        },
        Some(('[', rest)) => {
            let Some(end) = rest.iter().position(|c| *c == ']') else {
                return match t.split_first() {
                    Some(('[', tr)) => glob_at(rest, tr, depth + 1),
                    _ => false,
                };
            };
            let (class, after) = rest.split_at(end);
            let after = after.get(1..).unwrap_or(&[]);
            let (neg, class) = match class.split_first() {
                Some(('!', c)) => (true, c),
                _ => (false, class),
            };
            match t.split_first() {
                Some((c, tr)) if *c != '/' && class.contains(c) != neg => {
                    glob_at(after, tr, depth + 1)
                }
                _ => false,
            }
        }
        Some((pc, rest)) => match t.split_first() {
            Some((c, tr)) if c == pc => glob_at(rest, tr, depth + 1),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_d29() {
        assert!(glob("/project/**", "/project/a/b/c/deep.txt"));
        assert!(!glob("/project/*", "/project/a/b"));
        assert!(glob("/project/*", "/project/a"));
        assert!(glob("fetch-*", "fetch-web"));
        assert!(!glob("search", "exec"));
        assert!(glob("s?arch", "search"));
        assert!(glob("tier-fast/*", "tier-fast/small"));
        assert!(!glob("/project/*", "/PROJECT/a"));
        assert!(glob("[ab]x", "bx"));
        assert!(!glob("[!ab]x", "bx"));
    }
}
