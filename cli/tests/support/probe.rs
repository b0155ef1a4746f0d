//! Plain HTTP/1.1 GETs over a raw TCP connection (a `/healthz` probe, a `/metrics` scrape):
//! the status and body, with no client library that could hide what the server said.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `GET path` from `addr` (`HOST:PORT`) with `Connection: close`: the status code and the
/// body. `Err` when the connection fails or the answer is not HTTP.
pub fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// `GET /healthz` from `addr`.
pub fn healthz(addr: &str) -> Result<(u16, String), String> {
    get(addr, "/healthz")
}

/// Polls `/healthz` of `addr` until it answers `status` (at most 10 s): the last answer.
pub fn wait_healthz(addr: &str, status: u16) -> (u16, String) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = healthz(addr).expect("healthz");
        if answer.0 == status || Instant::now() > until {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `HOST:PORT` of a `ws://HOST:PORT/PATH` URL.
pub fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// The value of the sample `name` (e.g. `arcp_connections_opened_total`) in the scrape of
/// `metrics_url` (`http://ADDR/metrics`).
pub fn metric(metrics_url: &str, name: &str) -> u64 {
    let (status, body) = get(authority(metrics_url), "/metrics").expect("scrape");
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in {body}"))
}
