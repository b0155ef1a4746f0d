//! The client side: WebSocket and stdio clients driving [`arcp_proto::client::ClientSession`].
