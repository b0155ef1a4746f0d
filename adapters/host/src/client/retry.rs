//! The retry of a resume refused because the session is still attached (WIRE.md §6, point
//! 1): a client that reconnects before the runtime noticed the drop is refused with
//! `PERMISSION_DENIED` and must retry a bounded number of times, with backoff.

use arcp_proto::wire::{ErrorCode, ErrorPayload};
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
