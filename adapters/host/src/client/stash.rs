//! Job events waiting for room in their bounded per-job queue.
//!
//! Each job handle reads a bounded queue. When one is full, its events (and every later
//! event, to keep the arrival order) wait here; the stash is bounded too, and while it holds
//! `max` items the adapter stops reading the transport (back-pressure) but keeps serving
//! commands. Events of a handle that was dropped are discarded.

use std::collections::VecDeque;

/// Why a bounded queue refused an item (the item comes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrySend<T> {
    /// The queue is full.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// The sending half of an adapter's bounded queue (tokio `mpsc`, `async_channel`, …).
pub trait BoundedSender<T> {
    /// Queues `item` now or gives it back.
    fn try_send(&self, item: T) -> Result<(), TrySend<T>>;
}

/// Items waiting for room in their queue, in arrival order, at most `max` of them.
#[derive(Debug)]
pub struct EventStash<S, T> {
    items: VecDeque<(S, T)>,
    max: usize,
}

impl<S: BoundedSender<T>, T> EventStash<S, T> {
    /// A stash of at most `max` items (at least 1).
    pub fn new(max: usize) -> Self {
        EventStash {
            items: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `true` while the transport may be read (fewer than `max` items wait).
    pub fn can_read(&self) -> bool {
        self.items.len() < self.max
    }

    /// Queues `item` for `to` behind whatever already waits, then delivers what fits.
    pub fn push(&mut self, to: S, item: T) {
        self.items.push_back((to, item));
        self.deliver();
    }

    /// Moves waiting items into their queues until one is full; items whose receiver is
    /// gone are discarded. Returns how many were delivered.
    pub fn deliver(&mut self) -> usize {
        let mut n = 0;
        while let Some((to, item)) = self.items.pop_front() {
            match to.try_send(item) {
                Ok(()) => n += 1,
                Err(TrySend::Closed(_)) => {}
                Err(TrySend::Full(item)) => {
                    self.items.push_front((to, item));
                    break;
                }
            }
        }
        n
    }

    /// The item the adapter waits room for (its queue was full).
    pub fn front(&self) -> Option<&(S, T)> {
        self.items.front()
    }

    /// Removes the front item (the adapter sent it itself once its queue had room).
    pub fn pop_front(&mut self) -> Option<(S, T)> {
        self.items.pop_front()
    }

    /// Keeps only the items `keep` accepts (e.g. drops a job's events on unsubscribe).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.items.retain(|(_, t)| keep(t));
    }

    /// Discards everything.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A queue of `cap` items; `closed` drops everything.
    #[derive(Clone)]
    struct Q {
        items: Rc<RefCell<Vec<u32>>>,
        cap: usize,
        closed: bool,
    }

    impl Q {
        fn new(cap: usize) -> Self {
            Q {
                items: Rc::default(),
                cap,
                closed: false,
            }
        }
    }

    impl BoundedSender<u32> for Q {
        fn try_send(&self, item: u32) -> Result<(), TrySend<u32>> {
            if self.closed {
                return Err(TrySend::Closed(item));
            }
            let mut v = self.items.borrow_mut();
            if v.len() >= self.cap {
                return Err(TrySend::Full(item));
            }
            v.push(item);
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_holds_back_every_later_item_and_the_bound_stops_reading() {
        let a = Q::new(2);
        let b = Q::new(10);
        let mut s = EventStash::new(2);
        s.push(a.clone(), 1);
        s.push(a.clone(), 2);
        s.push(a.clone(), 3);
        assert_eq!(*a.items.borrow(), vec![1, 2]);
        assert_eq!(s.len(), 1);
        assert!(s.can_read());
        // Arrival order: b's item waits behind a's.
        s.push(b.clone(), 4);
        assert_eq!(*b.items.borrow(), Vec::<u32>::new());
        assert_eq!(s.len(), 2);
        assert!(!s.can_read());
        assert_eq!(s.front().map(|(_, i)| *i), Some(3));
        // Room in a: everything flows.
        a.items.borrow_mut().clear();
        assert_eq!(s.deliver(), 2);
        assert_eq!(*a.items.borrow(), vec![3]);
        assert_eq!(*b.items.borrow(), vec![4]);
        assert!(s.is_empty());
    }

    #[test]
    fn items_of_a_closed_queue_are_discarded_and_retain_filters() {
        let mut gone = Q::new(1);
        gone.closed = true;
        let full = Q::new(0);
        let mut s = EventStash::new(0);
        assert_eq!(s.max(), 1);
        s.push(gone, 1);
        assert!(s.is_empty());
        s.push(full.clone(), 2);
        s.push(full, 3);
        s.retain(|i| *i != 2);
        assert_eq!(s.pop_front().map(|(_, i)| i), Some(3));
        assert!(s.pop_front().is_none());
    }
}
