//! [`ProcessAgent`]'s configuration: the command, its working directory and environment, the
//! grace periods and the bounds.

use std::path::PathBuf;
use std::time::Duration;

/// Default of [`ProcessAgent::grace`]: 5 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// Default of [`ProcessAgent::kill_after`]: 2 s.
pub const DEFAULT_KILL_AFTER: Duration = Duration::from_secs(2);
/// Default of [`ProcessAgent::max_line_bytes`]: 1 MiB, the default inbound frame cap.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Requests an agent may have unanswered at once; one more is a protocol error.
pub const MAX_UNANSWERED: u64 = 256;

/// What becomes of the agent's stderr (`docs/agent-protocol.md` §8). Each line is a `log`
/// event at `warn` with `attributes.source = "stderr"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StderrLimits {
    /// Bytes kept of each line (cut back to a character boundary); default 4,096.
    pub line_bytes: usize,
    /// Lines per one-second window (a window starts at the first line after the previous
    /// one ended); lines over it are dropped and counted, and the count is reported before
    /// the next line that passes. Zero: no rate limit. Default 100.
    pub lines_per_sec: u32,
    /// Lines per job that become events; then one notice, and the rest is discarded.
    /// Default 10,000.
    pub max_lines: u64,
}

impl Default for StderrLimits {
    fn default() -> Self {
        StderrLimits {
            line_bytes: 4096,
            lines_per_sec: 100,
            max_lines: 10_000,
        }
    }
}

/// A program hosted as an agent: one process per job, speaking the agent line protocol
/// (`docs/agent-protocol.md` in the repository) on stdin/stdout. Register it like any agent
/// (`AgentRegistry::register`, or the server builder's `process_agent`); jobs of it need a
/// tokio runtime (the arcp-tokio server provides it).
///
/// ```
/// use arcp_tokio::process_agent::ProcessAgent;
/// let agent = ProcessAgent::from_command_line("python3 agents/python/contract/echo.py")
///     .unwrap()
///     .grace(std::time::Duration::from_secs(2));
/// let mut registry = arcp_agents::AgentRegistry::new();
/// registry.register("echo", Some("1.0.0"), agent);
/// ```
#[derive(Debug, Clone)]
pub struct ProcessAgent {
    pub(crate) spec: std::sync::Arc<Spec>,
}

/// The configuration shared by every job of one [`ProcessAgent`].
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) cwd: Option<PathBuf>,
    /// Copied from the runtime's environment when set there.
    pub(crate) env_copy: Vec<String>,
    /// Set to these values.
    pub(crate) env_set: Vec<(String, String)>,
    pub(crate) grace: Duration,
    pub(crate) kill_after: Duration,
    pub(crate) max_line: usize,
    pub(crate) stderr: StderrLimits,
}

/// Why a command line cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandLineError {
    /// Unbalanced quotes or a trailing backslash.
    #[error("cannot split command line {0:?}: {1}")]
    Split(String, String),
    /// Nothing to run.
    #[error("empty command line")]
    Empty,
}

impl ProcessAgent {
    /// Runs `program` with `args` (no shell), with the defaults: the runtime's working
    /// directory, the default environment allowlist, grace 5 s, SIGKILL 2 s after SIGTERM,
    /// 1 MiB lines, the default [`StderrLimits`].
    pub fn new(
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ProcessAgent {
            spec: std::sync::Arc::new(Spec {
                program: program.into(),
                args: args.into_iter().map(Into::into).collect(),
                cwd: None,
                env_copy: Vec::new(),
                env_set: Vec::new(),
                grace: DEFAULT_GRACE,
                kill_after: DEFAULT_KILL_AFTER,
                max_line: DEFAULT_MAX_LINE_BYTES,
                stderr: StderrLimits::default(),
            }),
        }
    }

    /// Splits `line` into program and arguments with POSIX shell-word rules (quotes,
    /// backslashes; no variables, globs or redirections: write `sh -c '…'` for a shell).
    pub fn from_command_line(line: &str) -> Result<Self, CommandLineError> {
        let words = shell_words::split(line)
            .map_err(|e| CommandLineError::Split(line.to_owned(), e.to_string()))?;
        let mut words = words.into_iter();
        let program = words.next().ok_or(CommandLineError::Empty)?;
        Ok(ProcessAgent::new(program, words))
    }

    fn with(mut self, f: impl FnOnce(&mut Spec)) -> Self {
        f(std::sync::Arc::make_mut(&mut self.spec));
        self
    }

    /// The program and its arguments.
    pub fn command(&self) -> (&str, &[String]) {
        (&self.spec.program, &self.spec.args)
    }

    /// Runs every job's process in `dir`.
    pub fn cwd(self, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        self.with(|s| s.cwd = Some(dir))
    }

    /// Copies variable `name` from the runtime's environment, when set there, besides the
    /// default allowlist ([`DEFAULT_ENV_ALLOWLIST`](super::DEFAULT_ENV_ALLOWLIST)).
    pub fn env(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with(|s| s.env_copy.push(name))
    }

    /// Sets variable `name` to `value` in the process's environment.
    pub fn env_value(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.with(|s| s.env_set.push((name, value)))
    }

    /// How long a process may run after `cancel` (or after its own end) before its process
    /// group gets SIGTERM; default 5 s.
    pub fn grace(self, d: Duration) -> Self {
        self.with(|s| s.grace = d)
    }

    /// How long after SIGTERM the process group gets SIGKILL; default 2 s.
    pub fn kill_after(self, d: Duration) -> Self {
        self.with(|s| s.kill_after = d)
    }

    /// The longest line the agent may write, not counting the `\n`; a longer one ends the
    /// job `INTERNAL_ERROR` without being buffered. Default 1 MiB.
    pub fn max_line_bytes(self, n: usize) -> Self {
        self.with(|s| s.max_line = n)
    }

    /// The bounds on stderr.
    pub fn stderr_limits(self, limits: StderrLimits) -> Self {
        self.with(|s| s.stderr = limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_with_shell_word_rules() {
        let a = ProcessAgent::from_command_line(r#"python3 -c 'print("a b")' x\ y "z""#).unwrap();
        assert_eq!(
            a.command(),
            (
                "python3",
                &[
                    "-c".to_owned(),
                    "print(\"a b\")".into(),
                    "x y".into(),
                    "z".into()
                ][..]
            )
        );
        assert_eq!(
            ProcessAgent::from_command_line("  ").unwrap_err(),
            CommandLineError::Empty
        );
        assert_eq!(
            ProcessAgent::from_command_line("echo 'open")
                .unwrap_err()
                .to_string(),
            "cannot split command line \"echo 'open\": missing closing quote"
        );
    }
}
