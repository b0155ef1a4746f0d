//! Unnumbered answers kept in order behind the numbered frames stamped before them.
//!
//! With a durable store a numbered frame goes out once its append completed, while an
//! unnumbered one (a `job.subscribed`) would go out at once and overtake it. A subscription
//! to the session's own job then announced its replay before that job's own terminal, and a
//! client could not tell the job's earlier stream from the replay (a truncation notice after
//! the terminal looked like an event after the job's end). Such an answer waits in its
//! session's [`Held`] list until the session's last frame stamped before it is queued on the
//! connection, and goes right after it (`Sessions::hold_after`, `Sessions::released`).

use crate::wire::Frame;

/// Where an answer that must stay behind the session's earlier frames goes.
#[derive(Debug)]
pub(in crate::runtime) enum After {
    /// Everything stamped before it is queued (or nothing waits): send it now.
    Now(Box<Frame>),
    /// Kept until the frame it follows is queued.
    Held,
    /// The session's cap of waiting answers is reached: the connection is a slow consumer
    /// (its client is not reading while the store is slow); nothing kept.
    Full,
}

/// One session's answers waiting, each with the seq of the frame it follows (in order).
#[derive(Debug, Default)]
pub(super) struct Held(Vec<(u64, Box<Frame>)>);

impl Held {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keeps `frame` until the frame with seq `after` is queued.
    pub fn push(&mut self, after: u64, frame: Box<Frame>) {
        self.0.push((after, frame));
    }

    /// Drops every waiting answer (the connection went away); how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.0.len();
        self.0.clear();
        n
    }

    /// The answers waiting for `seq` or an earlier seq, in order.
    pub fn release(&mut self, seq: u64) -> Vec<(u64, Box<Frame>)> {
        let n = self.0.iter().take_while(|(after, _)| *after <= seq).count();
        self.0.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, Pong, Timestamp};

    fn frame(id: &str) -> Box<Frame> {
        Box::new(Frame::new(
            id.to_owned(),
            Message::Pong(Pong {
                ping_nonce: "n".into(),
                received_at: Timestamp::from_unix_micros(0),
            }),
        ))
    }

    #[test]
    fn releases_in_order_up_to_the_seq() {
        let mut h = Held::default();
        h.push(3, frame("a"));
        h.push(3, frame("b"));
        h.push(5, frame("c"));
        assert!(h.release(2).is_empty());
        let ids: Vec<_> = h.release(4).into_iter().map(|(s, f)| (s, f.id)).collect();
        assert_eq!(ids, vec![(3, "a".to_owned()), (3, "b".to_owned())]);
        assert_eq!(h.len(), 1);
        assert_eq!(h.clear(), 1);
        assert!(h.is_empty());
    }
}
