//! `arcp serve`'s SIGTERM drain (`--drain-grace`): the node leaves a load balancer's rotation
//! (`/healthz` answers 503, new WebSocket upgrades are refused 503), lets its running jobs
//! finish for up to the grace, then closes every connection 1001 (going away) and exits 0.
//! SIGINT (Ctrl-C) and `--exit-after` still shut down at once (1000).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// `arcp serve`'s drain flag.
#[derive(Debug, clap::Args)]
pub(super) struct DrainArgs {
    /// On SIGTERM: answer `/healthz` 503 and refuse new connections, let the running jobs
    /// finish for up to SEC seconds, then close every connection with 1001 (going away) and
    /// exit 0 (0 = close at once).
    #[arg(long = "drain-grace", value_name = "SEC", default_value_t = 30.0,
          value_parser = super::parse_seconds)]
    pub(super) grace: f64,
}

impl DrainArgs {
    /// The grace as a duration.
    pub(super) fn grace(&self) -> Duration {
        Duration::try_from_secs_f64(self.grace).unwrap_or(Duration::MAX)
    }
}

/// Resolves on SIGTERM. The handler is installed here, before the future is first polled
/// (a SIGTERM right after `LISTENING` is printed drains instead of killing the process);
/// never resolves where there are no Unix signals.
pub(super) fn sigterm() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut s) = signal(SignalKind::terminate()) {
            return Box::pin(async move {
                s.recv().await;
            });
        }
    }
    Box::pin(std::future::pending())
}

#[cfg(test)]
mod tests {
    use crate::{Cli, Command};
    use clap::Parser;
    use std::time::Duration;

    fn grace(extra: &[&str]) -> Result<Duration, clap::Error> {
        let mut argv = vec!["arcp", "serve", "--port", "0"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(a) => Ok(a.drain.grace()),
            _ => panic!("not serve"),
        }
    }

    #[test]
    fn the_grace_is_30_s_by_default_and_takes_fractions_and_zero() {
        assert_eq!(grace(&[]).unwrap(), Duration::from_secs(30));
        assert_eq!(grace(&["--drain-grace", "0"]).unwrap(), Duration::ZERO);
        assert_eq!(
            grace(&["--drain-grace", "1.5"]).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(grace(&["--drain-grace", "-1"]).is_err());
        assert!(grace(&["--drain-grace", "soon"]).is_err());
    }
}
