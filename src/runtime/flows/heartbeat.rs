//! Heartbeats (§6.4, [D25], [D26]): with `heartbeat` negotiated, the runtime pings every interval
//! regardless of other traffic (spec §6.4), and closes a connection after two silent
//! intervals. Jobs keep running and the session stays resumable.
//!
//! [D25]: crate::compat#d25--heartbeat-loss
//! [D26]: crate::compat#d26--non-negotiated-features

use crate::runtime::Runtime;
use crate::runtime::conns::Heartbeat;
use crate::runtime::effect::{CloseReason, ConnId};
use crate::runtime::event::RuntimeEvent;
use crate::runtime::outbox::TimerKey;
use crate::time::Instant;
use crate::wire::{IdKind, Message, Ping};

impl Runtime {
    pub(in crate::runtime) fn heartbeat_tick(&mut self, now: Instant, conn: ConnId) {
        let interval = self.cfg.heartbeat_interval;
        match self.conns.heartbeat(now, conn, interval) {
            Heartbeat::Skip => return,
            Heartbeat::Lost => {
                self.out.push_event(RuntimeEvent::HeartbeatLost { conn });
                self.close_conn(now, conn, CloseReason::HeartbeatLost);
                return;
            }
            Heartbeat::Ping => {}
        }
        // WIRE.md §8: a ping every interval regardless of other traffic (the reference's
        // peer client expects two pings within 2.5 intervals even while it answers them).
        {
            let nonce = self.mint(now, IdKind::Envelope);
            let ping = Ping {
                nonce,
                // D25: the reference writes `sent_at` with `+00:00`.
                sent_at: self.ids.timestamp_at(now).with_offset_suffix(),
            };
            let f = self.envelope(now, conn, Message::Ping(ping));
            self.transmit(conn, f);
        }
        self.out
            .set_timer(TimerKey::Heartbeat(conn), now + interval);
    }
}
