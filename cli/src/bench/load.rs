//! The load client: raw tokio-tungstenite with frames formatted as plain strings and replies
//! classified by their envelope `type` without parsing them (so the client stays far cheaper
//! than the runtime it measures).

use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

pub(super) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Sessions are opened this many at a time.
const OPEN_BATCH: usize = 100;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh, well-formed envelope id (26 Crockford characters).
fn next_id() -> String {
    format!("01M85JT{:019}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// The envelope `type` of an encoded frame: the first `"type":"…"` (the envelope's own keys
/// come before its payload).
pub(super) fn frame_type(text: &str) -> &str {
    const KEY: &str = "\"type\":\"";
    let Some(at) = text.find(KEY) else {
        return "";
    };
    let rest = &text[at + KEY.len()..];
    rest.find('"').map_or("", |end| &rest[..end])
}

pub(super) fn submit(agent: &str, input: &str) -> String {
    format!(
        r#"{{"arcp":"1.1","id":"{}","type":"job.submit","payload":{{"agent":"{agent}","input":{input}}}}}"#,
        next_id()
    )
}

/// A `session.hello` (no features requested: no heartbeats, no acks); with `resume`, the
/// encoded `{session_id, resume_token, last_event_seq}` object, a resume hello.
pub(super) fn hello(token: &str, resume: Option<&str>) -> String {
    let resume = resume.map_or(String::new(), |r| format!(r#","resume":{r}"#));
    format!(
        r#"{{"arcp":"1.1","id":"{}","type":"session.hello","payload":{{"client":{{"name":"arcp-bench","version":"{}"}},"auth":{{"scheme":"bearer","token":"{token}"}},"capabilities":{{"encodings":["json"],"features":[]}}{resume}}}}}"#,
        next_id(),
        env!("CARGO_PKG_VERSION")
    )
}

/// Opens the WebSocket to `url` (no hello yet).
pub(super) async fn connect(url: &str) -> Result<Ws, String> {
    let (ws, _) = connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    Ok(ws)
}

/// Connects and completes hello/welcome: the connection and the welcome's text.
pub(super) async fn open_welcome(url: &str, token: &str) -> Result<(Ws, String), String> {
    let mut ws = connect(url).await?;
    send(&mut ws, hello(token, None)).await?;
    loop {
        let text = recv(&mut ws).await?;
        match frame_type(&text) {
            "session.welcome" => return Ok((ws, text)),
            "session.error" => return Err(format!("hello refused: {text}")),
            _ => {}
        }
    }
}

/// Connects and completes hello/welcome.
pub(super) async fn open(url: &str, token: &str) -> Result<Ws, String> {
    Ok(open_welcome(url, token).await?.0)
}

pub(super) async fn send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// The next text frame.
pub(super) async fn recv(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(c))) => return Err(format!("closed by the runtime: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}

/// The next message. With a nonzero `spin`, the stream is first polled without sleeping for up
/// to `spin` (yielding between polls): on a single-threaded runtime each yield also polls the
/// sockets, so a reply arriving meanwhile is read without a thread wake-up.
async fn next_message(
    ws: &mut Ws,
    spin: Duration,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    if !spin.is_zero() {
        let until = Instant::now().checked_add(spin);
        loop {
            if let Some(m) = ws.next().now_or_never() {
                return m;
            }
            if until.is_none_or(|u| Instant::now() >= u) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
    ws.next().await
}

/// Classifies the next text frame without keeping it (waiting for it as [`next_message`]).
async fn recv_type(ws: &mut Ws, spin: Duration) -> Result<Kind, String> {
    loop {
        match next_message(ws, spin).await {
            Some(Ok(Message::Text(t))) => {
                return Ok(match frame_type(t.as_str()) {
                    "job.event" => Kind::Event,
                    "job.accepted" => Kind::Accepted,
                    "job.result" => Kind::Result,
                    "job.error" | "session.error" => Kind::Error(t.as_str().to_owned()),
                    _ => Kind::Other,
                });
            }
            Some(Ok(Message::Close(c))) => return Err(format!("closed by the runtime: {c:?}")),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("receive: {e}")),
            None => return Err("connection ended".into()),
        }
    }
}

enum Kind {
    Event,
    Accepted,
    Result,
    Error(String),
    Other,
}

/// One streaming run.
pub(super) struct Stream {
    pub events: u64,
    pub frames: u64,
    pub elapsed: Duration,
    pub first_event: Option<Duration>,
}

/// A fresh session submits `firehose {count}` and reads to its `job.result`.
pub(super) async fn stream_once(
    url: &str,
    token: &str,
    agent: &str,
    count: u64,
) -> Result<Stream, String> {
    let mut ws = open(url, token).await?;
    let frame = submit(agent, &format!(r#"{{"count":{count}}}"#));
    let t0 = Instant::now();
    send(&mut ws, frame).await?;
    let mut s = Stream {
        events: 0,
        frames: 0,
        elapsed: Duration::ZERO,
        first_event: None,
    };
    loop {
        let kind = recv_type(&mut ws, Duration::ZERO).await?;
        s.frames += 1;
        match kind {
            Kind::Event => {
                if s.events == 0 {
                    s.first_event = Some(t0.elapsed());
                }
                s.events += 1;
            }
            Kind::Result => break,
            Kind::Error(text) => return Err(format!("{agent} failed: {text}")),
            Kind::Accepted | Kind::Other => {}
        }
    }
    s.elapsed = t0.elapsed();
    let _ = ws.close(None).await;
    Ok(s)
}

/// Submit→accepted samples and the results seen.
pub(super) struct Latency {
    pub accept: Vec<Duration>,
    pub results: usize,
}

/// Submits `echo` `n` times on `ws`, each once the previous was accepted, then waits for
/// every result (each frame waited for as [`next_message`] with `spin`).
async fn submit_sequence(
    ws: &mut Ws,
    n: usize,
    spin: Duration,
    lat: &mut Latency,
) -> Result<(), String> {
    let mut results = 0;
    for i in 0..n {
        let frame = submit("echo", &format!(r#"{{"i":{i}}}"#));
        let t0 = Instant::now();
        send(ws, frame).await?;
        loop {
            match recv_type(ws, spin).await? {
                Kind::Accepted => break,
                Kind::Result => results += 1,
                Kind::Error(text) => return Err(format!("echo failed: {text}")),
                Kind::Event | Kind::Other => {}
            }
        }
        lat.accept.push(t0.elapsed());
    }
    while results < n {
        match recv_type(ws, spin).await? {
            Kind::Result => results += 1,
            Kind::Error(text) => return Err(format!("echo failed: {text}")),
            _ => {}
        }
    }
    lat.results += results;
    Ok(())
}

/// `n` sequential `echo` submits on one fresh session.
///
/// With a nonzero `spin` (`--client-spin-us`), the session runs on a single-threaded runtime
/// of its own and polls for each reply for up to `spin` before it sleeps (see
/// [`next_message`]): the figure then leaves out the client's own wake-up, which on a virtual
/// machine costs tens of microseconds per reply whatever the runtime measured.
pub(super) async fn accept_latency(
    url: &str,
    token: &str,
    n: usize,
    spin: Duration,
) -> Result<Latency, String> {
    if spin.is_zero() {
        return accept_session(url, token, n, spin).await;
    }
    let (url, token) = (url.to_owned(), token.to_owned());
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the latency client's runtime: {e}"))?;
        rt.block_on(accept_session(&url, &token, n, spin))
    })
    .await
    .map_err(|e| format!("the latency client failed: {e}"))?
}

async fn accept_session(
    url: &str,
    token: &str,
    n: usize,
    spin: Duration,
) -> Result<Latency, String> {
    let mut ws = open(url, token).await?;
    let mut lat = Latency {
        accept: Vec::with_capacity(n),
        results: 0,
    };
    submit_sequence(&mut ws, n, spin, &mut lat).await?;
    let _ = ws.close(None).await;
    Ok(lat)
}

/// Opens `n` sessions (hello/welcome done), `OPEN_BATCH` at a time.
pub(super) async fn open_sessions(url: &str, token: &str, n: usize) -> Result<Vec<Ws>, String> {
    let mut all = Vec::with_capacity(n);
    while all.len() < n {
        let batch = OPEN_BATCH.min(n - all.len());
        let tasks: Vec<_> = (0..batch)
            .map(|_| {
                let (url, token) = (url.to_owned(), token.to_owned());
                tokio::spawn(async move { open(&url, &token).await })
            })
            .collect();
        for t in tasks {
            all.push(t.await.map_err(|e| e.to_string())??);
        }
    }
    Ok(all)
}

/// Closes every session (concurrently).
pub(super) async fn close_all(sessions: Vec<Ws>) {
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let _ = ws.close(None).await;
                // Read to the close reply so the runtime sees a clean end.
                while let Some(Ok(_)) = ws.next().await {}
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// The concurrent-session figure.
pub(super) struct Concurrent {
    pub accept: Vec<Duration>,
    pub results: usize,
    pub elapsed: Duration,
}

/// `sessions` sessions (opened before the clock starts) each submit `jobs` `echo` jobs in
/// sequence; timed until every result arrived.
pub(super) async fn concurrent(
    url: &str,
    token: &str,
    sessions: usize,
    jobs: usize,
) -> Result<Concurrent, String> {
    let opened = open_sessions(url, token, sessions).await?;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(sessions + 1));
    let tasks: Vec<_> = opened
        .into_iter()
        .map(|mut ws| {
            let start = start.clone();
            tokio::spawn(async move {
                let mut lat = Latency {
                    accept: Vec::with_capacity(jobs),
                    results: 0,
                };
                start.wait().await;
                let r = submit_sequence(&mut ws, jobs, Duration::ZERO, &mut lat).await;
                let _ = ws.close(None).await;
                r.map(|()| lat)
            })
        })
        .collect();
    start.wait().await;
    let t0 = Instant::now();
    let mut all = Concurrent {
        accept: Vec::with_capacity(sessions * jobs),
        results: 0,
        elapsed: Duration::ZERO,
    };
    let mut first_err = None;
    for t in tasks {
        match t.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(lat) => {
                all.accept.extend(lat.accept);
                all.results += lat.results;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    all.elapsed = t0.elapsed();
    match first_err {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_type_is_the_first_type_key() {
        let ev =
            r#"{"arcp":"1.1","id":"x","type":"job.event","payload":{"kind":"log","type":"no"}}"#;
        assert_eq!(frame_type(ev), "job.event");
        assert_eq!(frame_type(r#"{"id":"x"}"#), "");
        assert_eq!(frame_type(r#"{"type":"unterminated"#), "");
    }

    #[test]
    fn ids_are_26_characters_and_distinct() {
        let (a, b) = (next_id(), next_id());
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
    }
}
