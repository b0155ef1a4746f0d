//! The command line and the run loop (peer_client.py's `main` / `run_all`).

use crate::api::{Harness, Target};
use crate::check::{Stop, fmt_g};
use crate::ctx::{Ctx, Options};
use crate::scenarios::{KNOWN_PYTHON_DEVIATIONS, SCENARIOS, Scenario};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// How the runtime under test is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `--url URL`.
    Url(String),
    /// `--stdio COMMAND`.
    Stdio(String),
    /// `--spawn-peer ws`.
    SpawnWs,
    /// `--spawn-peer stdio`.
    SpawnStdio,
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// Where the runtime is (`None` with `--list` only).
    pub mode: Option<Mode>,
    /// `--python-peer` (implied by `--spawn-peer`).
    pub python_peer: bool,
    /// `--only NAME` (repeatable, or comma-separated).
    pub only: Vec<String>,
    /// `--list`.
    pub list: bool,
    /// `--scenario-timeout SEC` (default 60).
    pub scenario_timeout: f64,
    /// `--alice-token`, `--bob-token`, `--observer-token`.
    pub tokens: [String; 3],
    /// `--no-agents-from-peer` clears it.
    pub agents_from_peer: bool,
    /// `--no-credentials` clears it.
    pub credentials: bool,
}

/// The usage text.
pub const USAGE: &str = "usage: interop (--url URL | --stdio COMMAND | --spawn-peer ws|stdio) [--python-peer] \
[--only NAME]... [--list] [--scenario-timeout SEC] [--alice-token T] [--bob-token T] [--observer-token T] \
[--no-agents-from-peer] [--no-credentials]";

/// Parses the arguments (without the program name).
pub fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        mode: None,
        python_peer: false,
        only: Vec::new(),
        list: false,
        scenario_timeout: 60.0,
        tokens: [
            "alice-token".into(),
            "bob-token".into(),
            "auditor-token".into(),
        ],
        agents_from_peer: true,
        credentials: true,
    };
    let mut it = argv.iter();
    let set_mode = |a: &mut Args, m: Mode| {
        if a.mode.is_some() {
            return Err("only one of --url, --stdio, --spawn-peer may be given".to_owned());
        }
        a.mode = Some(m);
        Ok(())
    };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--url" => {
                let v = value("--url")?;
                set_mode(&mut a, Mode::Url(v))?;
            }
            "--stdio" => {
                let v = value("--stdio")?;
                set_mode(&mut a, Mode::Stdio(v))?;
            }
            "--spawn-peer" => match value("--spawn-peer")?.as_str() {
                "ws" => set_mode(&mut a, Mode::SpawnWs)?,
                "stdio" => set_mode(&mut a, Mode::SpawnStdio)?,
                other => {
                    return Err(format!(
                        "--spawn-peer: invalid choice {other:?} (ws or stdio)"
                    ));
                }
            },
            "--python-peer" => a.python_peer = true,
            "--list" => a.list = true,
            "--only" => a.only.extend(
                value("--only")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "--scenario-timeout" => {
                a.scenario_timeout = value("--scenario-timeout")?
                    .parse()
                    .map_err(|_| "--scenario-timeout needs a number of seconds".to_owned())?;
            }
            "--alice-token" => a.tokens[0] = value("--alice-token")?,
            "--bob-token" => a.tokens[1] = value("--bob-token")?,
            "--observer-token" => a.tokens[2] = value("--observer-token")?,
            "--agents-from-peer" => a.agents_from_peer = true,
            "--no-agents-from-peer" => a.agents_from_peer = false,
            "--no-credentials" => a.credentials = false,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if matches!(a.mode, Some(Mode::SpawnWs | Mode::SpawnStdio)) {
        a.python_peer = true;
    }
    if a.mode.is_none() && !a.list {
        return Err("one of --url, --stdio or --spawn-peer is required".to_owned());
    }
    Ok(a)
}

/// Splits a command line as a POSIX shell would (quotes and backslashes; no expansion).
pub fn split_command(cmd: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err("unterminated ' in command".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err("unterminated \" in command".into()),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err("unterminated \" in command".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    if out.is_empty() {
        return Err("empty command".into());
    }
    Ok(out)
}

fn peer_python() -> String {
    std::env::var("ARCP_PEER_PYTHON").unwrap_or_else(|_| ".peer-venv/bin/python".into())
}

fn peer_runtime() -> String {
    let dir = std::env::var("ARCP_PEER_DIR").unwrap_or_else(|_| "../shared/interop".into());
    format!("{}/peer_runtime.py", dir.trim_end_matches('/'))
}

/// A spawned `peer_runtime.py --port 0`, stopped on drop.
pub struct PeerProcess {
    child: Child,
    /// The URL it printed.
    pub url: String,
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `peer_runtime.py --port 0` and reads its `LISTENING ws://…` line (15 s bound).
pub fn spawn_peer_ws() -> Result<PeerProcess, String> {
    let mut child = Command::new(peer_python())
        .arg(peer_runtime())
        .args(["--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {} {}: {e}", peer_python(), peer_runtime()))?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        return Err("peer_runtime.py has no stdout".into());
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the peer never blocks on a full pipe.
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    match rx.recv_timeout(Duration::from_secs(15)) {
        Ok(line) if line.starts_with("LISTENING ") => Ok(PeerProcess {
            child,
            url: line["LISTENING ".len()..].trim().to_owned(),
        }),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err("peer_runtime.py did not print LISTENING within 15s".into())
        }
    }
}

fn skip_reason(sc: &Scenario, opts: &Options) -> Option<String> {
    if !opts.agents_from_peer && sc.needs_agents {
        return Some("needs the peer agent contract (--agents-from-peer)".into());
    }
    if sc.needs_credentials && !opts.credentials {
        return Some("provisioned credentials disabled (--no-credentials)".into());
    }
    if opts.python_peer && KNOWN_PYTHON_DEVIATIONS.iter().any(|(n, _)| *n == sc.name) {
        return Some("known Python reference deviation".into());
    }
    None
}

/// Runs one scenario (bounded by the scenario timeout); `("PASS"|"FAIL"|"SKIP", reason)`.
pub fn run_one(
    sc: &Scenario,
    opts: &Options,
    harness: &Arc<dyn Harness>,
) -> (&'static str, String) {
    if let Some(why) = skip_reason(sc, opts) {
        return ("SKIP", why);
    }
    let ctx = Arc::new(Ctx::new(opts.clone(), Arc::clone(harness)));
    let (tx, rx) = mpsc::channel();
    let run = sc.run;
    let c2 = Arc::clone(&ctx);
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&c2)));
        let _ = tx.send(r);
    });
    let limit = Duration::from_secs_f64(opts.scenario_timeout.max(0.0));
    let (status, reason) = match rx.recv_timeout(limit) {
        Ok(Ok(Ok(()))) => ("PASS", String::new()),
        Ok(Ok(Err(Stop::Fail(m)))) => ("FAIL", m),
        Ok(Ok(Err(Stop::Skip(m)))) => ("SKIP", m),
        Ok(Err(panic)) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            ("FAIL", format!("panic: {msg}"))
        }
        Err(_) => (
            "FAIL",
            format!("scenario exceeded {}s", fmt_g(opts.scenario_timeout)),
        ),
    };
    ctx.cleanup();
    (status, reason.replace('\n', " "))
}

/// Runs `scenarios`, printing one line each and the closing `N passed, N failed`; returns
/// the exit status.
pub fn run_all(
    scenarios: &[Scenario],
    opts: &Options,
    harness: &Arc<dyn Harness>,
    out: &mut dyn Write,
) -> i32 {
    let (mut passed, mut failed) = (0, 0);
    for sc in scenarios {
        let (status, reason) = run_one(sc, opts, harness);
        let line = match status {
            "PASS" => {
                passed += 1;
                format!("PASS {}", sc.name)
            }
            "FAIL" => {
                failed += 1;
                format!("FAIL {}: {reason}", sc.name)
            }
            _ => format!("SKIP {}: {reason}", sc.name),
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    let _ = out.flush();
    i32::from(failed != 0)
}

/// Selects `--only` names (in the order given); unknown names are an error.
pub fn select(only: &[String]) -> Result<Vec<Scenario>, String> {
    if only.is_empty() {
        return Ok(SCENARIOS.to_vec());
    }
    let unknown: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|n| !SCENARIOS.iter().any(|s| s.name == *n))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown scenario(s): {} (see --list)",
            unknown.join(", ")
        ));
    }
    Ok(only
        .iter()
        .filter_map(|n| SCENARIOS.iter().find(|s| s.name == n).copied())
        .collect())
}

/// The whole program: parse `argv` (without the program name), run, return the exit code.
pub fn main_with(harness: Arc<dyn Harness>, argv: &[String]) -> i32 {
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let mut stdout = std::io::stdout();
    if args.list {
        for s in SCENARIOS {
            let _ = writeln!(stdout, "{}  {}", s.name, s.doc);
        }
        return 0;
    }
    let chosen = match select(&args.only) {
        Ok(c) => c,
        Err(e) => {
            // As peer_client.py's `SystemExit(message)`: status 1.
            eprintln!("{e}");
            return 1;
        }
    };
    let mut _peer = None;
    let target = match args.mode.clone() {
        Some(Mode::Url(u)) => {
            if !(u.starts_with("ws://127.0.0.1")
                || u.starts_with("ws://localhost")
                || u.starts_with("ws://[::1]"))
            {
                eprintln!("warning: connecting to a non-loopback runtime");
            }
            Target::WebSocket(u)
        }
        Some(Mode::Stdio(cmd)) => match split_command(&cmd) {
            Ok(argv) => Target::Stdio(argv),
            Err(e) => {
                eprintln!("--stdio: {e}");
                return 2;
            }
        },
        Some(Mode::SpawnStdio) => {
            Target::Stdio(vec![peer_python(), peer_runtime(), "--stdio".into()])
        }
        Some(Mode::SpawnWs) => match spawn_peer_ws() {
            Ok(p) => {
                let url = p.url.clone();
                _peer = Some(p);
                Target::WebSocket(url)
            }
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        },
        None => return 2,
    };
    let [alice, bob, observer] = args.tokens.clone();
    let opts = Options {
        target,
        alice_token: alice,
        bob_token: bob,
        observer_token: observer,
        agents_from_peer: args.agents_from_peer,
        credentials: args.credentials,
        python_peer: args.python_peer,
        scenario_timeout: args.scenario_timeout,
    };
    run_all(&chosen, &opts, &harness, &mut stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn spawn_peer_implies_python_peer() {
        let a = parse_args(&s(&["--spawn-peer", "ws"])).unwrap();
        assert_eq!(
            (a.mode, a.python_peer, a.scenario_timeout),
            (Some(Mode::SpawnWs), true, 60.0)
        );
        let a = parse_args(&s(&["--url", "ws://127.0.0.1:1/arcp"])).unwrap();
        assert!(!a.python_peer);
    }

    #[test]
    fn only_is_repeatable_and_comma_separated() {
        let a = parse_args(&s(&[
            "--stdio",
            "x",
            "--only",
            "cancel,ack",
            "--only=heartbeat",
        ]))
        .unwrap();
        assert_eq!(a.only, ["cancel", "ack", "heartbeat"]);
        let names: Vec<&str> = select(&a.only).unwrap().iter().map(|s| s.name).collect();
        assert_eq!(names, ["cancel", "ack", "heartbeat"]);
        assert_eq!(
            select(&s(&["nope"])).unwrap_err(),
            "unknown scenario(s): nope (see --list)"
        );
    }

    #[test]
    fn targets_are_exclusive_and_required() {
        assert!(parse_args(&s(&["--url", "a", "--stdio", "b"])).is_err());
        assert_eq!(
            parse_args(&s(&[])).unwrap_err(),
            "one of --url, --stdio or --spawn-peer is required"
        );
        assert!(parse_args(&s(&["--list"])).unwrap().list);
        assert!(parse_args(&s(&["--spawn-peer", "tcp"])).is_err());
    }

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            split_command("python 'a b.py' --stdio \"x\\\"y\" c\\ d").unwrap(),
            ["python", "a b.py", "--stdio", "x\"y", "c d"]
        );
        assert!(split_command("  ").is_err());
        assert!(split_command("'open").is_err());
    }

    #[test]
    fn python_peer_skips_the_known_deviation() {
        let opts = Options {
            target: Target::WebSocket("ws://127.0.0.1:1".into()),
            alice_token: String::new(),
            bob_token: String::new(),
            observer_token: String::new(),
            agents_from_peer: true,
            credentials: true,
            python_peer: true,
            scenario_timeout: 1.0,
        };
        let live = SCENARIOS
            .iter()
            .find(|s| s.name == "resume_live_job")
            .unwrap();
        assert_eq!(
            skip_reason(live, &opts).as_deref(),
            Some("known Python reference deviation")
        );
        let echo = SCENARIOS.iter().find(|s| s.name == "submit_echo").unwrap();
        assert_eq!(skip_reason(echo, &opts), None);
    }
}
