//! The agent's process (`docs/agent-protocol.md` §4, §7): spawning it in its own process
//! group with an allowlisted environment, noticing its exit without reaping it, and
//! signalling its process group — SIGTERM, SIGKILL, and always SIGKILL once the leader has
//! exited, before it is reaped, so no process it started outlives the job and the group id
//! cannot have been reused.

use super::spec::Spec;
use arcp_agents::JobContext;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::process::Stdio;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

/// The environment variables copied from the runtime's environment when set (§4).
pub const DEFAULT_ENV_ALLOWLIST: [&str; 9] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
];

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// `exit(status)`.
    Status(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Gone, status unknown.
    Unknown,
}

impl Exit {
    /// The §7.3 message for a process that exited before ending its job.
    pub(crate) fn message(self) -> String {
        match self {
            Exit::Status(s) => {
                format!("agent process exited with status {s} before ending the job")
            }
            Exit::Signal(s) => {
                format!("agent process was killed by signal {s} before ending the job")
            }
            Exit::Unknown => "agent process exited before ending the job".to_owned(),
        }
    }
}

/// A spawned agent process. Dropped before it was reaped (the runtime shutting down, the
/// supervising task dropped) it SIGKILLs its process group.
pub(crate) struct Process {
    child: Child,
    pgid: Pid,
    reaped: bool,
}

/// The pipes of a spawned process.
pub(crate) struct Pipes {
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: ChildStdout,
    pub(crate) stderr: ChildStderr,
}

impl Process {
    /// Starts the agent's command for the job of `ctx` (no shell; its own process group;
    /// the cleared environment plus the allowlist, `--agent-env` and the `ARCP_*`
    /// variables).
    pub(crate) fn spawn(spec: &Spec, ctx: &JobContext) -> std::io::Result<(Process, Pipes)> {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        for name in DEFAULT_ENV_ALLOWLIST
            .iter()
            .copied()
            .chain(spec.env_copy.iter().map(String::as_str))
        {
            if let Some(v) = std::env::var_os(name) {
                cmd.env(name, v);
            }
        }
        for (k, v) in &spec.env_set {
            cmd.env(k, v);
        }
        cmd.env("ARCP_JOB_ID", ctx.job_id().as_str())
            .env("ARCP_AGENT", ctx.agent().to_string())
            .env("ARCP_AGENT_PROTOCOL", super::codec::PROTOCOL);
        if let Some(t) = ctx.trace_id() {
            cmd.env("ARCP_TRACE_ID", t.to_string());
        }
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn()?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| std::io::Error::other("spawned process has no pid"))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("spawned process has no pipes"));
        };
        let process = Process {
            child,
            pgid: Pid::from_raw(pid),
            reaped: false,
        };
        Ok((
            process,
            Pipes {
                stdin,
                stdout,
                stderr,
            },
        ))
    }

    /// The process id (= its process group id).
    pub(crate) fn pid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Sends `sig` to the process group, unless the leader was reaped (its id may have
    /// been reused since). A group already gone is not an error.
    pub(crate) fn signal_group(&self, sig: Signal) {
        if !self.reaped {
            let _ = killpg(self.pgid, sig);
        }
    }

    /// After [`exited`]: SIGKILLs the group (grandchildren included), then reaps
    /// the leader.
    pub(crate) async fn kill_group_and_reap(&mut self) {
        self.signal_group(Signal::SIGKILL);
        let _ = self.child.wait().await;
        self.reaped = true;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The supervising task was dropped (e.g. the runtime is shutting down): nothing will
        // run the kill schedule, so kill the group now. The zombie is reaped by tokio.
        self.signal_group(Signal::SIGKILL);
    }
}

/// Resolves when process `pid` (a child of this process) has exited, without reaping it.
pub(crate) async fn exited(pid: Pid) -> Exit {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    use tokio::signal::unix::{SignalKind, signal};
    // Registered before the first look, so an exit between the look and the wait still
    // wakes us. Without the signal stream (it cannot be registered), poll.
    let mut sigchld = signal(SignalKind::child()).ok();
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::Exited(_, code)) => return Exit::Status(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Exit::Signal(sig as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            // ECHILD: reaped elsewhere (cannot happen: only `kill_group_and_reap` reaps).
            Err(_) => return Exit::Unknown,
        }
        match sigchld.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}
