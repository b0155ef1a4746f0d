//! JWKS: keys served by a local HTTP server on 127.0.0.1, cached, rotated, and refreshes on
//! unknown `kid`s rate-limited (the server counts every fetch).

mod support;

use arcp_auth::{Algorithm, AuthFailure, Authenticator, JwksSource, JwtAuthenticator, Principal};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::*;

/// A clock the test steps by hand.
fn manual_clock() -> (Arc<AtomicU64>, impl Fn() -> Instant + Send + Sync + 'static) {
    let base = Instant::now();
    let secs = Arc::new(AtomicU64::new(0));
    let s = secs.clone();
    (secs, move || {
        base + Duration::from_secs(s.load(Ordering::SeqCst))
    })
}

#[test]
fn keys_are_fetched_once_and_cached_for_the_ttl() {
    let (ked, k256) = (ed_key(), p256_key());
    let server = JwksServer::start(jwks(&[("ed-1", &ked.jwk), ("ec-1", &k256.jwk)]));
    let (clock, f) = manual_clock();
    let a = JwtAuthenticator::jwks(
        JwksSource::new(server.url.clone())
            .with_ttl(Duration::from_secs(300))
            .with_clock(f),
    )
    .with_audience("arcp");
    assert_eq!(
        server.hits(),
        0,
        "nothing is fetched before the first token"
    );
    let t1 = sign(
        Algorithm::EdDSA,
        Some("ed-1"),
        &claims("alice"),
        &ked.encoding,
    );
    let t2 = sign(
        Algorithm::ES256,
        Some("ec-1"),
        &claims("bob"),
        &k256.encoding,
    );
    for _ in 0..3 {
        assert_eq!(a.authenticate(&t1), Ok(Principal("alice".into())));
        assert_eq!(a.authenticate(&t2), Ok(Principal("bob".into())));
    }
    assert_eq!(server.hits(), 1);
    clock.store(299, Ordering::SeqCst);
    assert_eq!(a.authenticate(&t1), Ok(Principal("alice".into())));
    assert_eq!(server.hits(), 1);
    // Past the TTL the document is fetched again.
    clock.store(300, Ordering::SeqCst);
    assert_eq!(a.authenticate(&t1), Ok(Principal("alice".into())));
    assert_eq!(server.hits(), 2);
    assert_eq!(a.jwks_source().unwrap().fetch_count(), 2);
}

#[test]
fn rotation_new_kid_triggers_a_refresh_and_the_old_key_stops_working() {
    let rsa = shared_rsa();
    let ked = ed_key();
    let server = JwksServer::start(jwks(&[("rsa-1", &rsa.jwk)]));
    let (clock, f) = manual_clock();
    let a = JwtAuthenticator::jwks(
        JwksSource::new(server.url.clone())
            .with_ttl(Duration::from_secs(3600))
            .with_min_refresh_interval(Duration::from_secs(30))
            .with_clock(f),
    );
    let old = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &claims("alice"),
        &rsa.encoding,
    );
    assert_eq!(a.authenticate(&old), Ok(Principal("alice".into())));
    assert_eq!(server.hits(), 1);
    // The issuer rotates to a new key; tokens signed with it name the new kid.
    server.set(jwks(&[("ed-2", &ked.jwk)]));
    clock.store(31, Ordering::SeqCst);
    let new = sign(
        Algorithm::EdDSA,
        Some("ed-2"),
        &claims("bob"),
        &ked.encoding,
    );
    assert_eq!(a.authenticate(&new), Ok(Principal("bob".into())));
    assert_eq!(server.hits(), 2);
    // The retired key is gone from the cache; a refresh for it is rate-limited.
    let e = a.authenticate(&old).unwrap_err();
    assert_eq!(e.reason(), AuthFailure::UnknownKey);
    assert_eq!(e.message(), "token signing key is unknown");
    assert_eq!(server.hits(), 2);
}

#[test]
fn unknown_kid_refreshes_are_rate_limited() {
    let ked = ed_key();
    let server = JwksServer::start(jwks(&[("ed-1", &ked.jwk)]));
    let (clock, f) = manual_clock();
    let a = JwtAuthenticator::jwks(
        JwksSource::new(server.url.clone())
            .with_ttl(Duration::from_secs(3600))
            .with_min_refresh_interval(Duration::from_secs(30))
            .with_clock(f),
    );
    let good = sign(
        Algorithm::EdDSA,
        Some("ed-1"),
        &claims("alice"),
        &ked.encoding,
    );
    assert_eq!(a.authenticate(&good), Ok(Principal("alice".into())));
    assert_eq!(server.hits(), 1);
    // 100 tokens with made-up kids within the interval: no fetch at all.
    for i in 0..100 {
        let t = sign(
            Algorithm::EdDSA,
            Some(&format!("bogus-{i}")),
            &claims("x"),
            &ked.encoding,
        );
        assert_eq!(
            a.authenticate(&t).unwrap_err().reason(),
            AuthFailure::UnknownKey
        );
    }
    assert_eq!(server.hits(), 1);
    // After the interval, one refresh for the next burst, then none again.
    clock.store(30, Ordering::SeqCst);
    for i in 0..100 {
        let t = sign(
            Algorithm::EdDSA,
            Some(&format!("bogus-b{i}")),
            &claims("x"),
            &ked.encoding,
        );
        assert_eq!(
            a.authenticate(&t).unwrap_err().reason(),
            AuthFailure::UnknownKey
        );
    }
    assert_eq!(server.hits(), 2);
    // Good tokens were never affected.
    assert_eq!(a.authenticate(&good), Ok(Principal("alice".into())));
    assert_eq!(server.hits(), 2);
}

#[test]
fn symmetric_keys_in_a_jwks_are_ignored_and_alg_is_pinned() {
    let ked = ed_key();
    let oct = serde_json::json!({"kty":"oct","k":b64(b"shared-secret-shared-secret-1234")});
    let server = JwksServer::start(jwks(&[("hs", &oct), ("ed", &ked.jwk)]));
    let a = JwtAuthenticator::jwks(
        JwksSource::new(server.url.clone()).with_min_refresh_interval(Duration::from_secs(60)),
    );
    let t = sign(
        Algorithm::HS256,
        Some("hs"),
        &claims("mallory"),
        &jsonwebtoken::EncodingKey::from_secret(b"shared-secret-shared-secret-1234"),
    );
    assert_eq!(
        a.authenticate(&t).unwrap_err().reason(),
        AuthFailure::UnknownKey
    );
    // Key confusion against a JWKS key: an HS token under the Ed25519 key's kid.
    let t = sign(
        Algorithm::HS256,
        Some("ed"),
        &claims("mallory"),
        &jsonwebtoken::EncodingKey::from_secret(ked.public_pem.as_bytes()),
    );
    assert_eq!(
        a.authenticate(&t).unwrap_err().reason(),
        AuthFailure::UnknownKey
    );
    let t = sign(
        Algorithm::EdDSA,
        Some("ed"),
        &claims("alice"),
        &ked.encoding,
    );
    assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())));
    assert_eq!(server.hits(), 1);
}

#[test]
fn an_unreachable_issuer_is_key_source_and_a_retry_waits_for_the_interval() {
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (clock, f) = manual_clock();
    let src = JwksSource::new(format!("http://127.0.0.1:{port}/jwks"))
        .with_min_refresh_interval(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(2))
        .with_clock(f);
    let a = JwtAuthenticator::jwks(src);
    let ked = ed_key();
    let t = sign(
        Algorithm::EdDSA,
        Some("ed"),
        &claims("alice"),
        &ked.encoding,
    );
    let e = a.authenticate(&t).unwrap_err();
    assert_eq!(e.reason(), AuthFailure::KeySource);
    assert_eq!(e.message(), "signing keys are unavailable");
    assert_eq!(a.jwks_source().unwrap().fetch_count(), 1);
    a.authenticate(&t).unwrap_err();
    assert_eq!(a.jwks_source().unwrap().fetch_count(), 1);
    clock.store(10, Ordering::SeqCst);
    a.authenticate(&t).unwrap_err();
    assert_eq!(a.jwks_source().unwrap().fetch_count(), 2);
}

#[test]
fn at_most_max_jwks_keys_are_kept() {
    assert_eq!(arcp_auth::MAX_JWKS_KEYS, 64);
    let keys: Vec<TestKey> = (0..65).map(|_| ed_key()).collect();
    let kids: Vec<String> = (0..65).map(|i| format!("k{i}")).collect();
    let entries: Vec<(&str, &serde_json::Value)> = kids
        .iter()
        .zip(&keys)
        .map(|(k, t)| (k.as_str(), &t.jwk))
        .collect();
    let server = JwksServer::start(jwks(&entries));
    let a = JwtAuthenticator::jwks(
        JwksSource::new(server.url.clone()).with_min_refresh_interval(Duration::from_secs(60)),
    );
    let t = sign(
        Algorithm::EdDSA,
        Some("k63"),
        &claims("k63"),
        &keys[63].encoding,
    );
    assert_eq!(a.authenticate(&t), Ok(Principal("k63".into())));
    let t = sign(
        Algorithm::EdDSA,
        Some("k64"),
        &claims("k64"),
        &keys[64].encoding,
    );
    assert_eq!(
        a.authenticate(&t).unwrap_err().reason(),
        AuthFailure::UnknownKey
    );
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_document_over_max_jwks_bytes_is_a_key_source_failure() {
    assert_eq!(arcp_auth::MAX_JWKS_BYTES, 1 << 20);
    let ked = ed_key();
    let doc = jwks(&[("ed", &ked.jwk)]);
    // The same document padded past 1 MiB with whitespace is refused unread.
    let padded = format!("{doc}{}", " ".repeat((1 << 20) + 1 - doc.len()));
    let server = JwksServer::start(padded);
    let a = JwtAuthenticator::jwks(JwksSource::new(server.url.clone()));
    let t = sign(
        Algorithm::EdDSA,
        Some("ed"),
        &claims("alice"),
        &ked.encoding,
    );
    assert_eq!(
        a.authenticate(&t).unwrap_err().reason(),
        AuthFailure::KeySource
    );
    // Exactly at the cap it is accepted.
    let fits = format!("{doc}{}", " ".repeat((1 << 20) - doc.len()));
    let server = JwksServer::start(fits);
    let a = JwtAuthenticator::jwks(JwksSource::new(server.url.clone()));
    assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())));
}
