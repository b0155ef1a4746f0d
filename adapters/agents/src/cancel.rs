//! [`CancelToken`]: the cancellation signal an adapter fires on `Effect::CancelAgent` (and on
//! shutdown), observed by agents through [`crate::JobContext::cancelled`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct Inner {
    cancelled: bool,
    next_waiter: u64,
    /// One entry per live, pending [`Cancelled`] future (replaced on re-poll, removed on
    /// drop), so this never outgrows the number of futures waiting.
    waiters: Vec<(u64, Waker)>,
}

/// A cloneable, one-shot cancellation signal. Every clone observes the same signal.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Mutex<Inner>>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic while holding this lock cannot leave `Inner` inconsistent; carry on.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Fires the signal and wakes every waiter. Idempotent.
    pub fn cancel(&self) {
        let waiters = {
            let mut g = lock(&self.inner);
            g.cancelled = true;
            std::mem::take(&mut g.waiters)
        };
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// `true` once [`CancelToken::cancel`] was called on any clone.
    pub fn is_cancelled(&self) -> bool {
        lock(&self.inner).cancelled
    }

    /// Resolves once the token is cancelled.
    pub fn cancelled(&self) -> Cancelled {
        Cancelled {
            inner: self.inner.clone(),
            id: None,
        }
    }

    /// Live pending waiters (for tests and diagnostics).
    pub fn waiters(&self) -> usize {
        lock(&self.inner).waiters.len()
    }
}

/// The future of [`CancelToken::cancelled`].
#[derive(Debug)]
pub struct Cancelled {
    inner: Arc<Mutex<Inner>>,
    id: Option<u64>,
}

impl Future for Cancelled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner.clone();
        let mut g = lock(&inner);
        if g.cancelled {
            return Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = g.next_waiter;
                g.next_waiter = g.next_waiter.wrapping_add(1);
                self.id = Some(id);
                id
            }
        };
        match g.waiters.iter_mut().find(|(i, _)| *i == id) {
            Some((_, w)) => w.clone_from(cx.waker()),
            None => g.waiters.push((id, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.inner).waiters.retain(|(i, _)| *i != id);
        }
    }
}
