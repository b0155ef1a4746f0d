//! The simulator's clock: one monotonic [`Instant`] and the wall time anchored to it, so the
//! two always move together (the machines' [`WallClock`]s share the anchor).

use crate::time::{Instant, WallClock};

/// Unix time (µs) at the simulator's origin: 2026-11-24T01:30:25Z, the transcripts' epoch.
pub const ORIGIN_UNIX_MICROS: i64 = 1_795_483_825_000_000;

/// A fake clock. Time only moves forward, and only through [`advance_to`](Self::advance_to).
#[derive(Debug, Clone)]
pub struct SimClock {
    origin: Instant,
    now: Instant,
}

impl SimClock {
    /// A clock at `start`, whose wall time is [`ORIGIN_UNIX_MICROS`] there.
    pub fn new(start: Instant) -> Self {
        SimClock {
            origin: start,
            now: start,
        }
    }

    /// The current monotonic time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The wall-clock anchor every machine in the simulation is built with.
    pub fn wall(&self) -> WallClock {
        WallClock::new(self.origin, ORIGIN_UNIX_MICROS)
    }

    /// The current wall time in unix microseconds.
    pub fn unix_micros(&self) -> i64 {
        self.wall().unix_micros_at(self.now)
    }

    /// Moves to `t`; a `t` in the past leaves the clock where it is (time never goes back).
    pub fn advance_to(&mut self, t: Instant) {
        if t > self.now {
            self.now = t;
        }
    }
}
