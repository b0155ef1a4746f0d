//! Ids and wall time: the wall-clock anchor and the host's entropy, from which every envelope,
//! session, job and result id, every resume token and every timestamp is derived.

use crate::time::{Instant, WallClock};
use crate::wire::{Entropy, IdKind, IdMinter, SecondText, Timestamp};
use std::cell::Cell;

/// Mints ids from host entropy and reads wall time from the anchor. Never reads a clock.
pub(super) struct Minter {
    wall: WallClock,
    entropy: Box<dyn Entropy + Send>,
    ids: IdMinter,
    /// The last whole second a timestamp was rendered in (reused within it).
    second: Cell<SecondText>,
}

impl Minter {
    pub fn new(wall: WallClock, entropy: Box<dyn Entropy + Send>) -> Self {
        Minter {
            wall,
            entropy,
            ids: IdMinter::new(),
            second: Cell::new(SecondText::default()),
        }
    }

    /// A fresh id of `kind`, its timestamp part taken from the wall time at `now`.
    pub fn mint(&mut self, now: Instant, kind: IdKind) -> String {
        let ms = self.wall.unix_millis_at(now);
        self.ids.mint(kind, ms, &mut *self.entropy)
    }

    /// Wall time at `now`.
    pub fn timestamp_at(&self, now: Instant) -> Timestamp {
        Timestamp::from_unix_micros_in(self.wall.unix_micros_at(now), &self.second)
    }

    /// The instant at which the wall clock reads `t`.
    pub fn instant_at(&self, t: &Timestamp) -> Instant {
        self.wall.instant_at(t)
    }

    /// Moves the wall-clock anchor.
    pub fn reanchor(&mut self, wall: WallClock) {
        self.wall = wall;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SeededEntropy;

    #[test]
    fn wall_time_follows_the_anchor() {
        let t0 = Instant::from_millis(1_000);
        let mut m = Minter::new(
            WallClock::new(t0, 1_795_483_825_000_000),
            Box::new(SeededEntropy::new(1)),
        );
        let later = Instant::from_millis(3_500);
        assert_eq!(
            m.timestamp_at(later).as_str(),
            "2026-11-24T01:30:27.500000Z"
        );
        assert_eq!(m.instant_at(&m.timestamp_at(later)), later);
        let a = m.mint(later, IdKind::Envelope);
        let b = m.mint(later, IdKind::Envelope);
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        m.reanchor(WallClock::new(t0, 1_795_483_825_000_000 + 1_000_000));
        assert_eq!(
            m.timestamp_at(later).as_str(),
            "2026-11-24T01:30:28.500000Z"
        );
    }
}
