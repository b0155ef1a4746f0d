//! [`SystemClock`]: the operating system's clocks as the core sees them, for the adapters
//! (the core, arcp-host and the agents read no clock themselves).

use arcp_proto::time::{Instant, WallClock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The host's monotonic clock as the core's [`Instant`] (microseconds since the origin), and
/// the wall-clock anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl SystemClock {
    /// A clock whose core time 0 is now.
    pub fn new() -> Self {
        SystemClock {
            origin: std::time::Instant::now(),
        }
    }

    /// The core's now.
    pub fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// The std instant of the core's deadline `at`.
    pub fn deadline(&self, at: Instant) -> std::time::Instant {
        self.origin + Duration::from_micros(at.as_micros())
    }

    /// How long from now until `at` (zero when passed).
    pub fn until(&self, at: Instant) -> Duration {
        self.deadline(at)
            .saturating_duration_since(std::time::Instant::now())
    }

    /// Anchors `now` to the system's wall clock (read once).
    pub fn wall(&self, now: Instant) -> WallClock {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        WallClock::new(now, micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_instants_map_to_std_deadlines() {
        let c = SystemClock::new();
        assert_eq!(
            c.deadline(Instant::from_micros(2_000)),
            c.origin + Duration::from_millis(2)
        );
        let wall = c.wall(Instant::from_micros(0));
        assert!(wall.unix_millis_at(Instant::from_micros(1_000)) > 1_600_000_000_000);
    }
}
