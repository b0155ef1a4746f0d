//! Idempotent submit (§7.2, [D27]): keys scoped per principal, bounded in number and by a TTL.
//!
//! [D27]: crate::compat#d27--idempotent-resubmit

use crate::time::Instant;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

type Key = (String, String);

#[derive(Debug, Clone)]
pub(in crate::runtime) struct Entry {
    /// Canonical JSON of the whole submit payload.
    pub fingerprint: String,
    pub job_id: String,
    at: Instant,
}

/// Remembered keys. Over `max` the oldest key is forgotten; after `ttl` a key is forgotten.
#[derive(Debug)]
pub(super) struct Idempotency {
    entries: HashMap<Key, Entry>,
    order: VecDeque<(Key, Instant)>,
    max: usize,
    ttl: Duration,
}

impl Idempotency {
    pub fn new(max: usize, ttl: Duration) -> Self {
        Idempotency {
            entries: HashMap::new(),
            order: VecDeque::new(),
            max,
            ttl,
        }
    }

    fn purge(&mut self, now: Instant) {
        while let Some((key, at)) = self.order.front() {
            if *at + self.ttl > now {
                break;
            }
            if self.entries.get(key).is_some_and(|e| e.at == *at) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }

    pub fn get(&mut self, now: Instant, principal: &str, key: &str) -> Option<&Entry> {
        self.purge(now);
        self.entries.get(&(principal.to_owned(), key.to_owned()))
    }

    pub fn insert(
        &mut self,
        now: Instant,
        principal: &str,
        key: &str,
        fingerprint: String,
        job_id: String,
    ) {
        self.purge(now);
        if self.max == 0 {
            return;
        }
        while self.entries.len() >= self.max {
            let Some((k, at)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&k).is_some_and(|e| e.at == at) {
                self.entries.remove(&k);
            }
        }
        let k = (principal.to_owned(), key.to_owned());
        self.order.push_back((k.clone(), now));
        self.entries.insert(
            k,
            Entry {
                fingerprint,
                job_id,
                at: now,
            },
        );
    }

    /// Forgets a key (its submit failed before a job existed).
    pub fn remove(&mut self, principal: &str, key: &str) {
        self.entries.remove(&(principal.to_owned(), key.to_owned()));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_forgets_the_oldest_and_ttl_expires() {
        let mut i = Idempotency::new(2, Duration::from_secs(10));
        let t0 = Instant::from_millis(0);
        i.insert(t0, "alice", "k1", "f1".into(), "job_1".into());
        i.insert(t0, "alice", "k2", "f2".into(), "job_2".into());
        i.insert(t0, "bob", "k1", "f3".into(), "job_3".into());
        assert_eq!(i.len(), 2);
        assert!(i.get(t0, "alice", "k1").is_none());
        assert_eq!(
            i.get(t0, "bob", "k1").map(|e| e.job_id.as_str()),
            Some("job_3")
        );
        assert!(i.get(Instant::from_millis(10_000), "bob", "k1").is_none());
        assert_eq!(i.len(), 0);
    }
}
