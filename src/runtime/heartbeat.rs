//! Heartbeats (§6.4, D25, D26): with `heartbeat` negotiated, the runtime pings a connection
//! it has heard nothing from for an interval, and closes it after two silent intervals. Jobs
//! keep running and the session stays resumable.

use super::effect::{CloseReason, ConnId};
use super::event::RuntimeEvent;
use super::handshake::Phase;
use super::{Runtime, TimerKey};
use crate::time::Instant;
use crate::wire::{IdKind, Message, Ping};

impl Runtime {
    pub(super) fn heartbeat_tick(&mut self, now: Instant, conn: ConnId) {
        let interval = self.cfg.heartbeat_interval;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if !matches!(c.phase, Phase::Open(_)) {
            return;
        }
        let silent = now.saturating_duration_since(c.last_rx);
        if silent >= interval * 2 {
            self.push_event(RuntimeEvent::HeartbeatLost { conn });
            self.close_conn(now, conn, CloseReason::HeartbeatLost);
            return;
        }
        if silent >= interval {
            let nonce = self.mint(now, IdKind::Envelope);
            let ping = Ping {
                nonce,
                // D25: the reference writes `sent_at` with `+00:00`.
                sent_at: self.wall.timestamp_at(now).with_offset_suffix(),
            };
            let f = self.envelope(now, conn, Message::Ping(ping));
            self.transmit(conn, f);
        }
        self.timers.set(TimerKey::Heartbeat(conn), now + interval);
    }
}
