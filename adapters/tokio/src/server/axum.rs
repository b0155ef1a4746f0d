//! Mounting a runtime on an existing axum app (cargo feature `axum`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use arcp_tokio::server::Server;
//! let (arcp, handle) = arcp_tokio::server::axum::route(Server::builder().tokens([("s3cret", "alice")]), "/arcp").await?;
//! let app = axum::Router::new()
//!     .route("/health", axum::routing::get(|| async { "ok" }))
//!     .merge(arcp);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! **How the WebSocket is made.** axum's own `WebSocketUpgrade` sits on a different
//! tungstenite version than this crate (tokio-tungstenite 0.30), so it is not used and nothing
//! is bridged. Instead the route's handler answers the upgrade request itself: it checks
//! `Connection: upgrade`, `Upgrade: websocket` and `Sec-WebSocket-Version: 13`, then replies
//! `101 Switching Protocols` with the `Sec-WebSocket-Accept` derived from the key. It takes the
//! connection with **`hyper::upgrade::on`** and runs **tokio-tungstenite 0.30 on the upgraded
//! IO** (`WebSocketStream::from_raw_socket`). From there a connection is served exactly as
//! by [`ServerBuilder::bind_ws`](super::ServerBuilder::bind_ws): the same frame cap in the
//! WebSocket config ([D35]), the same connection loop, the same close codes. A request
//! on the route that is not a WebSocket upgrade gets `400 Bad Request`; an upgrade from a
//! browser origin other than the app's own (`http://HOST`, `https://` with
//! [`behind_tls_proxy`](super::ServerBuilder::behind_tls_proxy)) or one given with
//! [`allow_origin`](super::ServerBuilder::allow_origin) gets `403 Forbidden`. Once the
//! handle's [`drain`](ServerHandle::drain) started, every upgrade gets `503 Service
//! Unavailable` (the app answers its own health route).
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::driver::Input;
use super::http::has_token;
use super::{ServerBuilder, ServerError, ServerHandle, ws};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

#[derive(Clone)]
struct RouteState {
    opts: Arc<ws::WsOptions>,
    tx: mpsc::Sender<Input>,
}

/// Starts the runtime `builder` describes and returns an axum [`Router`] serving it at `path`
/// (merge or nest it into your app), and the handle to shut the runtime down. The handle's
/// [`local_addr`](ServerHandle::local_addr) is `None`: the app owns the listener.
pub async fn route(
    builder: ServerBuilder,
    path: &str,
) -> Result<(Router, ServerHandle), ServerError> {
    // The app owns the listener: credentials only when the operator vouches for it.
    let carries_credentials = builder.opts.behind_tls_proxy;
    let builder_secure = builder.opts.behind_tls_proxy;
    let allowed_origins = builder.allowed_origins.clone();
    let running = builder.start().await?;
    let draining = Arc::new(AtomicBool::new(false));
    let opts = Arc::new(ws::WsOptions {
        path: path.to_owned(),
        max_frame_bytes: running.max_frame_bytes,
        handshake_timeout: running.handshake_timeout,
        outbound_capacity: running.outbound_capacity,
        conn_ids: Arc::new(AtomicU64::new(1)),
        tls: None,
        carries_credentials,
        origins: super::http::OriginPolicy::new(builder_secure, &allowed_origins),
        draining: draining.clone(),
        http: None,
    });
    let state = RouteState {
        opts,
        tx: running.tx.clone(),
    };
    let router = Router::new().route(path, get(upgrade)).with_state(state);
    let (stop, _) = watch::channel(false);
    Ok((
        router,
        ServerHandle {
            local_addr: None,
            shutdown: running.shutdown,
            metrics: running.metrics,
            stop,
            accept: None,
            metrics_addr: None,
            metrics_task: None,
            driver: running.driver,
            draining,
        },
    ))
}

async fn upgrade(State(st): State<RouteState>, mut req: Request) -> Response {
    let headers = req.headers();
    if st.opts.draining.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, super::http::DRAINING).into_response();
    }
    if !st.opts.origins.allows(headers) {
        return (StatusCode::FORBIDDEN, super::http::FORBIDDEN).into_response();
    }
    let is_upgrade = has_token(headers, header::CONNECTION, "upgrade")
        && has_token(headers, header::UPGRADE, "websocket")
        && headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v.as_bytes() == b"13");
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|_| is_upgrade);
    let Some(accept) =
        key.and_then(|k| HeaderValue::from_str(&derive_accept_key(k.as_bytes())).ok())
    else {
        return (StatusCode::BAD_REQUEST, "expected a WebSocket upgrade").into_response();
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(Ok(upgraded)) = tokio::time::timeout(st.opts.handshake_timeout, on_upgrade).await
        else {
            return;
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let ws = WebSocketStream::from_raw_socket(
            io,
            Role::Server,
            Some(ws::ws_config(st.opts.max_frame_bytes)),
        )
        .await;
        ws::session(ws, &st.opts, st.tx).await;
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    resp
}
