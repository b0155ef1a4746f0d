//! The client API conformance suite (arcp-interop's, written once) against arcp-tokio's
//! client and an in-process arcp-tokio server; and the event loop that cancels its own job,
//! written out (it must compile with the public types).

use arcp_interop::BlockOn;
use arcp_interop::conformance::{AsyncConformance, run_all};
use arcp_tokio::client::{Client, JobStatus, SubmitRequest, TokioLink};
use arcp_tokio::server::Server;
use futures_util::StreamExt;
use std::future::Future;
use std::time::Duration;

struct TokioBlock(tokio::runtime::Handle);

impl BlockOn for TokioBlock {
    fn block_on<F>(&self, limit: Duration, f: F) -> Option<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        self.0
            .block_on(async move { tokio::time::timeout(limit, f).await })
            .ok()
    }
}

#[test]
fn the_client_api_conforms() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (url, server) = rt
        .block_on(Server::builder().demo().bind_ws("127.0.0.1:0", "/arcp"))
        .expect("bind");
    run_all(
        &AsyncConformance::<TokioLink, _>::new(TokioBlock(rt.handle().clone())),
        &url,
    );
    rt.block_on(server.shutdown());
}

#[tokio::test]
async fn a_job_is_cancelled_from_inside_its_event_loop() {
    let (url, server) = Server::builder()
        .demo()
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .expect("bind");
    let client = Client::connect(&url, "alice-token").await.unwrap();
    let job = client
        .submit(SubmitRequest::new(
            "slow",
            serde_json::json!({"seconds": 30, "tick": 0.05}),
        ))
        .await
        .unwrap();
    let mut events = job.events();
    let mut n = 0;
    while let Some(_event) = events.next().await {
        if n == 0 {
            job.cancel().await.unwrap();
        }
        n += 1;
    }
    drop(events);
    assert_eq!(job.done().await.unwrap().status(), JobStatus::Cancelled);
    client.close().await.unwrap();
    server.shutdown().await;
}
