//! One job of a process agent, from spawn to reaping (`docs/agent-protocol.md` §4–§7): the
//! `start` line, the agent's lines mapped onto the [`JobContext`], the replies, the end, and
//! the stop sequence (`cancel`, grace, SIGTERM, SIGKILL). Runs as its own task, so that it
//! outlives the agent future `run_job` drops when the job is cancelled.

use super::codec::{self, AgentLine};
use super::lines::{LineReader, Read};
use super::process::{Exit, Process};
use super::spec::{MAX_UNANSWERED, Spec};
use arcp_agents::{AgentError, BoxFuture, JobContext, JobEnd};
use arcp_proto::wire::{
    AgentRef, ErrorCode, ErrorPayload, EventBody, FinalStatus, JobId, LeaseConstraints, LeaseMap,
    MetricValue,
};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// How long, after the job's own end was handed over (or its token fired), to wait for the
/// runtime to record the end before writing `cancel`; without an end the runtime is shutting
/// down.
const END_WAIT: Duration = Duration::from_secs(1);

/// The outcome `run_job` turns into the job's terminal.
pub(crate) type Outcome = Result<Value, AgentError>;

/// A line for the agent's stdin.
enum Out {
    /// `start`, `cancel`.
    Line(Vec<u8>),
    /// A `reply` (counted as answered once written).
    Reply(Vec<u8>),
    /// Close stdin.
    Close,
}

/// Writes the queued lines to the agent's stdin; counts the replies written.
async fn stdin_writer(mut stdin: ChildStdin, mut rx: mpsc::Receiver<Out>, written: Arc<AtomicU64>) {
    let mut broken = false;
    while let Some(out) = rx.recv().await {
        let (bytes, reply) = match out {
            Out::Close => return,
            Out::Line(b) => (b, false),
            Out::Reply(b) => (b, true),
        };
        // An agent that closed its stdin gets nothing more; its requests still count as
        // answered.
        if !broken && stdin.write_all(&bytes).await.is_err() {
            broken = true;
        }
        if reply {
            written.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Why the main loop stopped.
enum Ending {
    /// The agent's `result` or `error`.
    Agent(Outcome),
    /// A protocol error (§7.3): the job ends `INTERNAL_ERROR` with this message.
    Protocol(String),
    /// The job's token fired: the runtime ended the job (or is shutting down).
    Cancelled,
}

/// What handling one line led to.
enum Step {
    Next,
    End(Ending),
}

/// A delegated child's end, for the `delegate` request `id`.
type ChildDone = (u64, JobId, AgentRef, JobEnd);

struct Job {
    ctx: JobContext,
    spec: Arc<Spec>,
    process: Process,
    /// Resolves when the leader has exited (not reaped).
    exit_wait: Pin<Box<dyn Future<Output = Exit> + Send>>,
    exit: Option<Exit>,
    reader: LineReader<BufReader<ChildStdout>>,
    stdin: mpsc::Sender<Out>,
    /// Replies written to stdin (by the writer task).
    written: Arc<AtomicU64>,
    /// Requests received.
    received: u64,
    last_id: u64,
    line_no: u64,
    delegates: JoinSet<ChildDone>,
}

/// Runs the job of `ctx`: hands the agent's end (or a protocol error) to `outcome`, then
/// stops and reaps the process.
pub(crate) async fn run(spec: Arc<Spec>, ctx: JobContext, outcome: oneshot::Sender<Outcome>) {
    // Waits for this job's own end (registered now, so the end is seen when it comes).
    let mut own_end: BoxFuture<'static, JobEnd> = {
        let (c, id) = (ctx.clone(), ctx.job_id().clone());
        Box::pin(async move { c.wait_job(&id).await })
    };
    std::future::poll_fn(|cx| {
        let _ = own_end.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
    let budget = ctx.budget().await;
    let (process, pipes) = match Process::spawn(&spec, &ctx) {
        Ok(p) => p,
        Err(e) => {
            let message = format!("agent process could not be started: {e}");
            let _ = outcome.send(Err(AgentError::internal(message)));
            return;
        }
    };
    let written = Arc::new(AtomicU64::new(0));
    // Replies are at most MAX_UNANSWERED (counted until written), plus `start`, `cancel`
    // and the close: the queue never refuses one.
    let (stdin, rx) = mpsc::channel(MAX_UNANSWERED as usize + 3);
    tokio::spawn(stdin_writer(pipes.stdin, rx, written.clone()));
    let _ = stdin.try_send(Out::Line(codec::start(&ctx, budget.as_ref())));
    let ended = Arc::new(AtomicBool::new(false));
    tokio::spawn(super::stderr::run(
        pipes.stderr,
        ctx.clone(),
        spec.stderr,
        ended.clone(),
    ));
    let pid = process.pid();
    let mut job = Job {
        exit_wait: Box::pin(super::process::exited(nix::unistd::Pid::from_raw(pid))),
        process,
        reader: LineReader::new(
            BufReader::with_capacity(64 << 10, pipes.stdout),
            spec.max_line,
        ),
        ctx,
        spec,
        exit: None,
        stdin,
        written,
        received: 0,
        last_id: 0,
        line_no: 0,
        delegates: JoinSet::new(),
    };
    let ending = job.main_loop().await;
    ended.store(true, Ordering::Release);
    job.delegates.abort_all();
    match ending {
        Ending::Agent(end) => {
            let _ = outcome.send(end);
            let _ = job.stdin.try_send(Out::Close);
            job.stop(true).await;
        }
        Ending::Protocol(message) => {
            let _ = outcome.send(Err(AgentError::internal(message.clone())));
            // The job is terminal on the wire first, then `cancel` (§7.2).
            let _ = tokio::time::timeout(END_WAIT, own_end).await;
            job.cancel("error", Some("INTERNAL_ERROR"), Some(&message));
            job.stop(false).await;
        }
        Ending::Cancelled => {
            drop(outcome);
            match tokio::time::timeout(END_WAIT, own_end).await {
                Ok(end) => {
                    let (reason, code) = match end.status {
                        FinalStatus::Cancelled => ("cancelled", None),
                        FinalStatus::TimedOut => ("timed_out", None),
                        FinalStatus::Error | FinalStatus::Success => {
                            ("error", end.error_code.as_ref().map(ErrorCode::as_str))
                        }
                    };
                    job.cancel(reason, code, None);
                }
                Err(_) => job.cancel("shutdown", None, None),
            }
            job.stop(false).await;
        }
    }
}

fn invalid(message: String) -> ErrorPayload {
    ErrorPayload::new(ErrorCode::InvalidRequest, message)
}

impl Job {
    /// Writes `cancel` and closes stdin.
    fn cancel(&self, reason: &str, code: Option<&str>, message: Option<&str>) {
        let grace_ms = u64::try_from(self.spec.grace.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .stdin
            .try_send(Out::Line(codec::cancel(reason, code, message, grace_ms)));
        let _ = self.stdin.try_send(Out::Close);
    }

    fn reply(&self, id: u64, r: Result<Value, ErrorPayload>) {
        let line = match r {
            Ok(v) => codec::reply_ok(id, v),
            Err(e) => codec::reply_err(id, &e),
        };
        let _ = self.stdin.try_send(Out::Reply(line));
    }

    /// Reads and handles lines until the job ends.
    async fn main_loop(&mut self) -> Ending {
        let mut cancelled = self.ctx.cancelled();
        // Set once the leader has exited: how long stdout may stay open after it.
        let mut eof_by: Option<tokio::time::Instant> = None;
        loop {
            let read = tokio::select! {
                biased;
                () = &mut cancelled => return Ending::Cancelled,
                e = &mut self.exit_wait, if self.exit.is_none() => {
                    self.exit = Some(e);
                    self.process.kill_group_and_reap().await;
                    eof_by = Some(tokio::time::Instant::now() + self.spec.grace);
                    continue;
                }
                () = sleep_until(eof_by), if eof_by.is_some() => {
                    return Ending::Protocol(self.exit.unwrap_or(Exit::Unknown).message());
                }
                Some(done) = self.delegates.join_next(), if !self.delegates.is_empty() => {
                    if let Ok((id, child, agent, end)) = done {
                        self.reply(id, Ok(child_result(child, &agent, end)));
                    }
                    continue;
                }
                r = self.reader.next() => r,
            };
            match read {
                Err(e) => {
                    return Ending::Protocol(format!("agent's stdout could not be read: {e}"));
                }
                Ok(Read::Eof) => return self.at_eof(&mut cancelled).await,
                Ok(Read::TooLong) => {
                    return Ending::Protocol(format!(
                        "agent wrote a line longer than {} bytes (line {})",
                        self.spec.max_line,
                        self.line_no + 1
                    ));
                }
                Ok(Read::Line) => {
                    self.line_no += 1;
                    if self.reader.buf.is_empty() {
                        continue;
                    }
                    let line = match codec::parse(&self.reader.buf, self.line_no) {
                        Ok(l) => l,
                        Err(m) => return Ending::Protocol(m),
                    };
                    let step = tokio::select! {
                        biased;
                        () = &mut cancelled => return Ending::Cancelled,
                        s = self.handle(line) => s,
                    };
                    if let Step::End(e) = step {
                        return e;
                    }
                }
            }
        }
    }

    /// stdout ended without an end: the process's exit status when it exits within the
    /// grace period, else "closed its stdout".
    async fn at_eof(&mut self, cancelled: &mut arcp_agents::Cancelled) -> Ending {
        if let Some(e) = self.exit {
            return Ending::Protocol(e.message());
        }
        tokio::select! {
            biased;
            () = cancelled => Ending::Cancelled,
            e = &mut self.exit_wait => {
                self.exit = Some(e);
                self.process.kill_group_and_reap().await;
                Ending::Protocol(e.message())
            }
            () = tokio::time::sleep(self.spec.grace) => {
                Ending::Protocol("agent closed its stdout before ending the job".to_owned())
            }
        }
    }

    /// Handles one line of the agent.
    async fn handle(&mut self, line: AgentLine) -> Step {
        let n = self.line_no;
        if let Some(id) = line.request_id() {
            if id <= self.last_id {
                return protocol(format!("agent reused request id {id} (line {n})"));
            }
            self.last_id = id;
            let unanswered = self
                .received
                .saturating_sub(self.written.load(Ordering::Acquire));
            if unanswered >= MAX_UNANSWERED {
                return protocol(format!(
                    "agent has more than {MAX_UNANSWERED} unanswered requests (line {n})"
                ));
            }
            self.received += 1;
        }
        let ctx = &self.ctx;
        match line {
            AgentLine::Event { id, kind, body } => {
                if kind == "result_chunk" || kind == "delegate" {
                    return protocol(format!(
                        "agent wrote a reserved event kind {} (line {n})",
                        Value::String(kind)
                    ));
                }
                let body = match EventBody::from_raw(&kind, body.get()) {
                    Ok(b) => b,
                    Err(e) => {
                        return protocol(format!(
                            "agent wrote an invalid \"event\" message (line {n}): {e}"
                        ));
                    }
                };
                if let EventBody::Status(s) = &body
                    && s.phase == "credential_rotated"
                {
                    return protocol(format!(
                        "agent wrote a reserved event kind \"status\" with phase \"credential_rotated\" (line {n})"
                    ));
                }
                let r = ctx.event(body).await;
                match (id, r) {
                    (Some(id), r) => {
                        self.reply(id, r.map(|()| codec::empty()).map_err(|e| e.to_payload()))
                    }
                    (None, Err(e)) => {
                        tracing::warn!(job_id = %ctx.job_id(), "process agent's {kind} event refused: {e}");
                    }
                    (None, Ok(())) => {}
                }
            }
            AgentLine::Chunk {
                chunk_seq,
                data,
                encoding,
                more,
            } => {
                // The runtime's checks end the job itself (its token fires).
                let _ = ctx.result_chunk_at(chunk_seq, data, encoding, more).await;
            }
            AgentLine::Authorize {
                id,
                namespace,
                target,
            } => {
                let r = ctx.check(&namespace, &target).await;
                self.reply(id, r.map(codec::target).map_err(|e| e.to_payload()));
            }
            AgentLine::Cost {
                id,
                name,
                amount,
                currency,
            } => {
                let value = match amount {
                    Value::Number(n) => MetricValue::Number(n),
                    Value::String(s) => MetricValue::Text(s),
                    other => MetricValue::Text(other.to_string()),
                };
                let r = ctx.metric_value(&name, value, Some(&currency)).await;
                self.reply(id, r.map(|()| codec::empty()).map_err(|e| e.to_payload()));
            }
            AgentLine::Budget { id } => {
                let b = ctx.budget().await;
                self.reply(id, Ok(json!({ "budget": b })));
            }
            AgentLine::Delegate {
                id,
                agent,
                input,
                lease,
                lease_constraints,
            } => {
                let r = delegate(ctx, agent, input, lease, lease_constraints).await;
                match r {
                    Ok((child, agent)) => {
                        let c = self.ctx.clone();
                        self.delegates.spawn(async move {
                            let end = c.wait_job(&child).await;
                            (id, child, agent, end)
                        });
                    }
                    Err(e) => self.reply(id, Err(e)),
                }
            }
            AgentLine::Rotate { id, credential_id } => {
                let r = if ctx.credentials().iter().any(|c| c.id == credential_id) {
                    ctx.rotate_credential(&credential_id)
                        .await
                        .map(|value| json!({"id": credential_id, "value": value}))
                        .map_err(|e| e.to_payload())
                } else {
                    Err(invalid(format!(
                        "job has no credential \"{credential_id}\""
                    )))
                };
                self.reply(id, r);
            }
            AgentLine::Result { value, summary } => {
                if let Some(s) = summary {
                    ctx.set_summary(s);
                }
                return Step::End(Ending::Agent(Ok(value.unwrap_or(Value::Null))));
            }
            AgentLine::Error {
                code,
                message,
                retryable,
            } => {
                return Step::End(Ending::Agent(Err(AgentError {
                    code: ErrorCode::parse(&code),
                    message,
                    retryable,
                })));
            }
        }
        Step::Next
    }

    /// After the job's end: keeps reading stdout (after the agent's own end, anything it
    /// writes is logged and its group killed at once, §7.1; after `cancel`, discarded),
    /// waits for the exit through the grace period, SIGTERM, SIGKILL; then SIGKILLs the group
    /// and reaps the leader.
    async fn stop(&mut self, after_own_end: bool) {
        if self.exit.is_some() {
            return;
        }
        let Job {
            ctx,
            spec,
            process,
            exit_wait,
            reader,
            ..
        } = self;
        let job_id = ctx.job_id();
        let drain = async {
            if after_own_end {
                loop {
                    match reader.next().await {
                        Ok(Read::Line) if reader.buf.is_empty() => continue,
                        Ok(Read::Line | Read::TooLong) => {
                            tracing::warn!(%job_id, "process agent wrote after its end; killing its process group");
                            process.signal_group(Signal::SIGKILL);
                            break;
                        }
                        Ok(Read::Eof) | Err(_) => break,
                    }
                }
            }
            reader.drain().await;
            std::future::pending::<()>().await
        };
        let schedule = async {
            tokio::select! {
                _ = &mut *exit_wait => return,
                () = tokio::time::sleep(spec.grace) => process.signal_group(Signal::SIGTERM),
            }
            tokio::select! {
                _ = &mut *exit_wait => return,
                () = tokio::time::sleep(spec.kill_after) => process.signal_group(Signal::SIGKILL),
            }
            exit_wait.await;
        };
        tokio::select! {
            () = schedule => {}
            () = drain => {}
        }
        self.process.kill_group_and_reap().await;
    }
}

/// Starts a child job (§6.3.4): the child's id and resolved agent, or the refusal.
async fn delegate(
    ctx: &JobContext,
    agent: String,
    input: Value,
    lease: Value,
    constraints: Value,
) -> Result<(JobId, AgentRef), ErrorPayload> {
    let agent = AgentRef::parse(&agent).map_err(|e| invalid(format!("agent: {e}")))?;
    let lease: LeaseMap = match lease {
        Value::Null => LeaseMap::default(),
        v => serde_json::from_value(v).map_err(|e| invalid(format!("lease: {e}")))?,
    };
    let constraints: Option<LeaseConstraints> = match constraints {
        Value::Null => None,
        v => Some(
            serde_json::from_value(v).map_err(|e| invalid(format!("lease_constraints: {e}")))?,
        ),
    };
    let resolved = ctx.resolve_agent(&agent);
    let child = ctx
        .delegate(agent, input, lease, constraints)
        .await
        .map_err(|e| e.to_payload())?;
    Ok((child, resolved))
}

fn protocol(message: String) -> Step {
    Step::End(Ending::Protocol(message))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The `delegate` reply once the child ended (§6.3.4).
fn child_result(child: JobId, agent: &AgentRef, end: JobEnd) -> Value {
    let mut out = json!({
        "child_job_id": child,
        "agent": agent.to_string(),
        "final_status": end.status.status().as_str(),
    });
    if let Some(r) = end.result {
        out["result"] = r;
    }
    if let Some(c) = end.error_code {
        out["error_code"] = json!(c.as_str());
    }
    out
}
