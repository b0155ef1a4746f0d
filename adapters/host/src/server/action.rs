//! What goes in and out of a [`ServerHost`](super::ServerHost) besides its `handle_*` calls:
//! the [`Action`]s it hands back, the writer item [`Outbound`], and [`Input`], the item an
//! adapter's bounded input queue carries from its connection and agent tasks.

use super::agents::{AgentMsg, AgentTask};
use arcp_auth::Authenticator;
use arcp_proto::runtime::{ConnId, EffectId, EffectOutcome, TransportKind};
use arcp_store::cluster::ClusterEvent;
use arcp_store::runtime::Batch;
use bytes::Bytes;
use std::sync::Arc;

/// What the adapter must do, from [`ServerHost::poll_action`](super::ServerHost::poll_action).
///
/// Deliberately exhaustive: an adapter must perform every action, so a new action is a
/// breaking change that every adapter's match has to take up, never one it could drop.
pub enum Action {
    /// Queue one encoded frame on `conn`'s writer, in order, without waiting. When the queue
    /// is full the adapter gives the frame back with
    /// [`handle_writer_full`](super::ServerHost::handle_writer_full) and has the writer send
    /// [`Input::WriterReady`] once it has taken an item; a writer that is gone is reported
    /// with [`handle_writer_lost`](super::ServerHost::handle_writer_lost).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The frame (the core's encoded bytes, shared, never copied).
        bytes: Bytes,
    },
    /// Queue a close with this WebSocket code (stdio: end the session) after the frames
    /// before it; the adapter then forgets the writer (the reader reports the end with
    /// `handle_connection_closed`). A full queue is handled as for [`Action::Transmit`];
    /// during shutdown the close is queued only if there is room.
    Close {
        /// The connection.
        conn: ConnId,
        /// The WebSocket close code.
        code: u16,
    },
    /// Close `conn` at once with `code`, ahead of anything queued (a lost writer, e.g. a
    /// slow consumer: 1008), and forget its writer.
    Kill {
        /// The connection.
        conn: ConnId,
        /// The WebSocket close code.
        code: u16,
    },
    /// Spawn this agent job (a task, a thread) and answer its
    /// [`AgentTask::effect`] with `handle_effect_result`.
    SpawnAgent(AgentTask),
    /// Run `auth` on `token` off the driver (it may block) and feed the answer back with
    /// `handle_effect_result(now, id, effect_outcome(&*auth, &token))`.
    Authenticate {
        /// The effect to answer.
        id: EffectId,
        /// The authenticator.
        auth: Arc<dyn Authenticator>,
        /// The bearer token of the hello.
        token: String,
    },
    /// Run this storage batch (one at a time; the host emits the next only after
    /// [`handle_store_done`](super::ServerHost::handle_store_done)).
    Store(Batch),
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Transmit { conn, bytes } => f
                .debug_struct("Transmit")
                .field("conn", conn)
                .field("len", &bytes.len())
                .finish(),
            Action::Close { conn, code } => f
                .debug_struct("Close")
                .field("conn", conn)
                .field("code", code)
                .finish(),
            Action::Kill { conn, code } => f
                .debug_struct("Kill")
                .field("conn", conn)
                .field("code", code)
                .finish(),
            Action::SpawnAgent(task) => f.debug_tuple("SpawnAgent").field(task).finish(),
            // Never print the token.
            Action::Authenticate { id, .. } => f
                .debug_struct("Authenticate")
                .field("id", id)
                .finish_non_exhaustive(),
            Action::Store(batch) => f.debug_tuple("Store").field(batch).finish(),
        }
    }
}

/// What a connection's writer is asked to do (the adapters' writer queue item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    /// One encoded frame.
    Frame(Bytes),
    /// Close with this WebSocket code (stdio: end the session) after the frames before it.
    Close(u16),
}

/// The item of an adapter's bounded input queue: what its connection tasks, agent tasks and
/// off-driver work send to the driver. [`ServerHost::handle_input`](super::ServerHost::handle_input)
/// feeds one; `P` is the adapter's writer handle for a connection.
#[derive(Debug)]
pub enum Input<P> {
    /// A transport connection opened; `ports` is how the adapter writes to it.
    Opened {
        /// The connection.
        conn: ConnId,
        /// WebSocket or stdio.
        kind: TransportKind,
        /// Provisioned credentials may travel over it (§9.8): stdio, TLS, a loopback
        /// listener, or a listener the operator vouches for (behind a TLS-terminating
        /// proxy). Otherwise its sessions are offered no `provisioned_credentials`.
        carries_credentials: bool,
        /// The adapter's writer handle.
        ports: P,
    },
    /// One complete inbound frame.
    Frame {
        /// The connection.
        conn: ConnId,
        /// The frame's bytes.
        bytes: Vec<u8>,
    },
    /// An inbound frame over the cap that the transport did not buffer ([D35]).
    ///
    /// [D35]: arcp_proto::compat#d35--frame-size
    Oversized {
        /// The connection.
        conn: ConnId,
        /// Its length (at least the cap plus one).
        len: usize,
    },
    /// The connection ended.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// An agent task's call or exit.
    Agent(AgentMsg),
    /// `conn`'s writer took an item after its queue was reported full (the wakeup that ends
    /// a stall, [`ServerHost::handle_writer_ready`](super::ServerHost::handle_writer_ready)).
    WriterReady {
        /// The connection.
        conn: ConnId,
    },
    /// A WebSocket text message that is not UTF-8 (closed 1007, session resumable).
    InvalidText {
        /// The connection.
        conn: ConnId,
    },
    /// Nothing to feed: the adapter wakes its driver to look at its own state (e.g. a
    /// shutdown request).
    Wake,
    /// The result of an effect performed off the driver (an authentication).
    EffectResult {
        /// The effect.
        id: EffectId,
        /// Its outcome.
        outcome: EffectOutcome,
    },
    /// What the cluster's watch reported (forwarded job frames, released sessions, cancels,
    /// a lost node, isolation): [`ServerHost::handle_cluster`](super::ServerHost::handle_cluster).
    Cluster(Vec<ClusterEvent>),
}
