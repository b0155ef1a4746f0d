//! The client API conformance suite (arcp-interop's, written once) against arcp-futures'
//! client and an in-process arcp-futures server on smol; and the event loop that cancels its
//! own job, written out (it must compile with the public types).

use arcp_futures::client::{Client, FuturesLink, JobStatus, SubmitRequest};
use arcp_futures::server::{BoxFuture, Server};
use arcp_interop::BlockOn;
use arcp_interop::conformance::{AsyncConformance, run_all};
use futures_util::{FutureExt, StreamExt, select_biased};
use std::future::Future;
use std::time::Duration;

fn spawn(f: BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

struct SmolBlock;

impl BlockOn for SmolBlock {
    fn block_on<F>(&self, limit: Duration, f: F) -> Option<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        smol::block_on(async move {
            select_biased! {
                r = f.fuse() => Some(r),
                _ = FutureExt::fuse(async_io::Timer::after(limit)) => None,
            }
        })
    }
}

#[test]
fn the_client_api_conforms() {
    let (url, server) = smol::block_on(
        Server::builder(spawn)
            .demo()
            .bind_ws("127.0.0.1:0", "/arcp"),
    )
    .expect("bind");
    run_all(&AsyncConformance::<FuturesLink, _>::new(SmolBlock), &url);
    smol::block_on(server.shutdown());
}

#[test]
fn a_job_is_cancelled_from_inside_its_event_loop() {
    smol::block_on(async {
        let (url, server) = Server::builder(spawn)
            .demo()
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .expect("bind");
        let client = Client::builder(&url)
            .token("alice-token")
            .spawner(spawn)
            .connect()
            .await
            .unwrap();
        let slow = SubmitRequest::new("slow", serde_json::json!({"seconds": 30, "tick": 0.05}));
        let job = client.submit(slow).await.unwrap();
        let mut events = job.events();
        let first = events.next().await.expect("a first event");
        assert_eq!(first.kind(), "status");
        // Cancelled while its stream is open (the stream borrows nothing), then read to
        // its end.
        job.cancel().await.unwrap();
        let rest: Vec<_> = events.by_ref().collect().await;
        assert!(rest.iter().all(|e| e.event_seq > first.event_seq));
        drop(events);
        assert_eq!(job.done().await.unwrap().status(), JobStatus::Cancelled);
        client.close().await.unwrap();
        server.shutdown().await;
    });
}
