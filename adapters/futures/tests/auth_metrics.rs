//! A custom `arcp_auth::Authenticator` on the futures server (accept and refuse, exact
//! `session.error`), and `ServerHandle::metrics` after a scripted exchange: every counter
//! matches what the clients received, byte for byte (on smol's executor).

use arcp_auth::{AuthError, AuthFailure, Authenticator, Principal};
use arcp_futures::client::{Client, ClientError, FrameTap, SubmitRequest, TapEvent};
use arcp_futures::server::{BoxFuture, Server, ServerMetrics};
use arcp_proto::client::JobOutcome;
use arcp_proto::wire::ErrorCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn spawn(f: BoxFuture<'static, ()>) {
    smol::spawn(f).detach();
}

struct OnlyCarol;

impl Authenticator for OnlyCarol {
    fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        match token {
            "carol-token" => Ok(Principal("carol".into())),
            _ => Err(AuthError::new(AuthFailure::Expired)),
        }
    }
}

/// (frames, job.event frames, bytes) received.
type Seen = Arc<Mutex<(u64, u64, u64)>>;

fn tap() -> (FrameTap, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let tap: FrameTap = Arc::new(move |ev: TapEvent<'_>| {
        if let TapEvent::Received(b) = ev {
            let v: Value = serde_json::from_slice(b).unwrap();
            let mut g = s.lock().unwrap();
            g.0 += 1;
            g.1 += u64::from(v["type"] == "job.event");
            g.2 += b.len() as u64;
        }
    });
    (tap, seen)
}

#[test]
fn a_custom_authenticator_accepts_and_refuses_and_metrics_count_the_exchange() {
    smol::block_on(async {
        let (url, handle) = Server::builder(spawn)
            .demo()
            .authenticator(OnlyCarol)
            .heartbeat_interval(Duration::ZERO)
            .bind_ws("127.0.0.1:0", "/arcp")
            .await
            .unwrap();
        assert_eq!(handle.metrics(), ServerMetrics::default());
        let (tap, seen) = tap();
        let carol = Client::builder(&url)
            .token("carol-token")
            .frame_tap(tap.clone())
            .spawner(spawn)
            .connect()
            .await
            .unwrap();
        let h = carol
            .submit(SubmitRequest::new("echo", json!({"x": 1})))
            .await
            .unwrap();
        assert!(matches!(
            h.done().await.unwrap().into_outcome(),
            JobOutcome::Success { .. }
        ));
        let refused = Client::builder(&url)
            .token("alice-token")
            .frame_tap(tap)
            .spawner(spawn)
            .connect()
            .await;
        assert_eq!(
            refused.err(),
            Some(ClientError::Refused {
                code: ErrorCode::Unauthenticated,
                message: "token has expired".into(),
                retryable: false
            })
        );
        let (frames, events, bytes) = *seen.lock().unwrap();
        let mut m = handle.metrics();
        for _ in 0..100 {
            if m.runtime.frames_out == frames && m.runtime.jobs_succeeded == 1 {
                break;
            }
            async_io::Timer::after(Duration::from_millis(20)).await;
            m = handle.metrics();
        }
        assert_eq!(m.runtime.sessions_opened, 1);
        assert_eq!(m.runtime.jobs_succeeded, 1);
        assert_eq!(m.runtime.frames_out, frames);
        assert_eq!(m.runtime.events_out, events);
        assert_eq!(m.bytes_out, bytes);
        assert_eq!(
            m.runtime.auth_failures,
            BTreeMap::from([("expired".to_owned(), 1)])
        );
        carol.close().await.unwrap();
        handle.shutdown().await;
    });
}
