//! The HTTP front of `bind_ws`: the `Origin` check on WebSocket upgrades (with and without
//! the dashboard), the dashboard page with its security headers, `/metrics` on the same port
//! and on its own listener.

#[path = "support/certs.rs"]
mod certs;
mod server_support;

use arcp_tokio::server::{Server, ServerBuilder, ServerHandle};
use server_support::Peer;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' \
ws://127.0.0.1:PORT; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
form-action 'none'";

async fn serve(b: ServerBuilder) -> (String, ServerHandle) {
    b.demo()
        .allow_origin("https://dash.example")
        .bind_ws("127.0.0.1:0", "/arcp")
        .await
        .unwrap()
}

/// Upgrades with `origin` (none: no header): `Ok(())` once welcomed, `Err(status)` refused.
async fn upgrade(url: &str, origin: Option<&str>) -> Result<(), u16> {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(o).unwrap());
    }
    match connect_async(req).await {
        Ok((ws, _)) => {
            let mut peer = Peer {
                ws,
                session_id: None,
            };
            peer.hello("alice-token").await;
            Ok(())
        }
        Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected {e}"),
    }
}

/// A blocking GET of `url`: status, a header's value, the body.
async fn get(url: String, header: &'static str) -> (u16, Option<String>, String) {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut resp = agent.get(&url).call().expect("GET");
        let h = resp
            .headers()
            .get(header)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.body_mut().read_to_string().expect("body");
        (resp.status().as_u16(), h, body)
    })
    .await
    .unwrap()
}

/// GETs `url` until its body has the line `until` (the snapshot is published within 5 ms of
/// a change; bounded at 10 s).
async fn scrape(url: String, until: &str) -> (u16, Option<String>, String) {
    for _ in 0..1000 {
        let r = get(url.clone(), "content-type").await;
        if r.2.lines().any(|l| l == until) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    get(url, "content-type").await
}

async fn origins_are_checked(b: ServerBuilder) {
    let (url, handle) = serve(b).await;
    let port = handle.local_addr().unwrap().port();
    let own = format!("http://127.0.0.1:{port}");
    assert_eq!(upgrade(&url, Some("http://evil.example")).await, Err(403));
    assert_eq!(upgrade(&url, Some("null")).await, Err(403));
    // Same host, another port or scheme: another origin.
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    assert_eq!(upgrade(&url, Some(&other_port)).await, Err(403));
    assert_eq!(
        upgrade(&url, Some(&format!("https://127.0.0.1:{port}"))).await,
        Err(403)
    );
    assert_eq!(upgrade(&url, Some(&own)).await, Ok(()));
    assert_eq!(upgrade(&url, Some("https://dash.example")).await, Ok(()));
    assert_eq!(upgrade(&url, None).await, Ok(()));
    // Refused upgrades opened no session (the snapshot is published within 5 ms).
    let opened = || handle.metrics().runtime.sessions_opened;
    for _ in 0..1000 {
        if opened() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(opened(), 3);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_403_without_the_dashboard() {
    origins_are_checked(Server::builder()).await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_403_with_the_dashboard() {
    origins_are_checked(Server::builder().dashboard(true)).await;
}

#[tokio::test]
async fn the_dashboard_is_served_with_a_strict_csp_and_the_websocket_stays_at_its_path() {
    let (url, handle) = serve(Server::builder().dashboard(true)).await;
    let port = handle.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let csp = CSP.replace("PORT", &port.to_string());
    let (status, got, page) = get(format!("{base}/"), "content-security-policy").await;
    assert_eq!((status, got.as_deref()), (200, Some(csp.as_str())));
    let title = page
        .split_once("<title>")
        .and_then(|(_, t)| t.split_once("</title>"))
        .map(|(t, _)| t);
    assert!(title.is_some_and(|t| t.contains("ARCP")), "{page}");
    for (path, ty) in [
        ("/", "text/html; charset=utf-8"),
        ("/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard.css", "text/css; charset=utf-8"),
    ] {
        let (status, got, _) = get(format!("{base}{path}"), "content-type").await;
        assert_eq!((status, got.as_deref()), (200, Some(ty)), "{path}");
        let (_, got, _) = get(format!("{base}{path}"), "x-content-type-options").await;
        assert_eq!(got.as_deref(), Some("nosniff"), "{path}");
        let (_, got, _) = get(format!("{base}{path}"), "cache-control").await;
        assert_eq!(got.as_deref(), Some("no-store"), "{path}");
    }
    let (status, _, _) = get(format!("{base}/metrics"), "content-type").await;
    assert_eq!(status, 404, "no metrics unless asked");
    let (status, _, _) = get(format!("{base}/nothing"), "content-type").await;
    assert_eq!(status, 404);
    // A plain GET of the WebSocket path is not an upgrade.
    let (status, _, _) = get(format!("{base}/arcp"), "content-type").await;
    assert_eq!(status, 404);
    // The WebSocket still works on its path; another path is not served.
    assert_eq!(upgrade(&url, None).await, Ok(()));
    let other = url.replace("/arcp", "/other");
    assert_eq!(upgrade(&other, None).await, Err(404));
    handle.shutdown().await;
}

#[tokio::test]
async fn without_the_dashboard_a_plain_get_gets_no_page() {
    let (url, handle) = serve(Server::builder()).await;
    let base = url.replace("ws://", "http://").replace("/arcp", "/");
    let r = tokio::task::spawn_blocking(move || {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(&base)
            .call()
            .map(|r| r.status().as_u16())
    })
    .await
    .unwrap();
    // tungstenite refuses a non-upgrade request (400) or drops it: never a page.
    assert!(!matches!(r, Ok(200)), "{r:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn metrics_on_the_same_port_and_on_their_own_listener() {
    let (url, handle) = serve(Server::builder().metrics_same_port()).await;
    assert_eq!(handle.metrics_addr(), None);
    assert_eq!(upgrade(&url, None).await, Ok(()));
    let base = url.replace("ws://", "http://").replace("/arcp", "");
    let (status, ty, text) =
        scrape(format!("{base}/metrics"), "arcp_sessions_opened_total 1").await;
    assert_eq!(
        (status, ty.as_deref()),
        (200, Some("text/plain; version=0.0.4; charset=utf-8"))
    );
    assert!(
        text.lines().any(|l| l == "arcp_sessions_opened_total 1"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "arcp_connections_opened_total 1"),
        "{text}"
    );
    let (status, _, _) = get(format!("{base}/"), "content-type").await;
    assert_eq!(status, 404, "no dashboard unless asked");
    handle.shutdown().await;

    let b = Server::builder().metrics("127.0.0.1:0".parse().unwrap());
    let (url, handle) = serve(b).await;
    let at = handle.metrics_addr().expect("a metrics listener");
    assert!(at.ip().is_loopback());
    assert_eq!(upgrade(&url, None).await, Ok(()));
    let (status, _, text) = scrape(
        format!("http://{at}/metrics"),
        "arcp_sessions_opened_total 1",
    )
    .await;
    assert_eq!(status, 200);
    // The peer hung up after its welcome: its session waits for a resume.
    for line in [
        "arcp_sessions{state=\"live\"} 0",
        "arcp_sessions{state=\"resumable\"} 1",
        "arcp_connections_open 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    let (status, _, _) = get(format!("http://{at}/"), "content-type").await;
    assert_eq!(status, 404);
    // The WebSocket port does not serve them.
    let base = url.replace("ws://", "http://").replace("/arcp", "");
    let r = tokio::task::spawn_blocking(move || {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(&format!("{base}/metrics"))
            .call()
            .map(|r| r.status().as_u16())
    })
    .await
    .unwrap();
    assert!(!matches!(r, Ok(200)), "{r:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn a_durable_server_observes_its_store_batches() {
    let dir = tempfile::tempdir().unwrap();
    let b = Server::builder()
        .db(Some(dir.path().join("arcp.db")))
        .metrics_same_port();
    let (url, handle) = serve(b).await;
    assert_eq!(upgrade(&url, None).await, Ok(()));
    let base = url.replace("ws://", "http://").replace("/arcp", "");
    let (_, _, text) = scrape(format!("{base}/metrics"), "arcp_sessions_opened_total 1").await;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} not in\n{text}"))
    };
    // The welcomed session was written before its welcome went out (one batch at least);
    // every observation is in the +Inf bucket.
    let count = value("arcp_store_batch_duration_seconds_count ");
    assert!(count >= 1, "{text}");
    assert_eq!(
        value("arcp_store_batch_duration_seconds_bucket{le=\"+Inf\"} "),
        count
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn over_tls_the_front_upgrades_and_the_own_origin_is_https() {
    use std::sync::Arc;
    use tokio_tungstenite::Connector;
    let dir = tempfile::tempdir().unwrap();
    let pki = certs::generate(dir.path());
    let (url, handle) = serve(
        Server::builder()
            .tls(&pki.cert_pem, &pki.key_pem)
            .dashboard(true),
    )
    .await;
    let port = handle.local_addr().unwrap().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone().into()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = Connector::Rustls(Arc::new(config));
    let upgrade_tls = |origin: String| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(&origin).unwrap());
        tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector.clone()))
    };
    match upgrade_tls(format!("http://127.0.0.1:{port}")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let (ws, _) = upgrade_tls(format!("https://127.0.0.1:{port}"))
        .await
        .expect("the own https origin upgrades");
    let mut peer = Peer {
        ws,
        session_id: None,
    };
    peer.hello("alice-token").await;
    handle.shutdown().await;
}

#[tokio::test]
async fn with_the_dashboard_a_silent_connection_is_dropped_at_the_handshake_timeout() {
    use tokio::io::AsyncReadExt;
    let b = Server::builder()
        .dashboard(true)
        .handshake_timeout(std::time::Duration::from_millis(200));
    let (_, handle) = serve(b).await;
    let mut tcp = tokio::net::TcpStream::connect(handle.local_addr().unwrap())
        .await
        .unwrap();
    // Half a request, then nothing: the server hangs up without an answer.
    use tokio::io::AsyncWriteExt;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut buf),
    )
    .await
    .expect("dropped within 10 s");
    assert_eq!((read.ok(), buf.len()), (Some(0), 0));
    handle.shutdown().await;
}

#[tokio::test]
async fn a_session_is_resumable_until_its_window_ends_then_no_longer_counted() {
    let b = Server::builder().resume_window(std::time::Duration::from_secs(1));
    let (url, handle) = serve(b).await;
    // Welcomed, then the connection is dropped: resumable for 1 s.
    assert_eq!(upgrade(&url, None).await, Ok(()));
    let gauges = || {
        let m = handle.metrics();
        (m.sessions_live, m.sessions_resumable)
    };
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let g = gauges();
        if seen.last() != Some(&g) {
            seen.push(g);
        }
        if g == (0, 0) && seen.contains(&(0, 1)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The expired record is kept a while longer (its grace), but is not resumable.
    assert_eq!(seen.last(), Some(&(0, 0)), "{seen:?}");
    assert!(seen.contains(&(0, 1)), "{seen:?}");
    handle.shutdown().await;
}
