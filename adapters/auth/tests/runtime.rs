//! arcp-auth answering the core runtime's `Authenticate` effect: a valid JWT opens a session
//! for its `sub`; a refused one is `session.error UNAUTHENTICATED` without the token, and the
//! runtime counts the failure by reason.

mod support;

use arcp_auth::{Algorithm, Authenticator, JwtAuthenticator, JwtKey, effect_outcome};
use arcp_proto::runtime::{ConnId, Effect, Runtime, RuntimeConfig, RuntimeEvent, TransportKind};
use arcp_proto::time::{Instant, WallClock};
use arcp_proto::wire::{ErrorCode, Frame, Message, SeededEntropy};
use jsonwebtoken::EncodingKey;
use serde_json::json;
use std::collections::BTreeMap;
use support::*;

const SECRET: &[u8] = b"runtime-test-secret-runtime-test!";

fn hello(token: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"arcp":"1.1","id":"01M85JSX0CBPSZZ4SKK7GMCRQB","type":"session.hello","payload":{
        "client":{"name":"t","version":"1"},
        "auth":{"scheme":"bearer","token":token},
        "capabilities":{"encodings":["json"],"features":[]}}}),
    )
    .unwrap()
}

/// Feeds a hello on `conn`, answers Authenticate with `auth`, returns the frames and events.
fn connect(
    rt: &mut Runtime,
    auth: &dyn Authenticator,
    conn: u64,
    token: &str,
) -> (Vec<Frame>, Vec<RuntimeEvent>) {
    let now = Instant::from_millis(1_000);
    let c = ConnId(conn);
    rt.handle_connection_opened(now, c, TransportKind::WebSocket);
    rt.handle_frame(now, c, &hello(token));
    let (mut frames, mut events) = (Vec::new(), Vec::new());
    loop {
        let mut progressed = false;
        while let Some((id, e)) = rt.poll_effect() {
            progressed = true;
            if let Effect::Authenticate { token, .. } = e {
                rt.handle_effect_result(now, id, effect_outcome(auth, &token));
            }
        }
        while let Some((to, f)) = rt.poll_transmit() {
            assert_eq!(to, c);
            frames.push(f);
            progressed = true;
        }
        while let Some(ev) = rt.poll_event() {
            events.push(ev);
            progressed = true;
        }
        if !progressed {
            return (frames, events);
        }
    }
}

#[test]
fn jwt_authenticates_hellos_and_failures_are_counted_by_reason() {
    let now = Instant::from_millis(1_000);
    let mut rt = Runtime::new(
        RuntimeConfig::default(),
        WallClock::new(now, 1_795_483_825_000_000),
        Box::new(SeededEntropy::new(3)),
    );
    let auth = JwtAuthenticator::with_keys(vec![JwtKey::hmac(SECRET)]).with_audience("arcp");
    let key = EncodingKey::from_secret(SECRET);

    let good = sign(Algorithm::HS256, None, &claims("alice"), &key);
    let (frames, events) = connect(&mut rt, &auth, 1, &good);
    assert!(matches!(frames[0].message, Message::Welcome(_)));
    assert!(matches!(
        &events[0],
        RuntimeEvent::SessionOpened { principal, resumed: false, .. } if principal == "alice"
    ));

    let mut c = claims("alice");
    c["exp"] = json!(now_secs() - 3600);
    let expired = sign(Algorithm::HS256, None, &c, &key);
    let (frames, _) = connect(&mut rt, &auth, 2, &expired);
    let Message::Error(e) = &frames[0].message else {
        panic!("expected session.error, got {frames:?}");
    };
    assert_eq!(e.code, ErrorCode::Unauthenticated);
    assert_eq!(e.message, "token has expired");
    let wire = String::from_utf8(frames[0].encode()).unwrap();
    assert!(!wire.contains(&expired));
    for part in expired.split('.') {
        assert!(!wire.contains(part));
    }

    let forged = sign(
        Algorithm::HS256,
        None,
        &claims("mallory"),
        &EncodingKey::from_secret(b"not-the-secret-not-the-secret-!!"),
    );
    connect(&mut rt, &auth, 3, &forged);
    connect(&mut rt, &auth, 4, "not-a-jwt");
    connect(&mut rt, &auth, 5, &expired);

    let m = rt.metrics();
    assert_eq!(m.sessions_opened, 1);
    assert_eq!(
        m.auth_failures,
        BTreeMap::from([
            ("bad_signature".to_owned(), 1),
            ("expired".to_owned(), 2),
            ("malformed".to_owned(), 1),
        ])
    );
}
