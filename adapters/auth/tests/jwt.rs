//! JWT verification with fixed keys: every algorithm family, every claim check, and the
//! refusals (`alg: none`, key confusion) with their exact reasons and messages.

mod support;

use arcp_auth::{
    Algorithm, AuthFailure, Authenticator, FirstOf, JwtAuthenticator, JwtKey, Principal,
    StaticTokens,
};
use arcp_proto::wire::ErrorCode;
use jsonwebtoken::EncodingKey;
use serde_json::json;
use std::time::Duration;
use support::*;

const SECRET: &[u8] = b"a-test-secret-of-thirty-two-bytes!!";

fn hs() -> JwtAuthenticator {
    JwtAuthenticator::with_keys(vec![JwtKey::hmac(SECRET)])
        .with_issuer("https://issuer.test")
        .with_audience("arcp")
        .with_leeway(Duration::from_secs(5))
}

/// The refusal reason and message, checking the message never holds the token.
fn refuse(a: &impl Authenticator, token: &str) -> (AuthFailure, String) {
    let e = a.authenticate(token).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Unauthenticated);
    assert!(!e.message().contains(token));
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!e.message().contains(part), "message leaks the token");
    }
    let p = e.to_error_payload();
    assert_eq!(p.code, ErrorCode::Unauthenticated);
    assert_eq!(p.message, e.message());
    (e.reason(), e.message().to_owned())
}

#[test]
fn hs256_384_512_valid_tokens_give_the_sub_principal() {
    let a = hs();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let t = sign(
            alg,
            None,
            &claims("alice"),
            &EncodingKey::from_secret(SECRET),
        );
        assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())), "{alg:?}");
    }
}

#[test]
fn invalid_signature_is_refused() {
    let t = sign(
        Algorithm::HS256,
        None,
        &claims("alice"),
        &EncodingKey::from_secret(b"another-secret-another-secret!!!"),
    );
    assert_eq!(
        refuse(&hs(), &t),
        (
            AuthFailure::BadSignature,
            "token signature is invalid".into()
        )
    );
    // A valid token with one payload character changed.
    let good = sign(
        Algorithm::HS256,
        None,
        &claims("alice"),
        &EncodingKey::from_secret(SECRET),
    );
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let forged = claims("mallory");
    parts[1] = b64(forged.to_string().as_bytes());
    let t = parts.join(".");
    assert_eq!(refuse(&hs(), &t).0, AuthFailure::BadSignature);
}

#[test]
fn expired_and_not_yet_valid_respect_the_leeway() {
    let key = EncodingKey::from_secret(SECRET);
    let t0 = now();
    let mut c = claims("alice");
    c["exp"] = json!(t0 - 60);
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(
        refuse(&hs(), &t),
        (AuthFailure::Expired, "token has expired".into())
    );
    // Within the leeway (5 s) an expiry 2 s ago still passes.
    c["exp"] = json!(t0 - 2);
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(hs().authenticate(&t), Ok(Principal("alice".into())));
    // ... and with a leeway of 0 it does not.
    let strict = hs().with_leeway(Duration::ZERO);
    assert_eq!(refuse(&strict, &t).0, AuthFailure::Expired);

    let mut c = claims("alice");
    c["nbf"] = json!(t0 + 120);
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(
        refuse(&hs(), &t),
        (AuthFailure::NotYetValid, "token is not yet valid".into())
    );
    c["nbf"] = json!(t0 + 2);
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(hs().authenticate(&t), Ok(Principal("alice".into())));
}

#[test]
fn missing_exp_is_refused() {
    let mut c = claims("alice");
    c.as_object_mut().unwrap().remove("exp");
    let t = sign(
        Algorithm::HS256,
        None,
        &c,
        &EncodingKey::from_secret(SECRET),
    );
    assert_eq!(refuse(&hs(), &t).0, AuthFailure::MissingClaim);
}

#[test]
fn wrong_issuer_and_wrong_audience_are_refused() {
    let key = EncodingKey::from_secret(SECRET);
    let mut c = claims("alice");
    c["iss"] = json!("https://evil.test");
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(
        refuse(&hs(), &t),
        (
            AuthFailure::WrongIssuer,
            "token issuer is not accepted".into()
        )
    );
    let mut c = claims("alice");
    c.as_object_mut().unwrap().remove("iss");
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(refuse(&hs(), &t).0, AuthFailure::MissingClaim);

    let mut c = claims("alice");
    c["aud"] = json!("someone-else");
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(
        refuse(&hs(), &t),
        (
            AuthFailure::WrongAudience,
            "token audience is not accepted".into()
        )
    );
    // An audience list naming ours passes.
    c["aud"] = json!(["someone-else", "arcp"]);
    let t = sign(Algorithm::HS256, None, &c, &key);
    assert_eq!(hs().authenticate(&t), Ok(Principal("alice".into())));
}

#[test]
fn alg_none_is_refused_in_any_case() {
    let body = b64(claims("alice").to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg":alg,"typ":"JWT"}).to_string().as_bytes());
        for t in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
            assert_eq!(
                refuse(&hs(), &t),
                (
                    AuthFailure::AlgorithmRefused,
                    "token algorithm is not accepted".into()
                )
            );
        }
    }
}

#[test]
fn key_confusion_hs_token_signed_with_the_rsa_public_key_is_refused() {
    let rsa = shared_rsa();
    let a = JwtAuthenticator::with_keys(vec![JwtKey::rsa_pem(rsa.public_pem.as_bytes()).unwrap()]);
    // The classic attack: the public key's PEM bytes as the HMAC secret.
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let t = sign(
            alg,
            None,
            &claims("mallory"),
            &EncodingKey::from_secret(rsa.public_pem.as_bytes()),
        );
        assert_eq!(refuse(&a, &t).0, AuthFailure::AlgorithmRefused);
    }
    // The genuine RS256 token passes.
    let t = sign(Algorithm::RS256, None, &claims("alice"), &rsa.encoding);
    assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())));
}

#[test]
fn rs256_384_512_verify_and_a_foreign_rsa_key_does_not() {
    let rsa = shared_rsa();
    let a =
        JwtAuthenticator::with_keys(vec![JwtKey::public_pem(rsa.public_pem.as_bytes()).unwrap()])
            .with_audience("arcp");
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
        let t = sign(alg, None, &claims("alice"), &rsa.encoding);
        assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())), "{alg:?}");
    }
    let other = rsa_key();
    let t = sign(Algorithm::RS256, None, &claims("alice"), &other.encoding);
    assert_eq!(refuse(&a, &t).0, AuthFailure::BadSignature);
}

#[test]
fn es256_es384_and_eddsa_verify() {
    let (k256, k384, ked) = (p256_key(), p384_key(), ed_key());
    let a = JwtAuthenticator::with_keys(vec![
        JwtKey::ec_pem(k256.public_pem.as_bytes()).unwrap(),
        JwtKey::public_pem(k384.public_pem.as_bytes()).unwrap(),
        JwtKey::ed_pem(ked.public_pem.as_bytes()).unwrap(),
    ]);
    let t = sign(Algorithm::ES256, None, &claims("p256"), &k256.encoding);
    assert_eq!(a.authenticate(&t), Ok(Principal("p256".into())));
    let t = sign(Algorithm::ES384, None, &claims("p384"), &k384.encoding);
    assert_eq!(a.authenticate(&t), Ok(Principal("p384".into())));
    let t = sign(Algorithm::EdDSA, None, &claims("ed"), &ked.encoding);
    assert_eq!(a.authenticate(&t), Ok(Principal("ed".into())));
    // A token from an unknown EC key.
    let t = sign(Algorithm::ES256, None, &claims("x"), &p256_key().encoding);
    assert_eq!(refuse(&a, &t).0, AuthFailure::BadSignature);
    // EdDSA only: an HS token is refused by algorithm.
    let only_ed =
        JwtAuthenticator::with_keys(vec![JwtKey::ed_pem(ked.public_pem.as_bytes()).unwrap()]);
    let t = sign(
        Algorithm::HS256,
        None,
        &claims("x"),
        &EncodingKey::from_secret(SECRET),
    );
    assert_eq!(refuse(&only_ed, &t).0, AuthFailure::AlgorithmRefused);
}

#[test]
fn principal_claim_is_configurable_and_must_be_a_string() {
    let key = EncodingKey::from_secret(SECRET);
    let mut c = claims("alice");
    c["email"] = json!("alice@example.test");
    c["n"] = json!(7);
    let t = sign(Algorithm::HS256, None, &c, &key);
    let a = hs().with_principal_claim("email");
    assert_eq!(
        a.authenticate(&t),
        Ok(Principal("alice@example.test".into()))
    );
    let e = hs().with_principal_claim("n").authenticate(&t).unwrap_err();
    assert_eq!(e.reason(), AuthFailure::MissingClaim);
    assert_eq!(e.message(), "token lacks the string claim \"n\"");
}

#[test]
fn kid_pins_a_key() {
    let key = EncodingKey::from_secret(SECRET);
    let a = JwtAuthenticator::with_keys(vec![
        JwtKey::hmac(b"other-secret-other-secret-other!").with_kid("k1"),
        JwtKey::hmac(SECRET).with_kid("k2"),
    ]);
    let t = sign(Algorithm::HS256, Some("k2"), &claims("alice"), &key);
    assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())));
    let t = sign(Algorithm::HS256, Some("k1"), &claims("alice"), &key);
    assert_eq!(refuse(&a, &t).0, AuthFailure::BadSignature);
    let t = sign(Algorithm::HS256, Some("k9"), &claims("alice"), &key);
    assert_eq!(
        refuse(&a, &t),
        (
            AuthFailure::UnknownKey,
            "token signing key is unknown".into()
        )
    );
}

#[test]
fn malformed_tokens_are_refused_without_echo() {
    for t in [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "eyJhbGciOiJIUzI1NiJ9.e30",
    ] {
        let e = hs().authenticate(t).unwrap_err();
        let want = if t.is_empty() {
            AuthFailure::Missing
        } else {
            AuthFailure::Malformed
        };
        assert_eq!(e.reason(), want, "{t:?}");
    }
    let secretish = "super-secret-token-value";
    let (r, m) = refuse(&hs(), secretish);
    assert_eq!((r, m.as_str()), (AuthFailure::Malformed, "malformed token"));
}

#[test]
fn static_tokens_map_to_principals() {
    let s = StaticTokens::new()
        .with_token("tok-a", "alice")
        .with_token("tok-b", "bob")
        .with_token("tok-a", "alice2");
    assert_eq!(s.len(), 2);
    assert_eq!(s.authenticate("tok-a"), Ok(Principal("alice2".into())));
    assert_eq!(s.authenticate("tok-b"), Ok(Principal("bob".into())));
    assert_eq!(
        refuse(&s, "tok-c"),
        (AuthFailure::UnknownToken, "invalid bearer token".into())
    );
    assert_eq!(refuse(&s, "tok-").0, AuthFailure::UnknownToken);
    assert_eq!(
        s.authenticate("").unwrap_err().reason(),
        AuthFailure::Missing
    );
    assert_eq!(format!("{s:?}"), "StaticTokens { tokens: 2 }");
}

#[test]
fn first_of_tries_in_order() {
    let a = FirstOf(vec![
        Box::new(StaticTokens::new().with_token("ops-token", "ops")),
        Box::new(hs()),
    ]);
    assert_eq!(a.authenticate("ops-token"), Ok(Principal("ops".into())));
    let t = sign(
        Algorithm::HS256,
        None,
        &claims("alice"),
        &EncodingKey::from_secret(SECRET),
    );
    assert_eq!(a.authenticate(&t), Ok(Principal("alice".into())));
    assert_eq!(
        a.authenticate("nope").unwrap_err().reason(),
        AuthFailure::UnknownToken
    );
    // A JWT the verifier refuses is reported as such, not as an unknown static token.
    let mut late = claims("alice");
    late["exp"] = serde_json::json!(1_000_000);
    let expired = sign(
        Algorithm::HS256,
        None,
        &late,
        &EncodingKey::from_secret(SECRET),
    );
    let e = a.authenticate(&expired).unwrap_err();
    assert_eq!(e.reason(), AuthFailure::Expired);
    assert_eq!(e.message(), "token has expired");
    // Every authenticator saying "not mine": the first of them.
    let b = FirstOf(vec![Box::new(hs()), Box::new(StaticTokens::new())]);
    assert_eq!(
        b.authenticate("nope").unwrap_err().reason(),
        AuthFailure::Malformed
    );
}
