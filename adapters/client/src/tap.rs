//! The frame tap: a callback that sees every frame in both directions.

use std::sync::Arc;

/// What the frame tap sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapEvent<'a> {
    /// A frame written to the transport.
    Sent(&'a [u8]),
    /// A frame read from the transport, before the session acts on it.
    Received(&'a [u8]),
    /// The transport ended (why).
    Closed(&'a str),
}

/// A frame tap callback, called on the client's driver: it must return quickly and must
/// not block.
pub type FrameTap = Arc<dyn Fn(TapEvent<'_>) + Send + Sync>;
