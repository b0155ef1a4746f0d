//! The HTTP front of [`ServerBuilder::bind_ws`](super::ServerBuilder::bind_ws): the
//! dashboard page and `/metrics` on the WebSocket's own port, and the `Origin` check every
//! WebSocket upgrade goes through.
//!
//! **How.** tungstenite's handshake answers only WebSocket upgrades: it refuses any other
//! request before its callback runs, and the callback may not answer with a success. So when
//! the port also serves plain HTTP (the dashboard, same-port metrics, or `/healthz`), each
//! connection is served by **hyper** (HTTP/1.1, one request per connection): an upgrade on the served path
//! is answered `101 Switching Protocols` and the connection taken with
//! `hyper::upgrade::on`, then run by tokio-tungstenite on the upgraded IO
//! (`WebSocketStream::from_raw_socket`) exactly like a connection upgraded by tungstenite (the
//! same frame cap, [D35], the same session loop and close codes); a `GET` of `/`,
//! `/dashboard.js`, `/dashboard.css` or `/metrics` is answered with the embedded file or the
//! metrics, and `GET /healthz` with `200 ok` (`503 draining` once the server drains, when
//! every upgrade is refused `503` too); anything else gets 404 (an upgrade on another path
//! too), a method other than `GET`/`HEAD` 405. The whole exchange is bounded by
//! `handshake_timeout`. Without the dashboard, same-port metrics and `/healthz`, connections
//! go straight to tungstenite as before.
//!
//! **Browser safety.** A WebSocket upgrade that carries an `Origin` header is accepted only
//! when that origin is the server's own — the scheme (`http`, or `https` with TLS or
//! [`behind_tls_proxy`](super::ServerBuilder::behind_tls_proxy)) and the request's `Host` — or
//! one given with [`allow_origin`](super::ServerBuilder::allow_origin); otherwise the answer is
//! `403 Forbidden` and no WebSocket is opened. Requests without `Origin` (non-browser
//! clients) are not affected. Every HTTP answer carries a strict `Content-Security-Policy`
//! (nothing but the page's own script, style and WebSocket), `X-Content-Type-Options:
//! nosniff`, `Cache-Control: no-store`, `Referrer-Policy: no-referrer` and
//! `X-Frame-Options: DENY`.
//!
//! [D35]: arcp_proto::compat#d35--frame-size

use super::driver::Input;
use super::metrics::Exporter;
use super::ws;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The dashboard page (the WebSocket path in its `arcp-ws-path` meta is filled in).
const INDEX_HTML: &str = include_str!("dashboard/index.html");
/// The dashboard's script.
const DASHBOARD_JS: &str = include_str!("dashboard/dashboard.js");
/// The dashboard's style sheet.
const DASHBOARD_CSS: &str = include_str!("dashboard/dashboard.css");

/// The page's default WebSocket path meta, replaced by the served path.
const WS_PATH_META: &str = r#"<meta name="arcp-ws-path" content="/arcp">"#;

/// What the HTTP front serves besides the WebSocket upgrade.
#[derive(Debug)]
pub(crate) struct HttpFront {
    /// The dashboard page for this server's WebSocket path (`None`: no dashboard).
    pub(crate) index: Option<String>,
    /// `/metrics` on this port.
    pub(crate) metrics: Option<Arc<Exporter>>,
}

/// The dashboard page with `ws_path` in its `arcp-ws-path` meta (HTML-escaped).
pub(crate) fn dashboard_index(ws_path: &str) -> String {
    let mut escaped = String::with_capacity(ws_path.len());
    for c in ws_path.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    let meta = format!(r#"<meta name="arcp-ws-path" content="{escaped}">"#);
    INDEX_HTML.replacen(WS_PATH_META, &meta, 1)
}

/// Which browser origins may open the WebSocket (see the module docs).
#[derive(Debug, Clone, Default)]
pub(crate) struct OriginPolicy {
    /// The server's own origin is `https://HOST` (TLS, or behind a TLS proxy).
    pub(crate) secure: bool,
    /// The `--allow-origin` list, normalised.
    pub(crate) allowed: Vec<String>,
}

impl OriginPolicy {
    /// The policy for a server (`secure`: its own origin is `https`) and the extra origins.
    pub(crate) fn new(secure: bool, allowed: &[String]) -> Self {
        OriginPolicy {
            secure,
            allowed: allowed.iter().map(|o| normalise(o)).collect(),
        }
    }

    /// Whether an upgrade with these headers may proceed: no `Origin`, the own origin, or an
    /// allowed one.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        let mut origins = headers.get_all(header::ORIGIN).iter();
        let Some(origin) = origins.next() else {
            return true;
        };
        // Two Origin headers: no browser sends that.
        if origins.next().is_some() {
            return false;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalise(origin);
        if self.allowed.contains(&origin) {
            return true;
        }
        match own_host(headers) {
            Some(host) => normalise(&format!("{}://{host}", self.http_scheme())) == origin,
            None => false,
        }
    }

    fn http_scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }

    fn ws_scheme(&self) -> &'static str {
        if self.secure { "wss" } else { "ws" }
    }
}

/// The request's `Host`, when it is one plain `host[:port]` (letters, digits, `.`, `-`, `:`,
/// brackets): anything else is never the own origin, nor written into a header.
fn own_host(headers: &HeaderMap) -> Option<&str> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next()?.to_str().ok()?;
    let plain = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    (plain && hosts.next().is_none()).then_some(host)
}

/// An origin compared case-insensitively, without a trailing `/` or the scheme's default
/// port (`http://h:80` is `http://h`).
fn normalise(origin: &str) -> String {
    let o = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if o.starts_with(scheme)
            && let Some(bare) = o.strip_suffix(port)
        {
            return bare.to_owned();
        }
    }
    o
}

/// The `Content-Security-Policy` of every answer: the page may load only its own script,
/// style and images, and connect only to its own origin (and its WebSocket).
fn csp(policy: &OriginPolicy, headers: &HeaderMap) -> String {
    let connect = match own_host(headers) {
        Some(host) => format!("'self' {}://{host}", policy.ws_scheme()),
        None => "'self'".to_owned(),
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src {connect}; \
img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// Whether the comma-separated header `name` holds `token` (case-insensitive).
pub(crate) fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Serves one connection (plain or TLS) with hyper: one request, or one WebSocket upgrade
/// whose session then runs on its own task; bounded by `deadline`.
pub(crate) async fn serve<S>(
    stream: S,
    opts: Arc<ws::WsOptions>,
    front: Arc<HttpFront>,
    tx: mpsc::Sender<Input>,
    deadline: tokio::time::Instant,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req| {
        let resp = respond(req, &opts, &front, &tx, deadline);
        async move { Ok::<_, Infallible>(resp) }
    });
    // Keep-alive stays on (hyper would otherwise answer an upgrade `Connection: close`);
    // every other answer says `Connection: close` itself: one request per connection.
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    let _ = tokio::time::timeout_at(deadline, conn).await;
}

/// The answer to one request (an upgrade's session is spawned here).
fn respond(
    mut req: Request<Incoming>,
    opts: &Arc<ws::WsOptions>,
    front: &HttpFront,
    tx: &mpsc::Sender<Input>,
    deadline: tokio::time::Instant,
) -> Response<String> {
    let csp = csp(&opts.origins, req.headers());
    let headers = req.headers();
    if has_token(headers, header::UPGRADE, "websocket") {
        if req.uri().path() != opts.path {
            return answer(
                StatusCode::NOT_FOUND,
                &csp,
                "text/plain",
                "not found\n".into(),
            );
        }
        if opts.draining.load(Ordering::SeqCst) {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            return answer(status, &csp, "text/plain", DRAINING.into());
        }
        if !opts.origins.allows(headers) {
            return answer(StatusCode::FORBIDDEN, &csp, "text/plain", FORBIDDEN.into());
        }
        let accept = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|_| has_token(headers, header::CONNECTION, "upgrade"))
            .filter(|_| {
                headers
                    .get(header::SEC_WEBSOCKET_VERSION)
                    .is_some_and(|v| v.as_bytes() == b"13")
            })
            .and_then(|k| HeaderValue::from_str(&derive_accept_key(k.as_bytes())).ok());
        let Some(accept) = accept else {
            let body = "expected a WebSocket upgrade\n".into();
            return answer(StatusCode::BAD_REQUEST, &csp, "text/plain", body);
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        let (opts, tx) = (opts.clone(), tx.clone());
        tokio::spawn(async move {
            let Ok(Ok(upgraded)) = tokio::time::timeout_at(deadline, on_upgrade).await else {
                return;
            };
            let config = Some(ws::ws_config(opts.max_frame_bytes));
            let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, config)
                .await;
            ws::session(ws, &opts, tx).await;
        });
        let mut resp = Response::new(String::new());
        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = resp.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        return resp;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = answer(
            StatusCode::METHOD_NOT_ALLOWED,
            &csp,
            "text/plain",
            "method not allowed\n".into(),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let page = |ty: &'static str, body: &str| answer(StatusCode::OK, &csp, ty, body.to_owned());
    match (req.uri().path(), &front.index, &front.metrics) {
        ("/" | "/index.html", Some(index), _) => page("text/html; charset=utf-8", index),
        ("/dashboard.js", Some(_), _) => page("text/javascript; charset=utf-8", DASHBOARD_JS),
        ("/dashboard.css", Some(_), _) => page("text/css; charset=utf-8", DASHBOARD_CSS),
        ("/metrics", _, Some(m)) => page(super::metrics::CONTENT_TYPE, &m.render()),
        ("/healthz", _, _) if opts.draining.load(Ordering::SeqCst) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            &csp,
            "text/plain",
            DRAINING.into(),
        ),
        ("/healthz", _, _) => page("text/plain", HEALTHY),
        _ => answer(
            StatusCode::NOT_FOUND,
            &csp,
            "text/plain",
            "not found\n".into(),
        ),
    }
}

/// The body of a refused upgrade.
pub(crate) const FORBIDDEN: &str = "origin not allowed\n";

/// The body of `/healthz` while the server serves (status 200).
const HEALTHY: &str = "ok";

/// The body of `/healthz` and of a refused upgrade once the server drains (status 503).
pub(crate) const DRAINING: &str = "draining";

/// An answer with the security headers every answer of the front carries.
fn answer(
    status: StatusCode,
    csp: &str,
    content_type: &'static str,
    body: String,
) -> Response<String> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn origins_are_the_own_one_or_an_allowed_one() {
        let p = OriginPolicy::new(false, &["https://Dash.Example/".to_owned()]);
        let host = ("host", "127.0.0.1:8080");
        assert!(p.allows(&headers(&[host])));
        assert!(p.allows(&headers(&[host, ("origin", "http://127.0.0.1:8080")])));
        assert!(p.allows(&headers(&[host, ("origin", "https://dash.example")])));
        assert!(!p.allows(&headers(&[host, ("origin", "https://127.0.0.1:8080")])));
        assert!(!p.allows(&headers(&[host, ("origin", "http://evil.example")])));
        assert!(!p.allows(&headers(&[host, ("origin", "null")])));
        assert!(!p.allows(&headers(&[("origin", "http://127.0.0.1:8080")])));
        let two = [
            host,
            ("origin", "http://127.0.0.1:8080"),
            ("origin", "http://x"),
        ];
        assert!(!p.allows(&headers(&two)));
        // Default ports are the same origin.
        let tls = OriginPolicy::new(true, &[]);
        let h = headers(&[
            ("host", "example.org:443"),
            ("origin", "https://example.org"),
        ]);
        assert!(tls.allows(&h));
    }

    #[test]
    fn the_csp_names_the_own_websocket_only_for_a_plain_host() {
        let p = OriginPolicy::new(false, &[]);
        let c = csp(&p, &headers(&[("host", "127.0.0.1:9")]));
        assert!(c.contains("connect-src 'self' ws://127.0.0.1:9;"), "{c}");
        let c = csp(&p, &headers(&[("host", "x; script-src *")]));
        assert!(c.contains("connect-src 'self';"), "{c}");
    }

    #[test]
    fn the_page_gets_the_served_path() {
        let page = dashboard_index("/a\"b");
        assert!(page.contains(r#"<meta name="arcp-ws-path" content="/a&quot;b">"#));
    }
}
