//! `arcp serve --agent 'NAME[@VERSION]=COMMAND LINE'` and its options: programs in any
//! language hosted as agents (one process per job, the agent line protocol,
//! docs/agent-protocol.md).

use super::Failure;
use arcp_proto::wire::AgentRef;
use arcp_tokio::process_agent::{ProcessAgent, StderrLimits, register_process_agents};
use arcp_tokio::server::ServerBuilder;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// The `--agent*` options of `arcp serve`.
#[derive(Debug, Args)]
pub(super) struct AgentArgs {
    /// Host a program as an agent, one process per job (repeatable). Everything up to the
    /// first `=` is the agent (`name` or `name@version`); the rest is split into program and
    /// arguments with shell-word rules and run without a shell. Replaces a built-in agent of
    /// the same name and version (with --demo). The first version registered for a name is
    /// its default.
    #[arg(long = "agent", value_name = "NAME[@VERSION]=COMMAND LINE", value_parser = parse_agent)]
    pub(super) agents: Vec<(AgentRef, ProcessAgent)>,
    /// Make NAME@VERSION the version a bare NAME resolves to (repeatable).
    #[arg(long = "agent-default", value_name = "NAME@VERSION", value_parser = parse_default)]
    defaults: Vec<(String, String)>,
    /// Seconds a process agent may run after `cancel` (or after its end) before its process
    /// group gets SIGTERM.
    #[arg(long, default_value_t = 5.0, value_name = "SEC", value_parser = super::parse_seconds)]
    agent_grace: f64,
    /// Seconds after SIGTERM until SIGKILL.
    #[arg(long, default_value_t = 2.0, value_name = "SEC", value_parser = super::parse_seconds)]
    agent_kill_after: f64,
    /// Longest line a process agent may write (bytes, without the newline).
    #[arg(long, default_value_t = 1_048_576, value_name = "BYTES")]
    agent_max_line: usize,
    /// Copy NAME from this environment into process agents' (or set it to VALUE);
    /// repeatable. PATH, HOME, USER, LOGNAME, LANG, LC_ALL, LC_CTYPE, TZ and TMPDIR are
    /// always copied.
    #[arg(long = "agent-env", value_name = "NAME[=VALUE]")]
    agent_env: Vec<String>,
    /// Working directory of process agents (default: this one).
    #[arg(long, value_name = "DIR")]
    agent_cwd: Option<PathBuf>,
    /// stderr lines per second that become `log` events (0: no limit).
    #[arg(long, default_value_t = 100, value_name = "N")]
    agent_stderr_rate: u32,
    /// stderr lines per job that become `log` events.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    agent_stderr_max_lines: u64,
}

/// `NAME[@VERSION]=COMMAND LINE`.
fn parse_agent(s: &str) -> Result<(AgentRef, ProcessAgent), String> {
    let (agent, command) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME[@VERSION]=COMMAND LINE, got {s:?}"))?;
    let agent = AgentRef::parse(agent).map_err(|e| e.to_string())?;
    let process = ProcessAgent::from_command_line(command).map_err(|e| e.to_string())?;
    Ok((agent, process))
}

/// `NAME@VERSION`.
fn parse_default(s: &str) -> Result<(String, String), String> {
    match AgentRef::parse(s) {
        Ok(AgentRef {
            name,
            version: Some(v),
        }) => Ok((name, v)),
        _ => Err(format!("expected NAME@VERSION, got {s:?}")),
    }
}

impl AgentArgs {
    /// `true` when any `--agent` is given.
    pub(super) fn any(&self) -> bool {
        !self.agents.is_empty()
    }

    /// Adds the process agents and defaults to `b` (over the demo agents with `demo`),
    /// checked first so that a conflict is a usage error before anything is bound.
    pub(super) fn apply(&self, mut b: ServerBuilder, demo: bool) -> Result<ServerBuilder, Failure> {
        let mut scratch = if demo {
            arcp_agents::demo_agents()
        } else {
            arcp_agents::AgentRegistry::new()
        };
        let agents = self
            .agents
            .iter()
            .map(|(r, p)| (r.name.clone(), r.version.clone(), p.clone()));
        register_process_agents(&mut scratch, agents, &self.defaults).map_err(Failure::Usage)?;
        let seconds = |s: f64| Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO);
        for (r, process) in &self.agents {
            let mut p = process
                .clone()
                .grace(seconds(self.agent_grace))
                .kill_after(seconds(self.agent_kill_after))
                .max_line_bytes(self.agent_max_line)
                .stderr_limits(StderrLimits {
                    lines_per_sec: self.agent_stderr_rate,
                    max_lines: self.agent_stderr_max_lines,
                    ..StderrLimits::default()
                });
            for e in &self.agent_env {
                p = match e.split_once('=') {
                    Some((k, v)) => p.env_value(k, v),
                    None => p.env(e.as_str()),
                };
            }
            if let Some(dir) = &self.agent_cwd {
                p = p.cwd(dir.clone());
            }
            b = b.process_agent(&r.name, r.version.as_deref(), p);
        }
        for (name, version) in &self.defaults {
            b = b.agent_default(name, version);
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flags_parse_name_version_and_command() {
        let (r, p) = parse_agent("echo@1.0.0=python3 'my agent.py' --x=1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.version.as_deref()),
            ("echo", Some("1.0.0"))
        );
        assert_eq!(
            p.command(),
            (
                "python3",
                &["my agent.py".to_owned(), "--x=1".to_owned()][..]
            )
        );
        let (r, _) = parse_agent("tool=./t").unwrap();
        assert_eq!((r.name.as_str(), r.version), ("tool", None));
        assert_eq!(
            parse_agent("echo").unwrap_err(),
            "expected NAME[@VERSION]=COMMAND LINE, got \"echo\""
        );
        assert_eq!(parse_agent("echo=").unwrap_err(), "empty command line");
        assert_eq!(
            parse_default("echo").unwrap_err(),
            "expected NAME@VERSION, got \"echo\""
        );
        assert_eq!(
            parse_default("versioned@2.0.0").unwrap(),
            ("versioned".to_owned(), "2.0.0".to_owned())
        );
    }
}
