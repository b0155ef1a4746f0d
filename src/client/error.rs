//! [`ApiError`]: caller misuse, returned from commands. Never caused by peer data.

use super::event::ClientState;
use crate::wire::{Feature, JobId};

/// Why a command was refused. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The session is not open (no welcome yet, or the transport is down).
    #[error("session not open (state {0:?})")]
    NotOpen(ClientState),
    /// The session was closed for good.
    #[error("session closed")]
    Closed,
    /// The command needs a feature outside the negotiated intersection ([D26]).
    ///
    /// [D26]: crate::compat#d26--non-negotiated-features
    #[error("feature '{0}' not negotiated for this session")]
    FeatureNotNegotiated(Feature),
    /// An argument the runtime would refuse (`INVALID_REQUEST`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `unsubscribe` of a job this session does not observe.
    #[error("not subscribed to {0}")]
    NotSubscribed(JobId),
    /// `subscribe` to a job already observed.
    #[error("already subscribed to {0}")]
    AlreadySubscribed(JobId),
    /// Too many requests (or pings) await an answer.
    #[error("too many pending requests (limit {0})")]
    TooManyPending(usize),
    /// Too many subscriptions.
    #[error("too many subscriptions (limit {0})")]
    TooManySubscriptions(usize),
    /// The host has not drained `poll_transmit`.
    #[error("transmit queue full (limit {0})")]
    TransmitQueueFull(usize),
}
