//! The minimal executor that runs the (async) agent code of [`arcp_agents`] on a thread.
//!
//! [`block_on`] polls one future on the calling thread; its waker unparks that thread. The
//! timer is [`sleep`]: a future that, when polled before its deadline, records the deadline
//! in the executor's thread-local slot, so [`block_on`] parks with `park_timeout` until the
//! earliest recorded deadline (no timer thread). A [`Sleep`] polled outside [`block_on`]
//! still completes, but only when something else wakes its task.

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

thread_local! {
    /// The earliest deadline of a [`Sleep`] polled during the current poll of [`block_on`].
    static NEXT_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread, parking between polls until woken or until the
/// earliest [`sleep`] deadline it is waiting on.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        let outer = NEXT_DEADLINE.with(|d| d.replace(None));
        let polled = fut.as_mut().poll(&mut cx);
        let deadline = NEXT_DEADLINE.with(|d| d.replace(outer));
        if let Poll::Ready(v) = polled {
            return v;
        }
        match deadline {
            Some(at) => {
                let now = Instant::now();
                if at > now {
                    std::thread::park_timeout(at - now);
                }
            }
            None => std::thread::park(),
        }
    }
}

/// This adapter's timer: resolves `d` after it was created.
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + d,
    }
}

/// The future of [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let at = self.deadline;
        NEXT_DEADLINE.with(|d| d.set(Some(d.get().map_or(at, |x| x.min(at)))));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_parks_until_its_deadline() {
        let t0 = Instant::now();
        block_on(sleep(Duration::from_millis(30)));
        let el = t0.elapsed();
        assert!(el >= Duration::from_millis(30), "{el:?}");
        assert!(el < Duration::from_secs(2), "{el:?}");
    }

    #[test]
    fn a_cancel_token_wakes_the_parked_thread() {
        let token = arcp_agents::CancelToken::new();
        let t = token.clone();
        let h = std::thread::spawn(move || block_on(t.cancelled()));
        std::thread::sleep(Duration::from_millis(20));
        token.cancel();
        h.join().unwrap();
        assert!(token.is_cancelled());
    }

    #[test]
    fn the_earliest_of_two_sleeps_wins() {
        let t0 = Instant::now();
        let r = block_on(async {
            let mut a = pin!(sleep(Duration::from_millis(20)));
            let mut b = pin!(sleep(Duration::from_secs(30)));
            std::future::poll_fn(|cx| {
                if a.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(1);
                }
                if b.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(2);
                }
                Poll::Pending
            })
            .await
        });
        assert_eq!(r, 1);
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
