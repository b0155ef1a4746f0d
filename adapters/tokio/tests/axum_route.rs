//! `arcp_tokio::server::axum::route` (feature `axum`): a runtime mounted on an axum app next to
//! the app's own route serves a client; a plain GET on the route is `400`.
#![cfg(feature = "axum")]

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ResultValue, SubmitRequest};
use arcp_tokio::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_runtime_mounted_on_an_axum_app_serves_clients() {
    let (arcp, handle) = arcp_tokio::server::axum::route(Server::builder().demo(), "/arcp")
        .await
        .expect("start runtime");
    assert_eq!(handle.local_addr(), None);
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .merge(arcp);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::connect(format!("ws://{addr}/arcp"), "alice-token")
        .await
        .expect("connect");
    let job = client
        .submit(SubmitRequest::new(
            "echo",
            serde_json::json!({"via": "axum"}),
        ))
        .await
        .expect("submit");
    match job.done().await.expect("done").into_outcome() {
        JobOutcome::Success {
            result: ResultValue::Inline(v),
            ..
        } => assert_eq!(v, serde_json::json!({"via": "axum"})),
        other => panic!("unexpected outcome {other:?}"),
    }
    client.close().await.expect("close");

    // The app's own route still works, and a plain GET on the ARCP route is refused.
    for (path, status) in [("/health", "200"), ("/arcp", "400")] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.expect("write");
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).await.expect("read");
        assert!(
            resp.starts_with(&format!("HTTP/1.1 {status} ")),
            "{path}: {resp}"
        );
    }
    handle.shutdown().await;
    server.abort();
}
