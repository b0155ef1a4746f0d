//! An ordered deadline index: set, cancel and pop deadlines in `O(log n)`, never a scan.

use crate::time::Instant;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

/// Deadlines keyed by `K`; at most one deadline per key.
#[derive(Debug, Clone)]
pub struct Timers<K: Ord + Hash + Clone> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> Default for Timers<K> {
    fn default() -> Self {
        Timers {
            by_time: BTreeSet::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Timers<K> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or moves) `key`'s deadline to `at`.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.by_time.remove(&(old, key.clone()));
        }
        self.by_time.insert((at, key));
    }

    /// Removes `key`'s deadline; returns it when there was one.
    pub fn cancel(&mut self, key: &K) -> Option<Instant> {
        let at = self.by_key.remove(key)?;
        self.by_time.remove(&(at, key.clone()));
        Some(at)
    }

    /// `key`'s deadline.
    pub fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns one key whose deadline is `<= now`, earliest first.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, K)> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (at, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some((at, key))
    }

    /// Number of pending deadlines.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// `true` when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_moves_keys() {
        let mut t = Timers::new();
        t.set("a", Instant::from_micros(30));
        t.set("b", Instant::from_micros(10));
        t.set("c", Instant::from_micros(20));
        t.set("a", Instant::from_micros(5));
        assert_eq!(t.cancel(&"c"), Some(Instant::from_micros(20)));
        assert_eq!(t.next_deadline(), Some(Instant::from_micros(5)));
        assert_eq!(t.pop_expired(Instant::from_micros(4)), None);
        assert_eq!(
            t.pop_expired(Instant::from_micros(50)),
            Some((Instant::from_micros(5), "a"))
        );
        assert_eq!(
            t.pop_expired(Instant::from_micros(50)),
            Some((Instant::from_micros(10), "b"))
        );
        assert_eq!(t.pop_expired(Instant::from_micros(50)), None);
        assert!(t.is_empty());
    }
}
