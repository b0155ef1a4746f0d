//! The command line of every adapter's `examples/serve.rs` (the flags of `arcp serve`),
//! parsed once: `[--port N | --stdio] [--db PATH] [--path /arcp] [--heartbeat-interval SECS]
//! [--no-credentials] [--demo]`, and its `LISTENING ws://…` line.

use std::io::Write;
use std::path::PathBuf;

/// The usage line.
pub const USAGE: &str = "usage: serve [--port N | --stdio] [--db PATH] [--path /arcp] [--heartbeat-interval SECS] [--no-credentials] [--demo]";

/// What `serve` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeArgs {
    /// The WebSocket port (0, the default: any free port).
    pub port: u16,
    /// Serve one session on stdin/stdout instead.
    pub stdio: bool,
    /// The SQLite database, when durable.
    pub db: Option<PathBuf>,
    /// The WebSocket path (default `/arcp`).
    pub path: String,
    /// The heartbeat interval in whole seconds (default 2).
    pub heartbeat_secs: u64,
    /// Provision credentials (default on; `--no-credentials` turns it off).
    pub credentials: bool,
    /// Demo mode: the contract agents and tokens (`--demo`).
    pub demo: bool,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            port: 0,
            stdio: false,
            db: None,
            path: "/arcp".to_owned(),
            heartbeat_secs: 2,
            credentials: true,
            demo: false,
        }
    }
}

impl ServeArgs {
    /// Parses the arguments (without the program name); the error is the message to print
    /// above [`USAGE`].
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut out = ServeArgs::default();
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--port" => {
                    out.port = value("--port")?
                        .parse()
                        .map_err(|_| "--port takes a number".to_owned())?;
                }
                "--stdio" => out.stdio = true,
                "--db" => out.db = Some(PathBuf::from(value("--db")?)),
                "--path" => out.path = value("--path")?,
                "--heartbeat-interval" => {
                    out.heartbeat_secs = value("--heartbeat-interval")?
                        .parse()
                        .map_err(|_| "--heartbeat-interval takes whole seconds".to_owned())?;
                }
                "--no-credentials" => out.credentials = false,
                "--demo" => out.demo = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(out)
    }

    /// The process's arguments, or the error and usage on stderr and exit status 2.
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1)).unwrap_or_else(|e| usage(&e))
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.heartbeat_secs)
    }
}

/// Prints `error: MSG` and the usage line on stderr, and exits with status 2.
pub fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!("{USAGE}");
    std::process::exit(2);
}

/// Prints `LISTENING URL` on stdout and flushes it (scripts wait for this line).
pub fn print_listening(url: &str) {
    println!("LISTENING {url}");
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeArgs, String> {
        ServeArgs::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn every_flag_and_the_defaults() {
        assert_eq!(parse(&[]), Ok(ServeArgs::default()));
        assert_eq!(
            parse(&[
                "--port",
                "7777",
                "--db",
                "/tmp/a.db",
                "--path",
                "/x",
                "--heartbeat-interval",
                "5",
                "--no-credentials",
                "--stdio",
                "--demo"
            ]),
            Ok(ServeArgs {
                port: 7777,
                stdio: true,
                db: Some(PathBuf::from("/tmp/a.db")),
                path: "/x".into(),
                heartbeat_secs: 5,
                credentials: false,
                demo: true,
            })
        );
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(parse(&["--port"]), Err("--port needs a value".into()));
        assert_eq!(parse(&["--port", "x"]), Err("--port takes a number".into()));
        assert_eq!(
            parse(&["--heartbeat-interval", "1.5"]),
            Err("--heartbeat-interval takes whole seconds".into())
        );
        assert_eq!(parse(&["-v"]), Err("unknown argument \"-v\"".into()));
    }
}
