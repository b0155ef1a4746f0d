//! The driver's idle spin: after its work, the driver looks for the next input for a short
//! while before it sleeps.
//!
//! On a quiet machine (a virtual one above all) a thread that sleeps in the kernel takes tens
//! of microseconds to run again once woken, and a request→reply round trip pays that on the
//! server's side. While it spins the driver keeps yielding, so the other tasks and the IO
//! driver still run on its worker: a frame read meanwhile reaches it without a sleep and a
//! wake-up in between. Spinning ends at the first input or once the window is over; it costs at most the window's CPU per idle transition, and nothing under
//! a steady load (the next input is already there). The driver does not spin while a store
//! batch is out: the store thread then needs the CPU.

use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long [`crate::server::ServerBuilder`]'s driver spins for its next input by default.
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(100);

/// The next value on `rx` if one comes within `window` (yielding between looks); `None` when
/// the window is over or every sender is gone. A zero window looks once.
pub(crate) async fn spin_recv<T>(rx: &mut mpsc::Receiver<T>, window: Duration) -> Option<T> {
    let until = Instant::now().checked_add(window);
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if until.is_none_or(|u| Instant::now() >= u) {
            return None;
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_queued_value_is_taken_at_once() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(7u32).await.unwrap();
        assert_eq!(spin_recv(&mut rx, Duration::ZERO).await, Some(7));
    }

    #[tokio::test]
    async fn nothing_within_the_window_is_none_and_leaves_later_values() {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        assert_eq!(spin_recv(&mut rx, Duration::ZERO).await, None);
        assert_eq!(spin_recv(&mut rx, Duration::from_micros(50)).await, None);
        tx.send(3).await.unwrap();
        assert_eq!(rx.recv().await, Some(3));
    }

    #[tokio::test]
    async fn a_closed_queue_ends_the_spin() {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        drop(tx);
        assert_eq!(spin_recv(&mut rx, Duration::from_secs(3600)).await, None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_value_sent_by_another_task_while_spinning_is_taken() {
        let (tx, mut rx) = mpsc::channel(4);
        // Runs only once the spinner yields (one thread): the spin must let it run.
        tokio::spawn(async move { tx.send(11u32).await.unwrap() });
        assert_eq!(
            spin_recv(&mut rx, Duration::from_secs(3600)).await,
            Some(11)
        );
    }
}
