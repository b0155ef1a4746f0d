//! `wss://`: a server with a certificate from a private CA generated at test time, and
//! clients that do and do not trust that CA.

#[path = "support/certs.rs"]
mod certs;

use arcp_proto::client::JobOutcome;
use arcp_tokio::client::{Client, ClientError, ResultValue, SubmitRequest};
use arcp_tokio::server::{Server, ServerError};
use serde_json::json;
use std::time::Duration;

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what} timed out"))
}

#[tokio::test]
async fn a_job_completes_over_wss_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(dir.path());
    let (url, handle) = Server::builder()
        .demo()
        .tls(&pki.cert_pem, &pki.key_pem)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let port = handle.local_addr().unwrap().port();
    assert_eq!(url, format!("wss://127.0.0.1:{port}/arcp"));

    // Trusted through a CA file.
    let client = within(
        "connect",
        Client::builder(&url)
            .token("alice-token")
            .ca_file(&pki.ca_pem)
            .connect(),
    )
    .await
    .unwrap();
    let handle_job = within(
        "submit",
        client.submit(SubmitRequest::new("echo", json!({"over": "tls"}))),
    )
    .await
    .unwrap();
    match within("done", handle_job.done())
        .await
        .unwrap()
        .into_outcome()
    {
        JobOutcome::Success { result, .. } => {
            assert_eq!(result, ResultValue::Inline(json!({"over": "tls"})))
        }
        other => panic!("expected success, got {other:?}"),
    }
    within("close", client.close()).await.unwrap();

    // Trusted through a root given programmatically (DER).
    let client = within(
        "connect (der root)",
        Client::builder(&url)
            .token("bob-token")
            .root_certificate_der(pki.ca_der.clone())
            .connect(),
    )
    .await
    .unwrap();
    assert!(client.session_id().starts_with("sess_"));
    within("close", client.close()).await.unwrap();
    within("shutdown", handle.shutdown()).await;
}

#[tokio::test]
async fn a_client_without_the_ca_refuses_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(dir.path());
    let (url, handle) = Server::builder()
        .demo()
        .tls(&pki.cert_pem, &pki.key_pem)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let err = within(
        "connect",
        Client::builder(&url).token("alice-token").connect(),
    )
    .await
    .unwrap_err();
    let ClientError::Transport { message: msg, .. } = err else {
        panic!("expected a transport error, got {err:?}");
    };
    assert!(
        msg.starts_with(&format!("cannot connect to {url}: ")),
        "{msg}"
    );
    assert!(
        msg.ends_with("invalid peer certificate: UnknownIssuer"),
        "{msg}"
    );
    within("shutdown", handle.shutdown()).await;
}

#[tokio::test]
async fn a_plain_client_gets_no_session_from_a_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(dir.path());
    let (url, handle) = Server::builder()
        .demo()
        .tls(&pki.cert_pem, &pki.key_pem)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let plain = url.replacen("wss://", "ws://", 1);
    let err = within(
        "connect",
        Client::builder(&plain).token("alice-token").connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ClientError::Transport { message: _, .. }),
        "{err:?}"
    );
    within("shutdown", handle.shutdown()).await;
}

#[tokio::test]
async fn bad_certificate_files_fail_bind() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let err = Server::builder()
        .demo()
        .tls(&missing, &missing)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap_err();
    let ServerError::Tls(msg) = err else {
        panic!("expected a TLS error, got {err:?}");
    };
    assert!(
        msg.starts_with(&format!("cannot read {}: ", missing.display())),
        "{msg}"
    );
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = Server::builder()
        .demo()
        .tls(&empty, &empty)
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("tls: no certificate in {}", empty.display())
    );
}

#[tokio::test]
async fn an_unreadable_ca_file_fails_connect() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("ca.pem");
    let url = "wss://127.0.0.1:9/arcp";
    let err = Client::builder(url)
        .token("alice-token")
        .ca_file(&missing)
        .connect()
        .await
        .unwrap_err();
    let ClientError::Transport { message: msg, .. } = err else {
        panic!("expected a transport error, got {err:?}");
    };
    assert!(
        msg.starts_with(&format!(
            "cannot connect to {url}: cannot read {}: ",
            missing.display()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn a_silent_tcp_connection_is_dropped_after_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(dir.path());
    let (_, handle) = Server::builder()
        .demo()
        .tls(&pki.cert_pem, &pki.key_pem)
        .handshake_timeout(Duration::from_millis(200))
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap();
    let mut tcp = tokio::net::TcpStream::connect(handle.local_addr().unwrap())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    // No ClientHello: the server closes without writing anything.
    let n = within("eof", tcp.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    within("shutdown", handle.shutdown()).await;
}
