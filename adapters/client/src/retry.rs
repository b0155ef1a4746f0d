//! The reconnect policy: the retry of a resume refused because the session is still
//! attached (spec §6.3, point 1: a client that reconnects before the runtime noticed the
//! drop is refused with `PERMISSION_DENIED` and must retry a bounded number of times, with
//! backoff), and the backoff with jitter between reconnect attempts.

use arcp_proto::wire::{Entropy, ErrorCode, ErrorPayload};
use std::time::Duration;

/// Bounded, exponential retry of a refused resume. The policy only computes delays: the
/// adapter sleeps (or arms a timer) itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRetry {
    /// Retries after the first refusal (0: never retry).
    pub max_attempts: u32,
    /// The first delay; each next one doubles.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
    attempts: u32,
}

impl Default for ResumeRetry {
    /// 8 retries, 50 ms doubling up to 1 s (50+100+200+400+800+1000+1000+1000 ms at most).
    fn default() -> Self {
        ResumeRetry::new(8, Duration::from_millis(50), Duration::from_secs(1))
    }
}

impl ResumeRetry {
    /// A policy of `max_attempts` retries, starting at `base`, capped at `cap`.
    pub fn new(max_attempts: u32, base: Duration, cap: Duration) -> Self {
        ResumeRetry {
            max_attempts,
            base,
            cap,
            attempts: 0,
        }
    }

    /// No retries at all.
    pub fn never() -> Self {
        ResumeRetry::new(0, Duration::ZERO, Duration::ZERO)
    }

    /// `true` for a refusal a retry may cure: `PERMISSION_DENIED` to a resume hello (the
    /// reference answers "no resumable session" while the session is attached; this
    /// crate's runtime "session is attached to a connection").
    pub fn applies(error: &ErrorPayload, resuming: bool) -> bool {
        resuming && error.code == ErrorCode::PermissionDenied
    }

    /// After a refusal: the delay before the next attempt, or `None` when the refusal is
    /// final (not retryable, or the attempts are used up).
    pub fn next_delay(&mut self, error: &ErrorPayload, resuming: bool) -> Option<Duration> {
        if !Self::applies(error, resuming) || self.attempts >= self.max_attempts {
            return None;
        }
        let delay = self
            .base
            .saturating_mul(1u32 << self.attempts.min(16))
            .min(self.cap);
        self.attempts += 1;
        Some(delay)
    }

    /// Retries used since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// A welcome arrived: the next refusal starts over.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// The delay before reconnect attempt `attempt` (0-based): `first` doubled per attempt (at
/// most 64 times `first`), plus a jitter of up to a quarter of it drawn from `entropy`, so
/// clients dropped together do not come back together.
pub fn reconnect_delay(first: Duration, attempt: u32, entropy: &mut dyn Entropy) -> Duration {
    let base = first.saturating_mul(1u32 << attempt.min(6));
    let quarter = u64::try_from(base.as_micros() / 4).unwrap_or(u64::MAX);
    let jitter = if quarter == 0 {
        0
    } else {
        // The high bits, reduced: uniform enough for spreading reconnects.
        u64::try_from((entropy.next_u128() >> 64) % u128::from(quarter + 1)).unwrap_or(0)
    };
    base + Duration::from_micros(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arcp_proto::wire::SeededEntropy;

    fn denied() -> ErrorPayload {
        ErrorPayload::new(ErrorCode::PermissionDenied, "no resumable session")
    }

    #[test]
    fn delays_double_up_to_the_cap_then_stop() {
        let mut r = ResumeRetry::new(4, Duration::from_millis(100), Duration::from_millis(300));
        let got: Vec<_> = (0..5).map(|_| r.next_delay(&denied(), true)).collect();
        assert_eq!(
            got,
            vec![
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(300)),
                Some(Duration::from_millis(300)),
                None
            ]
        );
        assert_eq!(r.attempts(), 4);
        r.reset();
        assert_eq!(
            r.next_delay(&denied(), true),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn only_a_denied_resume_is_retried() {
        let mut r = ResumeRetry::default();
        assert_eq!(r.next_delay(&denied(), false), None);
        let bad = ErrorPayload::new(ErrorCode::Unauthenticated, "invalid bearer token");
        assert_eq!(r.next_delay(&bad, true), None);
        assert_eq!(r.attempts(), 0);
        assert_eq!(ResumeRetry::never().next_delay(&denied(), true), None);
    }

    #[test]
    fn the_default_waits_at_most_four_and_a_half_seconds() {
        let mut r = ResumeRetry::default();
        let total: Duration = std::iter::from_fn(|| r.next_delay(&denied(), true)).sum();
        assert_eq!(total, Duration::from_millis(4550));
        assert_eq!(r.attempts(), 8);
    }

    /// 400 ms plus the jitter seed 9 draws.
    const JITTERED_400MS_SEED_9: u64 = 480_775;

    #[test]
    fn reconnect_delays_double_with_a_bounded_jitter() {
        let mut e = SeededEntropy::new(3);
        let first = Duration::from_millis(100);
        for attempt in 0..9 {
            let base = first * (1u32 << attempt.min(6));
            let d = reconnect_delay(first, attempt, &mut e);
            assert!(d >= base && d <= base + base / 4, "{attempt}: {d:?}");
        }
        // Deterministic for a seed.
        let a = reconnect_delay(first, 2, &mut SeededEntropy::new(9));
        assert_eq!(a, Duration::from_micros(JITTERED_400MS_SEED_9));
        assert_eq!(reconnect_delay(first, 2, &mut SeededEntropy::new(9)), a);
        assert_eq!(reconnect_delay(Duration::ZERO, 3, &mut e), Duration::ZERO);
    }
}
