//! The fake link between one client and the runtime: per-direction latency, connection
//! drops (everything in flight is lost, as with a broken TCP/WebSocket connection),
//! reconnects under a fresh [`ConnId`], and duplicate delivery of sequenced frames.

use crate::runtime::ConnId;
use crate::time::Instant;
use std::collections::VecDeque;
use std::time::Duration;

/// Bytes in flight and when they arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Delivery time.
    pub at: Instant,
    /// The frame as sent.
    pub bytes: Vec<u8>,
    /// The frame is the runtime's `RESUME_WINDOW_EXPIRED` refusal (known when it was sent,
    /// so the receiver need not decode the bytes a second time to tell).
    pub expired_refusal: bool,
}

/// One client's transport. Frames keep their order in each direction.
#[derive(Debug)]
pub struct Link {
    /// The runtime-side id of the current connection.
    pub conn: ConnId,
    /// A connection is established.
    pub up: bool,
    /// One-way delay.
    pub latency: Duration,
    /// The next sequenced frame to the client is delivered twice.
    pub duplicate_next: bool,
    /// The client closed the transport: frames already sent still reach the runtime, then
    /// the connection ends; nothing more reaches the client.
    pub closing: bool,
    /// The runtime's host closes the connection: frames already sent still reach the client,
    /// then the connection ends; nothing more reaches the runtime.
    pub closing_by_runtime: bool,
    to_runtime: VecDeque<Packet>,
    to_client: VecDeque<Packet>,
}

impl Link {
    /// A link that is down, with `latency`.
    pub fn new(conn: ConnId, latency: Duration) -> Self {
        Link {
            conn,
            up: false,
            latency,
            duplicate_next: false,
            closing: false,
            closing_by_runtime: false,
            to_runtime: VecDeque::new(),
            to_client: VecDeque::new(),
        }
    }

    fn arrival(queue: &VecDeque<Packet>, now: Instant, latency: Duration) -> Instant {
        let at = now + latency;
        // FIFO: a frame never overtakes one sent earlier on the same connection.
        match queue.back() {
            Some(p) if p.at > at => p.at,
            _ => at,
        }
    }

    /// Sends client → runtime (dropped when the link is down).
    pub fn send_to_runtime(&mut self, now: Instant, bytes: Vec<u8>) {
        if !self.up || self.closing || self.closing_by_runtime {
            return;
        }
        let at = Self::arrival(&self.to_runtime, now, self.latency);
        self.to_runtime.push_back(Packet {
            at,
            bytes,
            expired_refusal: false,
        });
    }

    /// Sends runtime → client; a sequenced frame may be duplicated (`duplicate_next`).
    /// Returns `true` when it was.
    pub fn send_to_client(&mut self, now: Instant, bytes: Vec<u8>, sequenced: bool) -> bool {
        self.send_marked_to_client(now, bytes, sequenced, false)
    }

    /// [`send_to_client`](Self::send_to_client) of a frame marked as the runtime's
    /// `RESUME_WINDOW_EXPIRED` refusal or not (see [`Packet::expired_refusal`]).
    pub fn send_marked_to_client(
        &mut self,
        now: Instant,
        bytes: Vec<u8>,
        sequenced: bool,
        expired_refusal: bool,
    ) -> bool {
        if !self.up || self.closing || self.closing_by_runtime {
            return false;
        }
        let at = Self::arrival(&self.to_client, now, self.latency);
        let packet = |bytes| Packet {
            at,
            bytes,
            expired_refusal,
        };
        if sequenced && self.duplicate_next {
            self.duplicate_next = false;
            self.to_client.push_back(packet(bytes.clone()));
            self.to_client.push_back(packet(bytes));
            return true;
        }
        self.to_client.push_back(packet(bytes));
        false
    }

    /// The earliest delivery in either direction.
    pub fn next_delivery(&self) -> Option<Instant> {
        [self.to_runtime.front(), self.to_client.front()]
            .into_iter()
            .flatten()
            .map(|p| p.at)
            .min()
    }

    /// A closing link has delivered everything to the runtime.
    pub fn drained_closing(&self) -> bool {
        self.up && self.closing && self.to_runtime.is_empty()
    }

    /// A runtime-side close has delivered everything to the client.
    pub fn drained_runtime_close(&self) -> bool {
        self.up && self.closing_by_runtime && self.to_client.is_empty()
    }

    /// Begins a runtime-side close: pending frames to the runtime are lost.
    pub fn close_from_runtime(&mut self) {
        if self.up {
            self.closing_by_runtime = true;
            self.to_runtime.clear();
        }
    }

    /// Begins a client-side close: pending frames to the client are lost.
    pub fn close_from_client(&mut self) {
        if self.up {
            self.closing = true;
            self.to_client.clear();
        }
    }

    /// Frames in flight in both directions.
    pub fn in_flight(&self) -> usize {
        self.to_runtime.len() + self.to_client.len()
    }

    /// The next frame due for the runtime at `now`.
    pub fn pop_to_runtime(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.to_runtime.front().is_some_and(|p| p.at <= now) {
            return self.to_runtime.pop_front().map(|p| p.bytes);
        }
        None
    }

    /// The next frame due for the client at `now`.
    pub fn pop_to_client(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.pop_packet_to_client(now).map(|p| p.bytes)
    }

    /// The next packet due for the client at `now`, with its mark.
    pub fn pop_packet_to_client(&mut self, now: Instant) -> Option<Packet> {
        if self.to_client.front().is_some_and(|p| p.at <= now) {
            return self.to_client.pop_front();
        }
        None
    }

    /// The connection breaks: everything in flight is lost.
    pub fn cut(&mut self) {
        self.up = false;
        self.closing = false;
        self.closing_by_runtime = false;
        self.duplicate_next = false;
        self.to_runtime.clear();
        self.to_client.clear();
    }

    /// A new connection under `conn`.
    pub fn open(&mut self, conn: ConnId) {
        self.cut();
        self.conn = conn;
        self.up = true;
    }
}
