//! The host's clocks as the core sees them: a monotonic origin and a wall-clock anchor, both
//! given by the adapter (nothing here reads a clock).

use arcp_proto::time::{Instant as CoreInstant, WallClock};
use std::time::{Duration, Instant};

/// Maps the host's monotonic [`Instant`]s to the core's (microseconds since `origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose core time 0 is `origin`.
    pub fn new(origin: Instant) -> Self {
        Clock { origin }
    }

    /// The core's instant for `at` (0 before the origin, saturating far ahead).
    pub fn core(&self, at: Instant) -> CoreInstant {
        let micros = at.saturating_duration_since(self.origin).as_micros();
        CoreInstant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The host instant of a core deadline.
    pub fn host(&self, at: CoreInstant) -> Instant {
        self.origin + Duration::from_micros(at.as_micros())
    }

    /// The wall clock anchored at `now`, when the wall time was `unix_micros` (read by the
    /// adapter).
    pub fn wall(&self, now: Instant, unix_micros: i64) -> WallClock {
        WallClock::new(self.core(now), unix_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_and_host_instants_round_trip() {
        let origin = Instant::now();
        let c = Clock::new(origin);
        assert_eq!(
            c.core(origin + Duration::from_millis(1500)).as_micros(),
            1_500_000
        );
        assert_eq!(c.core(origin).as_micros(), 0);
        assert_eq!(
            c.host(CoreInstant::from_micros(2_000)),
            origin + Duration::from_millis(2)
        );
        let w = c.wall(origin + Duration::from_secs(1), 1_795_483_833_000_000);
        assert_eq!(
            w,
            WallClock::new(CoreInstant::from_micros(1_000_000), 1_795_483_833_000_000)
        );
    }
}
