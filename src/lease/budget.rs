//! Exact budget counters and cost metrics (spec §9.6, [D12], [D31]).
//!
//! [D12]: crate::compat#d12--budget-echo
//! [D31]: crate::compat#d31--negative-cost

use super::{LeaseError, invalid};
use crate::wire::{Amount, Budget, Decimal, MetricBody, MetricValue};
use serde_json::Number;

/// The name of the metric reporting a counter after a cost.
pub const REMAINING_METRIC: &str = "cost.budget.remaining";

/// The smallest movement of a counter that earns a new remaining metric: 0.0001.
fn report_step() -> Decimal {
    Decimal::new(1, 4).unwrap_or(Decimal::ZERO)
}

/// Sums `cost.budget` amounts per currency in first-seen order, keeping the largest scale.
/// Invalid amounts or an overflowing sum are `INVALID_REQUEST` ([D18]).
///
/// [D18]: crate::compat#d18--validation-failures
pub(super) fn sum_amounts(patterns: &[String]) -> Result<Budget, LeaseError> {
    let mut budget = Budget::default();
    for p in patterns {
        let amount = Amount::parse(p).map_err(|e| invalid(e.to_string()))?;
        budget.add(&amount.currency, &amount.value).map_err(|_| {
            invalid(format!(
                "cost.budget total for {} overflows",
                amount.currency
            ))
        })?;
    }
    Ok(budget)
}

/// What a metric did to the counters.
#[derive(Debug, Clone, PartialEq)]
pub enum CostOutcome {
    /// Not a cost metric for a budgeted currency; pass it through untouched.
    NotCost,
    /// The counter of `currency` was decremented to `remaining`.
    Applied {
        /// The currency.
        currency: String,
        /// The counter after the cost (may be negative, [D31]).
        ///
        /// [D31]: crate::compat#d31--negative-cost
        remaining: Decimal,
        /// The `cost.budget.remaining` metric to emit right after the cost metric, or `None`
        /// when the counter moved by less than 0.0001 since the last one (spec §9.6).
        remaining_metric: Option<MetricBody>,
    },
}

/// A job's live budget: the remaining amount per currency and the value last reported in a
/// `cost.budget.remaining` metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCounters {
    remaining: Budget,
    reported: Budget,
}

impl BudgetCounters {
    /// Counters starting at `initial`; the initial values count as reported.
    pub fn new(initial: Budget) -> Self {
        BudgetCounters {
            reported: initial.clone(),
            remaining: initial,
        }
    }

    /// The current counters (for `job.subscribed.budget` and delegation).
    pub fn remaining(&self) -> &Budget {
        &self.remaining
    }

    /// The first counter that is ≤ 0, if any.
    pub fn exhausted(&self) -> Option<(&str, &Decimal)> {
        first_exhausted(&self.remaining)
    }

    /// Applies a metric. A `cost.*` metric whose `unit` is a budgeted currency decrements
    /// that counter by exactly its value (a JSON number or a decimal string). A negative or
    /// unreadable cost is refused with `INVALID_REQUEST` and changes nothing ([D31]); the caller
    /// then emits nothing. A counter may go below zero: costs are never refused for being
    /// too large, exhaustion is found at the next [`authorize`](super::authorize).
    ///
    /// The runtime must not feed back the remaining metrics it emits itself.
    ///
    /// [D31]: crate::compat#d31--negative-cost
    pub fn apply_cost(&mut self, metric: &MetricBody) -> Result<CostOutcome, LeaseError> {
        let Some(currency) = metric.unit.as_deref() else {
            return Ok(CostOutcome::NotCost);
        };
        if !metric.name.starts_with("cost.") {
            return Ok(CostOutcome::NotCost);
        }
        let Some(current) = self.remaining.get(currency).copied() else {
            return Ok(CostOutcome::NotCost);
        };
        let cost = match &metric.value {
            MetricValue::Number(n) => Decimal::from_json_number(n),
            MetricValue::Text(s) => Decimal::parse(s),
        }
        .map_err(|_| invalid(format!("cost metric {} has an invalid value", metric.name)))?;
        if cost.is_negative() {
            // D31: refused, nothing decremented, nothing emitted.
            return Err(invalid(format!(
                "negative cost {cost} {currency} refused for {}",
                metric.name
            )));
        }
        let remaining = current
            .checked_sub(&cost)
            .map_err(|_| invalid(format!("cost {cost} {currency} is out of range")))?;
        set(&mut self.remaining, currency, remaining);
        let last = self.reported.get(currency).copied().unwrap_or(current);
        let moved = match remaining.checked_sub(&last) {
            Ok(d) => d
                .mantissa()
                .checked_abs()
                .map(|m| Decimal::new(m, d.scale())),
            Err(_) => None,
        };
        let report = match moved {
            Some(Ok(m)) => m >= report_step(),
            _ => true,
        };
        let remaining_metric = if report {
            set(&mut self.reported, currency, remaining);
            Some(remaining_metric(currency, &remaining))
        } else {
            None
        };
        Ok(CostOutcome::Applied {
            currency: currency.to_owned(),
            remaining,
            remaining_metric,
        })
    }
}

impl BudgetCounters {
    /// Reserves a delegated child's budget (§10): each of `child`'s currencies that is
    /// budgeted here is taken off its counter. The caller has checked the subset rule, so
    /// each amount is at most what is left; an amount that would overflow changes nothing
    /// and is `INVALID_REQUEST`.
    pub fn reserve(&mut self, child: &Budget) -> Result<(), LeaseError> {
        let mut next = self.remaining.clone();
        for (currency, amount) in &child.0 {
            if let Some(left) = next.get(currency).copied() {
                let after = left
                    .checked_sub(amount)
                    .map_err(|_| invalid(format!("reserving {amount} {currency} overflows")))?;
                set(&mut next, currency, after);
            }
        }
        self.remaining = next;
        Ok(())
    }

    /// A child ended: its counters at the end (`child_left`: what it did not spend of its
    /// reservation, negative when it overspent) are added back here, so the parent ends up
    /// charged exactly what the child spent. A sum that would overflow leaves the counter
    /// as it is.
    pub fn settle(&mut self, child_left: &Budget) {
        for (currency, left) in &child_left.0 {
            if let Some(now) = self.remaining.get(currency).copied()
                && let Ok(after) = now.checked_add(left)
            {
                set(&mut self.remaining, currency, after);
            }
        }
    }
}

/// Sets (or adds) `currency`'s counter.
fn set(budget: &mut Budget, currency: &str, value: Decimal) {
    match budget.0.iter_mut().find(|(c, _)| c == currency) {
        Some((_, d)) => *d = value,
        None => budget.0.push((currency.to_owned(), value)),
    }
}

/// The first counter ≤ 0.
pub(super) fn first_exhausted(budget: &Budget) -> Option<(&str, &Decimal)> {
    budget
        .0
        .iter()
        .find(|(_, d)| d.is_exhausted())
        .map(|(c, d)| (c.as_str(), d))
}

/// `{name: "cost.budget.remaining", value: <float>, unit}` as the reference sends it.
fn remaining_metric(currency: &str, remaining: &Decimal) -> MetricBody {
    let value = Number::from_f64(remaining.to_f64()).unwrap_or_else(|| Number::from(0));
    MetricBody {
        name: REMAINING_METRIC.to_owned(),
        value: MetricValue::Number(value),
        unit: Some(currency.to_owned()),
        attributes: None,
        extra: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    fn metric(name: &str, value: MetricValue, unit: Option<&str>) -> MetricBody {
        MetricBody {
            name: name.into(),
            value,
            unit: unit.map(Into::into),
            attributes: None,
            extra: serde_json::Map::new(),
        }
    }

    fn text(s: &str) -> MetricValue {
        MetricValue::Text(s.into())
    }

    #[test]
    fn sums_per_currency_keeping_scale() {
        let b = sum_amounts(&["USD:1.00".into(), "USD:2.5".into(), "credits:1000".into()]).unwrap();
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"USD":"USD:3.50","credits":"credits:1000"}"#
        );
        let e = sum_amounts(&["USD:abc".into()]).unwrap_err();
        assert_eq!(e.code, crate::wire::ErrorCode::InvalidRequest);
    }

    #[test]
    fn small_moves_are_not_reported_until_they_add_up() {
        let mut c = BudgetCounters::new(Budget(vec![("USD".into(), d("1.00"))]));
        let m = metric("cost.x", text("0.00004"), Some("USD"));
        let CostOutcome::Applied {
            remaining_metric, ..
        } = c.apply_cost(&m).unwrap()
        else {
            panic!("not applied")
        };
        assert_eq!(remaining_metric, None);
        c.apply_cost(&m).unwrap();
        let CostOutcome::Applied {
            remaining,
            remaining_metric,
            ..
        } = c.apply_cost(&m).unwrap()
        else {
            panic!("not applied")
        };
        assert_eq!(remaining.to_string(), "0.99988");
        assert_eq!(
            serde_json::to_string(&remaining_metric.unwrap()).unwrap(),
            r#"{"name":"cost.budget.remaining","value":0.99988,"unit":"USD"}"#
        );
    }

    #[test]
    fn non_cost_metrics_and_refusals() {
        let mut c = BudgetCounters::new(Budget(vec![("USD".into(), d("1.00"))]));
        assert_eq!(
            c.apply_cost(&metric("latency", text("5"), Some("USD"))),
            Ok(CostOutcome::NotCost)
        );
        assert_eq!(
            c.apply_cost(&metric("cost.x", text("5"), Some("EUR"))),
            Ok(CostOutcome::NotCost)
        );
        assert_eq!(
            c.apply_cost(&metric("cost.x", text("5"), None)),
            Ok(CostOutcome::NotCost)
        );
        let neg = c
            .apply_cost(&metric("cost.x", text("-0.10"), Some("USD")))
            .unwrap_err();
        assert_eq!(neg.code, crate::wire::ErrorCode::InvalidRequest);
        assert_eq!(neg.message, "negative cost -0.10 USD refused for cost.x");
        let n: Number = serde_json::from_str("-0.5").unwrap();
        assert!(
            c.apply_cost(&metric("cost.x", MetricValue::Number(n), Some("USD")))
                .is_err()
        );
        assert!(
            c.apply_cost(&metric("cost.x", text("1e3"), Some("USD")))
                .is_err()
        );
        assert_eq!(c.remaining().get("USD").unwrap().to_string(), "1.00");
        assert_eq!(c.exhausted(), None);
    }

    #[test]
    fn a_reservation_is_taken_off_and_the_unspent_part_settles_back() {
        let usd = |v: &str| Budget(vec![("USD".into(), d(v))]);
        let mut parent = BudgetCounters::new(Budget(vec![
            ("USD".into(), d("2.00")),
            ("EUR".into(), d("1")),
        ]));
        parent.reserve(&usd("0.50")).unwrap();
        parent
            .reserve(&Budget(vec![("GBP".into(), d("9"))]))
            .unwrap();
        assert_eq!(
            serde_json::to_string(parent.remaining()).unwrap(),
            r#"{"USD":"USD:1.50","EUR":"EUR:1"}"#
        );
        // The child spent 0.20 of its 0.50: 0.30 comes back.
        parent.settle(&usd("0.30"));
        assert_eq!(parent.remaining().get("USD").unwrap().to_string(), "1.80");
        // A child that overspent by 0.10 is charged to the parent.
        parent.reserve(&usd("1.00")).unwrap();
        parent.settle(&usd("-0.10"));
        assert_eq!(parent.remaining().get("USD").unwrap().to_string(), "0.70");
    }
}
