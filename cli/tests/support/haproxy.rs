//! HAProxy in front of N `arcp serve` nodes, for the load-balancer tests: `mode tcp` (each
//! new TCP connection goes to the next node, the WebSocket passes through untouched),
//! `balance roundrobin`, health checks `GET /healthz` expecting 200 every 200 ms (one failure
//! takes a node out, one success brings it back), and a stats page for the nodes' state.
//! Started as `haproxy -f CFG -db` (foreground) on free loopback ports, killed on drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `haproxy` binary: `$ARCP_TEST_HAPROXY` (set by `.ci/run` from `.ci/haproxy.sh`), else
/// `haproxy` on `PATH`, else `/usr/sbin/haproxy` or `/usr/local/sbin/haproxy`.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARCP_TEST_HAPROXY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir: PathBuf| dir.join("haproxy"))
        .find(|p| p.is_file())
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The configuration: the front end on `port`, the stats page on `stats_port`, one server
/// `n0`, `n1`, … per address of `nodes` (`HOST:PORT`) in the backend `nodes`.
pub fn config(port: u16, stats_port: u16, nodes: &[String]) -> String {
    let mut cfg = format!(
        "global
    maxconn 256

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 1s

frontend arcp
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 200ms fall 1 rise 1
"
    );
    for (i, addr) in nodes.iter().enumerate() {
        cfg.push_str(&format!("    server n{i} {addr} check\n"));
    }
    cfg.push_str(&format!(
        "
listen stats
    mode http
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"
    ));
    cfg
}

/// A running HAProxy, killed (and reaped) on drop.
pub struct HaProxy {
    child: Child,
    /// `HOST:PORT` of the front end.
    pub addr: String,
    /// `HOST:PORT` of the stats page.
    pub stats: String,
    /// Holds the configuration file.
    _dir: tempfile::TempDir,
}

impl HaProxy {
    /// Starts `bin` in front of `nodes` and waits (at most 10 s) until it accepts.
    pub fn start(bin: &std::path::Path, nodes: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, stats_port) = (free_port(), free_port());
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config(port, stats_port, nodes)).expect("write the config");
        let child = Command::new(bin)
            .arg("-f")
            .arg(&cfg)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn haproxy");
        let proxy = HaProxy {
            child,
            addr: format!("127.0.0.1:{port}"),
            stats: format!("127.0.0.1:{stats_port}"),
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&proxy.stats).is_err() || TcpStream::connect(&proxy.addr).is_err()
        {
            assert!(
                Instant::now() < until,
                "haproxy does not accept within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    /// `ws://HOST:PORT/arcp` through the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}/arcp", self.addr)
    }

    /// The state of each server of the backend `nodes` from the stats page's CSV: `(name,
    /// status, last check code)`, e.g. `("n0", "UP", "200")`, `("n1", "DOWN", "503")`.
    pub fn servers(&self) -> Vec<(String, String, String)> {
        let mut tcp = TcpStream::connect(&self.stats).expect("connect to the stats page");
        let req = "GET /stats;csv HTTP/1.0\r\nHost: stats\r\n\r\n";
        tcp.write_all(req.as_bytes()).expect("write");
        let mut raw = String::new();
        tcp.read_to_string(&mut raw).expect("read");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or_default();
        let csv = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
        let (px, sv, status, code) = (
            col("pxname"),
            col("svname"),
            col("status"),
            col("check_code"),
        );
        lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| {
                f.get(px) == Some(&"nodes") && f.get(sv).is_some_and(|s| s.starts_with('n'))
            })
            .map(|f| {
                let field = |i: usize| f.get(i).copied().unwrap_or_default().to_owned();
                (field(sv), field(status), field(code))
            })
            .collect()
    }

    /// Polls [`Self::servers`] (at most 10 s) until it equals `want`; the last reading.
    pub fn wait_servers(&self, want: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.servers();
            let same = now.len() == want.len()
                && now
                    .iter()
                    .zip(want)
                    .all(|(a, b)| (a.0.as_str(), a.1.as_str(), a.2.as_str()) == *b);
            if same || Instant::now() > until {
                return now;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The payload of a chunked HTTP/1.1 body (`SIZE\r\nDATA\r\n`… `0\r\n\r\n`).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16);
        let Ok(size) = size else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
