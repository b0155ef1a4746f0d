//! The open-loop figures: `--open-loop-sessions` sessions (opened before the clock starts)
//! share `--open-loop-rate` `echo` submits per second for `--open-loop-secs` seconds. Submit
//! `k` is due at `t0 + k / rate` and goes on session `k mod sessions`, whatever the earlier
//! submits' fate (not one outstanding per session): the load does not slow down when the
//! runtime does. Each submit's accept latency is taken from its due time, not from when it
//! was written, so a client that falls behind (a full socket, a late timer) counts against
//! the runtime instead of hiding its stalls (coordinated omission). The send lag (due → written)
//! is printed beside it: tokio's timers have a millisecond grain, so the lag's p50 is ~0.5 ms.
//!
//! Every session then reads to its last result, for at most [`DRAIN`] after the last due
//! time; what arrived is counted exactly (`open_loop_accepted`, `open_loop_results_received`).
//!
//! `--open-loop-search R1,R2,…` runs the rates in increasing order on fresh sessions and
//! stops at the first one that does not hold (accept p99 over [`P99_BOUND`], a submit not
//! accepted or a result missing, or a failure); `open_loop_max_rate_p99_10ms` is the highest
//! rate that held (0: none).

use super::load::{Ws, close_all, frame_type, open_sessions, submit};
use super::{figure, per_sec, percentile, percentiles};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

/// How long sessions read for missing accepts and results after the last due time.
pub(super) const DRAIN: Duration = Duration::from_secs(30);
/// The search's bound on the accept p99.
pub(super) const P99_BOUND: Duration = Duration::from_millis(10);
/// The common start is this far after the sessions are opened, so every session's task is
/// waiting on its first due time when it comes.
const START_DELAY: Duration = Duration::from_millis(20);

/// One open-loop run's parameters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    /// Aggregate submits per second.
    pub rate: u64,
    /// Seconds of load.
    pub secs: u64,
    /// Sessions sharing the load.
    pub sessions: usize,
}

impl Plan {
    /// Submits in the run: `rate × secs`.
    pub(super) fn submits(&self) -> u64 {
        self.rate.saturating_mul(self.secs)
    }

    /// The due offset of submit `k` from the start.
    fn due(&self, k: u64) -> Duration {
        // k / rate seconds, in nanoseconds without floating point.
        let nanos = u128::from(k) * 1_000_000_000 / u128::from(self.rate.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The submit numbers session `j` sends: `j`, `j + sessions`, … below `submits()`.
    fn of_session(&self, j: usize) -> std::iter::StepBy<std::ops::Range<u64>> {
        (j as u64..self.submits()).step_by(self.sessions.max(1))
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    /// Submits written.
    pub sent: u64,
    /// Due → `job.accepted` of every accepted submit.
    pub accept: Vec<Duration>,
    /// Due → written of every submit.
    pub lag: Vec<Duration>,
    /// `job.result` frames received.
    pub results: u64,
    /// From the start to the last result.
    pub elapsed: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.sent += other.sent;
        self.accept.extend(other.accept);
        self.lag.extend(other.lag);
        self.results += other.results;
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Every submit was accepted and answered, with the accept p99 within `bound`.
    pub(super) fn holds(&self, plan: &Plan, bound: Duration) -> bool {
        let n = plan.submits();
        self.sent == n
            && self.accept.len() as u64 == n
            && self.results == n
            && percentile(&self.accept, 99.0) <= bound
    }
}

/// One open-loop run on fresh sessions of `url`.
pub(super) async fn run(url: &str, token: &str, plan: Plan) -> Result<Outcome, String> {
    if plan.rate == 0 || plan.sessions == 0 {
        return Err("--open-loop-rate and --open-loop-sessions must be at least 1".into());
    }
    let opened = open_sessions(url, token, plan.sessions).await?;
    let t0 = Instant::now() + START_DELAY;
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(j, ws)| tokio::spawn(session(ws, plan, j, t0)))
        .collect();
    let mut all = Outcome::default();
    let mut first_err = None;
    let mut done = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await.map_err(|e| e.to_string()) {
            Ok((ws, Ok(o))) => {
                all.merge(o);
                done.push(ws);
            }
            Ok((ws, Err(e))) => {
                first_err.get_or_insert(e);
                done.push(ws);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    close_all(done).await;
    match first_err {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

/// Session `j`'s part of `plan`: writes each of its submits when due while reading accepts
/// and results, then reads to its last result (at most [`DRAIN`] past the run's end).
async fn session(mut ws: Ws, plan: Plan, j: usize, t0: Instant) -> (Ws, Result<Outcome, String>) {
    let r = drive(&mut ws, plan, j, t0).await;
    (ws, r)
}

async fn drive(ws: &mut Ws, plan: Plan, j: usize, t0: Instant) -> Result<Outcome, String> {
    let mut due = plan.of_session(j).map(|k| t0 + plan.due(k)).peekable();
    let deadline = t0 + plan.due(plan.submits()) + DRAIN;
    let mut waiting: VecDeque<Instant> = VecDeque::new();
    let mut o = Outcome::default();
    loop {
        let next = due.peek().copied();
        if next.is_none() && waiting.is_empty() && o.results == o.sent {
            break;
        }
        tokio::select! {
            biased;
            () = sleep_until(next.unwrap_or(deadline)), if next.is_some() => {
                let Some(at) = due.next() else { continue };
                let frame = submit("echo", &format!(r#"{{"j":{j}}}"#));
                ws.send(Message::Text(frame.into()))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                o.lag.push(at.elapsed());
                o.sent += 1;
                waiting.push_back(at);
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => match frame_type(t.as_str()) {
                    "job.accepted" => {
                        // A session's submits are accepted in the order written.
                        if let Some(at) = waiting.pop_front() {
                            o.accept.push(at.elapsed());
                        }
                    }
                    "job.result" => {
                        o.results += 1;
                        o.elapsed = t0.elapsed();
                    }
                    "job.error" | "session.error" => {
                        return Err(format!("echo failed: {}", t.as_str()));
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(c))) => {
                    return Err(format!("closed by the runtime: {c:?}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("receive: {e}")),
                None => return Err("connection ended".into()),
            },
            () = sleep_until(deadline), if next.is_none() => break,
        }
    }
    Ok(o)
}

/// Prints the figures of one run (`open_loop_…`).
pub(super) fn print(plan: &Plan, o: &Outcome) {
    figure("open_loop_rate", plan.rate);
    figure("open_loop_secs", plan.secs);
    figure("open_loop_sessions", plan.sessions);
    figure("open_loop_submits", o.sent);
    figure("open_loop_accepted", o.accept.len());
    figure("open_loop_results_received", o.results);
    figure("open_loop_results_per_sec", per_sec(o.results, o.elapsed));
    percentiles(
        "open_loop_accept_us_p50",
        "open_loop_accept_us_p99",
        &o.accept,
    );
    percentiles(
        "open_loop_send_lag_us_p50",
        "open_loop_send_lag_us_p99",
        &o.lag,
    );
}

/// The search: each of `rates` in increasing order until one does not hold; one
/// `open_loop_search_<rate>_…` group per rate run, then `open_loop_max_rate_p99_10ms`.
pub(super) async fn search(url: &str, token: &str, rates: &[u64], secs: u64, sessions: usize) {
    let mut rates = rates.to_vec();
    rates.sort_unstable();
    rates.dedup();
    let mut best = 0;
    for rate in rates {
        let plan = Plan {
            rate,
            secs,
            sessions,
        };
        let held = match run(url, token, plan).await {
            Ok(o) => {
                let p = |name: &str| format!("open_loop_search_{rate}_{name}");
                figure(&p("submits"), o.sent);
                figure(&p("accepted"), o.accept.len());
                figure(&p("results_received"), o.results);
                percentiles(p("accept_us_p50"), p("accept_us_p99"), &o.accept);
                o.holds(&plan, P99_BOUND)
            }
            Err(e) => {
                eprintln!("arcp bench: open-loop rate {rate}: {e}");
                figure(&format!("open_loop_search_{rate}_failed"), 1);
                false
            }
        };
        if !held {
            break;
        }
        best = rate;
    }
    figure("open_loop_max_rate_p99_10ms", best);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submits_are_spread_round_robin_and_due_at_k_over_rate() {
        let plan = Plan {
            rate: 4,
            secs: 2,
            sessions: 3,
        };
        assert_eq!(plan.submits(), 8);
        assert_eq!(plan.of_session(0).collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(plan.of_session(2).collect::<Vec<_>>(), [2, 5]);
        let all: usize = (0..3).map(|j| plan.of_session(j).count()).sum();
        assert_eq!(all, 8);
        assert_eq!(plan.due(0), Duration::ZERO);
        assert_eq!(plan.due(3), Duration::from_millis(750));
        assert_eq!(plan.due(8), Duration::from_secs(2));
    }

    #[test]
    fn holds_needs_every_submit_answered_within_the_bound() {
        let plan = Plan {
            rate: 2,
            secs: 1,
            sessions: 1,
        };
        let ms = Duration::from_millis;
        let ok = Outcome {
            sent: 2,
            accept: vec![ms(1), ms(10)],
            lag: vec![],
            results: 2,
            elapsed: ms(500),
        };
        assert!(ok.holds(&plan, P99_BOUND));
        let slow = Outcome {
            accept: vec![ms(1), ms(11)],
            ..ok
        };
        assert!(!slow.holds(&plan, P99_BOUND));
        let missing = Outcome {
            sent: 2,
            accept: vec![ms(1), ms(1)],
            lag: vec![],
            results: 1,
            elapsed: ms(500),
        };
        assert!(!missing.holds(&plan, P99_BOUND));
    }
}
