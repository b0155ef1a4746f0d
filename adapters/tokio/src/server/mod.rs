//! The runtime side: WebSocket and stdio servers driving [`arcp_proto::runtime::Runtime`].
