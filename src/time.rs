//! Time as the core sees it: a host-supplied monotonic [`Instant`] and a wall-clock anchor.
//!
//! The core never reads a clock. Hosts convert their own monotonic clock into [`Instant`]
//! (microseconds since any origin they choose, e.g. adapter start) and hand the core a
//! [`WallClock`] anchor pairing one `Instant` with the wall time at that moment; the core
//! derives `sent_at`, `accepted_at`, ULID timestamps and lease expiry from it.

use crate::wire::Timestamp;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the host's monotonic clock, in microseconds since an origin the host chose.
///
/// Deterministic simulation and fuzzing build these from plain integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Pairs a monotonic [`Instant`] with the wall time (Unix microseconds) at that instant.
///
/// Adapters re-anchor it (e.g. after a wall-clock step) with [`WallClock::reanchor`]; between
/// anchors wall time advances with the monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    at: Instant,
    unix_micros: i64,
}

impl WallClock {
    /// An anchor: at `at` the wall clock read `unix_micros`.
    pub fn new(at: Instant, unix_micros: i64) -> Self {
        WallClock { at, unix_micros }
    }

    /// Moves the anchor.
    pub fn reanchor(&mut self, at: Instant, unix_micros: i64) {
        *self = WallClock::new(at, unix_micros);
    }

    /// Wall time at `now`, in Unix microseconds.
    pub fn unix_micros_at(&self, now: Instant) -> i64 {
        let delta =
            i64::try_from(now.0).unwrap_or(i64::MAX) - i64::try_from(self.at.0).unwrap_or(i64::MAX);
        self.unix_micros.saturating_add(delta)
    }

    /// Wall time at `now`, in Unix milliseconds (for ULIDs).
    pub fn unix_millis_at(&self, now: Instant) -> u64 {
        u64::try_from(self.unix_micros_at(now).div_euclid(1000)).unwrap_or(0)
    }

    /// Wall time at `now` as a canonical timestamp.
    pub fn timestamp_at(&self, now: Instant) -> Timestamp {
        Timestamp::from_unix_micros(self.unix_micros_at(now))
    }

    /// The monotonic instant at which the wall clock will read `t` (the anchor itself if `t` is
    /// before it).
    pub fn instant_at(&self, t: &Timestamp) -> Instant {
        let delta = t.unix_micros().saturating_sub(self.unix_micros);
        if delta <= 0 {
            Instant(self.at.0.saturating_sub(delta.unsigned_abs()))
        } else {
            Instant(self.at.0.saturating_add(delta.unsigned_abs()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_follows_the_monotonic_clock() {
        let w = WallClock::new(Instant::from_millis(1000), 1_795_483_836_909_290);
        let later = Instant::from_millis(1500);
        assert_eq!(w.unix_micros_at(later), 1_795_483_837_409_290);
        assert_eq!(
            w.timestamp_at(later).as_str(),
            "2026-11-24T01:30:37.409290Z"
        );
        assert_eq!(w.unix_millis_at(later), 1_795_483_837_409);
        let t = Timestamp::parse("2026-11-24T01:30:38.909290Z").unwrap();
        assert_eq!(w.instant_at(&t), Instant::from_millis(3000));
        let past = Timestamp::parse("2026-11-24T01:30:36.409290Z").unwrap();
        assert_eq!(w.instant_at(&past), Instant::from_millis(500));
    }

    #[test]
    fn instant_arithmetic_saturates() {
        let a = Instant::from_micros(5);
        assert_eq!(a - Instant::from_micros(9), Duration::ZERO);
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
        assert_eq!(a + Duration::from_millis(1), Instant::from_micros(1005));
    }
}
