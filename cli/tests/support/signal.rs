//! Signals to a child process (`kill -SIG PID`) and a bounded wait for its exit.
#![allow(dead_code)]

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Sends `SIG` (e.g. `"TERM"`, `"INT"`) to `child`.
pub fn send(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {}: {status}", child.id());
}

/// Waits for `child` to exit, at most `within`; panics when it is still running.
pub fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < until, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
