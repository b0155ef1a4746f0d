//! `arcp serve` with the JWT flags and with `--tls-cert`/`--tls-key`, driven by the client
//! commands.

#[path = "../../adapters/tokio/tests/support/certs.rs"]
mod certs;
#[path = "support/serve.rs"]
mod serve;

use std::process::{Command, Output};

use serve::{ARCP, Served};

/// `arcp ARGS` with the client environment cleared but `ARCP_TOKEN=alice-token` and a
/// state file of the test's.
fn arcp(args: &[&str]) -> Output {
    Command::new(ARCP)
        .args(args)
        .env_remove("ARCP_URL")
        .env("ARCP_TOKEN", "alice-token")
        .env(
            "ARCP_STATE_FILE",
            format!(
                "{}/cli-auth-state-{}.json",
                env!("CARGO_TARGET_TMPDIR"),
                std::process::id()
            ),
        )
        .env_remove("ARCP_CA_FILE")
        .env_remove("ARCP_JWT_SECRET")
        .output()
        .expect("run arcp")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An HS256 JWT for `sub`, valid for ten minutes, with extra claims.
fn hs256(secret: &str, claims: serde_json::Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = claims;
    claims["exp"] = serde_json::json!(now + 600);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

const SECRET: &str = "a test secret of at least thirty-two bytes";

/// `arcp submit --url URL --token TOKEN echo '"x"'`.
fn submit_echo(url: &str, token: &str) -> Output {
    arcp(&["submit", "--url", url, "--token", token, "echo", "\"x\""])
}

#[test]
fn serve_jwt_secret_accepts_a_signed_token_and_refuses_the_rest() {
    let served = Served::start(&["--jwt-secret", SECRET]);
    let good = hs256(SECRET, serde_json::json!({"sub": "carol"}));
    let out = submit_echo(&served.url, &good);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("result: \"x\"\n"),
        "{}",
        text(&out.stdout)
    );

    // Signed with another secret.
    let forged = hs256(
        "another secret, also thirty-two bytes long",
        serde_json::json!({"sub": "carol"}),
    );
    let out = submit_echo(&served.url, &forged);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: token signature is invalid\n"
    );
    // With a JWT flag the demo tokens are gone, even with --demo.
    let out = submit_echo(&served.url, "alice-token");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: malformed token\n"
    );
}

#[test]
fn serve_jwt_checks_issuer_audience_and_principal_claim_after_static_tokens() {
    let served = Served::start(&[
        "--jwt-secret",
        SECRET,
        "--jwt-issuer",
        "https://issuer.test",
        "--jwt-audience",
        "arcp",
        "--principal-claim",
        "email",
        "--token",
        "ops-token=ops",
    ]);
    let good = hs256(
        SECRET,
        serde_json::json!({"sub": "x", "email": "dana@example.test", "iss": "https://issuer.test", "aud": "arcp"}),
    );
    let out = arcp(&["jobs", "--url", &served.url, "--token", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The static token is tried first.
    let out = submit_echo(&served.url, "ops-token");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let wrong_aud = hs256(
        SECRET,
        serde_json::json!({"email": "dana@example.test", "iss": "https://issuer.test", "aud": "other"}),
    );
    let out = submit_echo(&served.url, &wrong_aud);
    assert_eq!(out.status.code(), Some(1));
    // FirstOf answers with the JWT verifier's refusal, not the static table's "not mine".
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: token audience is not accepted\n"
    );
    let no_email = hs256(
        SECRET,
        serde_json::json!({"sub": "x", "iss": "https://issuer.test", "aud": "arcp"}),
    );
    let out = submit_echo(&served.url, &no_email);
    assert_eq!(out.status.code(), Some(1));
    // FirstOf answers with the JWT verifier's refusal, not the static table's "not mine".
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: token lacks the string claim \"email\"\n"
    );
}

#[test]
fn serve_jwt_public_key_accepts_an_es256_token() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let public = dir.path().join("issuer-pub.pem");
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let served = Served::start(&["--jwt-public-key", public.to_str().unwrap()]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &serde_json::json!({"sub": "erin", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let out = submit_echo(&served.url, &token);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // An HS256 token "signed" with the public key's text: key confusion, refused.
    let confused = hs256(&key.public_key_pem(), serde_json::json!({"sub": "erin"}));
    let out = submit_echo(&served.url, &confused);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: UNAUTHENTICATED: token algorithm is not accepted\n"
    );
}

#[test]
fn serve_jwt_public_key_that_is_not_a_key_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    std::fs::write(&path, "not a key").unwrap();
    let out = arcp(&[
        "serve",
        "--port",
        "0",
        "--jwt-public-key",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {}: not an RSA, EC or Ed25519 public key in PEM\n",
            path.display()
        )
    );
}

#[test]
fn serve_tls_then_submit_with_and_without_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(dir.path());
    let served = Served::start(&[
        "--tls-cert",
        pki.cert_pem.to_str().unwrap(),
        "--tls-key",
        pki.key_pem.to_str().unwrap(),
    ]);
    assert!(served.url.starts_with("wss://127.0.0.1:"), "{}", served.url);
    let ca = pki.ca_pem.to_str().unwrap();
    let out = arcp(&[
        "submit",
        "--url",
        &served.url,
        "--ca-file",
        ca,
        "echo",
        "[1]",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("result: [1]\n"),
        "{}",
        text(&out.stdout)
    );
    let out = arcp(&["jobs", "--url", &served.url, "--ca-file", ca]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = arcp(&["submit", "--url", &served.url, "echo", "[1]"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: cannot connect to {}: IO error: invalid peer certificate: UnknownIssuer \
(the runtime's certificate is not signed by a CA this client trusts: pass that CA with \
--ca-file)\n",
            served.url
        )
    );
}
