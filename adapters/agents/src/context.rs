//! [`JobContext`]: what a running agent gets — the job's identity, lease and credentials, and
//! every way to talk to the runtime (events, cost, the lease gate, result streaming,
//! delegation, credential rotation), the adapter's timer and the cancellation signal.

use crate::agent::AgentError;
use crate::base64::encode_base64;
use crate::cancel::{CancelToken, Cancelled};
use crate::host::{JobEnd, JobHost};
use crate::registry::AgentRegistry;
use crate::tools::{ToolRegistry, until_cancelled};
use arcp_proto::lease::Operation;
use arcp_proto::runtime::{AgentEvent, AgentReply, AgentStart};
use arcp_proto::wire::{
    AgentRef, ArtifactRefBody, Budget, ChunkEncoding, Credential, ErrorPayload, EventBody, JobId,
    LeaseConstraints, LeaseMap, LogBody, MetricBody, MetricValue, ProgressBody, StatusBody,
    ThoughtBody, ToolCallBody, ToolResultBody, TraceId,
};
use serde_json::{Map, Number, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The result stream's bookkeeping, shared with [`crate::run_job`].
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    /// The next `chunk_seq`.
    pub next_seq: u64,
    /// Chunks emitted.
    pub chunks: u64,
    /// `summary` of the streamed result.
    pub summary: Option<String>,
}

#[derive(Debug)]
struct Shared {
    start: AgentStart,
    credentials: Mutex<Vec<Credential>>,
    stream: Mutex<StreamState>,
    rotations: Mutex<u64>,
    /// Runtime-hosted tool calls made so far (numbers the `tool_call_id`s).
    tool_calls: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Handed to a running agent. Cheap to clone; clones share the stream state.
#[derive(Clone)]
pub struct JobContext {
    shared: Arc<Shared>,
    host: Arc<dyn JobHost>,
    cancel: CancelToken,
    registry: Option<Arc<AgentRegistry>>,
    tools: Option<Arc<ToolRegistry>>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.shared.start.job_id)
            .field("agent", &self.shared.start.agent)
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// A context for the job of `start`. `registry` (when given) resolves child agent
    /// references for [`JobContext::resolve_agent`].
    pub fn new(
        start: AgentStart,
        host: Arc<dyn JobHost>,
        cancel: CancelToken,
        registry: Option<Arc<AgentRegistry>>,
    ) -> Self {
        JobContext {
            shared: Arc::new(Shared {
                credentials: Mutex::new(start.credentials.clone()),
                start,
                stream: Mutex::new(StreamState::default()),
                rotations: Mutex::new(0),
                tool_calls: Mutex::new(0),
            }),
            host,
            cancel,
            registry,
            tools: None,
        }
    }

    /// This context with the server's runtime-hosted `tools`, reached through
    /// [`JobContext::call_tool`].
    pub fn with_tools(mut self, tools: Arc<ToolRegistry>) -> Self {
        self.tools = Some(tools);
        self
    }

    // ---- getters --------------------------------------------------------------------

    /// The job's id.
    pub fn job_id(&self) -> &JobId {
        &self.shared.start.job_id
    }

    /// The resolved agent (`name@version`, bare for an unversioned agent).
    pub fn agent(&self) -> &AgentRef {
        &self.shared.start.agent
    }

    /// The job's input as submitted (`null` when absent).
    pub fn input(&self) -> &Value {
        &self.shared.start.input
    }

    /// The effective lease.
    pub fn lease(&self) -> &LeaseMap {
        &self.shared.start.lease
    }

    /// The lease constraints.
    pub fn lease_constraints(&self) -> Option<&LeaseConstraints> {
        self.shared.start.lease_constraints.as_ref()
    }

    /// The job's provisioned credentials (§9.8), with rotated values.
    pub fn credentials(&self) -> Vec<Credential> {
        lock(&self.shared.credentials).clone()
    }

    /// The submitting principal.
    pub fn principal(&self) -> &str {
        &self.shared.start.principal
    }

    /// The job's trace id.
    pub fn trace_id(&self) -> Option<&TraceId> {
        self.shared.start.trace_id.as_ref()
    }

    /// The parent job of a delegated child.
    pub fn parent_job_id(&self) -> Option<&JobId> {
        self.shared.start.parent_job_id.as_ref()
    }

    /// `max_runtime_sec` (the runtime enforces it, [D8]).
    ///
    /// [D8]: arcp_proto::compat#d8--timeout
    pub fn max_runtime_sec(&self) -> Option<u32> {
        self.shared.start.max_runtime_sec
    }

    // ---- events ---------------------------------------------------------------------

    /// Hands any agent event to the runtime and returns its answer. An `Err` means the
    /// event was refused; the job is unchanged (or has already ended). A host may answer an
    /// event of the stream (one that only a job that ended refuses,
    /// `AgentEvent::refused_only_when_ended`) `Ok` before the runtime takes it, in order;
    /// the refusal of a job that ended meanwhile then comes with a later emit.
    pub async fn emit(&self, event: AgentEvent) -> Result<AgentReply, AgentError> {
        self.host
            .emit(self.job_id(), event)
            .await
            .map_err(AgentError::from)
    }

    /// Emits a `job.event` of `body`.
    pub async fn event(&self, body: EventBody) -> Result<(), AgentError> {
        self.emit(AgentEvent::Event(body)).await.map(|_| ())
    }

    /// `log {level, message}`.
    pub async fn log(&self, level: &str, message: &str) -> Result<(), AgentError> {
        self.event(EventBody::Log(LogBody {
            level: level.to_owned(),
            message: message.to_owned(),
            attributes: None,
            extra: Map::new(),
        }))
        .await
    }

    /// `thought {text}`.
    pub async fn thought(&self, text: &str) -> Result<(), AgentError> {
        self.event(EventBody::Thought(ThoughtBody {
            text: text.to_owned(),
            extra: Map::new(),
        }))
        .await
    }

    /// `status {phase, message?}`.
    pub async fn status(&self, phase: &str, message: Option<&str>) -> Result<(), AgentError> {
        self.event(EventBody::Status(StatusBody {
            phase: phase.to_owned(),
            message: message.map(str::to_owned),
            id: None,
            value: None,
            extra: Map::new(),
        }))
        .await
    }

    /// `metric {name, value, unit?}` with a numeric value. A `cost.*` metric whose unit is a
    /// budgeted currency decrements the budget; prefer [`JobContext::cost`] for exact
    /// amounts.
    pub async fn metric(
        &self,
        name: &str,
        value: impl Into<Number>,
        unit: Option<&str>,
    ) -> Result<(), AgentError> {
        self.metric_value(name, MetricValue::Number(value.into()), unit)
            .await
    }

    /// `metric {name, value, unit?}` with any value (a number or a decimal string).
    pub async fn metric_value(
        &self,
        name: &str,
        value: MetricValue,
        unit: Option<&str>,
    ) -> Result<(), AgentError> {
        self.event(EventBody::Metric(MetricBody {
            name: name.to_owned(),
            value,
            unit: unit.map(str::to_owned),
            attributes: None,
            extra: Map::new(),
        }))
        .await
    }

    /// Reports a cost: `metric {name, value: amount, unit: currency}` with the exact decimal
    /// `amount` (e.g. `"0.40"`). `name` should start with `cost.`. The runtime decrements the
    /// budget and emits `cost.budget.remaining`; a negative amount is refused ([D31]) with an
    /// error and nothing is emitted.
    ///
    /// [D31]: arcp_proto::compat#d31--negative-cost
    pub async fn cost(&self, name: &str, amount: &str, currency: &str) -> Result<(), AgentError> {
        self.metric_value(name, MetricValue::Text(amount.to_owned()), Some(currency))
            .await
    }

    /// `tool_call {tool_call_id, name, arguments}`.
    pub async fn tool_call(
        &self,
        id: &str,
        name: &str,
        arguments: Value,
    ) -> Result<(), AgentError> {
        self.event(EventBody::ToolCall(ToolCallBody {
            tool_call_id: id.to_owned(),
            name: name.to_owned(),
            arguments: Some(arguments),
            extra: Map::new(),
        }))
        .await
    }

    /// `tool_result {tool_call_id, output}`.
    pub async fn tool_result(&self, id: &str, output: Value) -> Result<(), AgentError> {
        self.event(EventBody::ToolResult(ToolResultBody {
            tool_call_id: id.to_owned(),
            output: Some(output),
            error: None,
            extra: Map::new(),
        }))
        .await
    }

    /// `tool_result {tool_call_id, error}`.
    pub async fn tool_error(&self, id: &str, error: ErrorPayload) -> Result<(), AgentError> {
        self.event(EventBody::ToolResult(ToolResultBody {
            tool_call_id: id.to_owned(),
            output: None,
            error: Some(error),
            extra: Map::new(),
        }))
        .await
    }

    /// `progress {current, total?, units?, message?}` (`current` any non-negative number,
    /// [D33]).
    ///
    /// [D33]: arcp_proto::compat#d33--progress-current
    pub async fn progress(
        &self,
        current: impl Into<Number>,
        total: Option<u64>,
        units: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), AgentError> {
        self.event(EventBody::Progress(ProgressBody {
            current: current.into(),
            total: total.map(Number::from),
            units: units.map(str::to_owned),
            message: message.map(str::to_owned),
            extra: Map::new(),
        }))
        .await
    }

    /// `artifact_ref {…}`.
    pub async fn artifact_ref(&self, body: ArtifactRefBody) -> Result<(), AgentError> {
        self.event(EventBody::ArtifactRef(body)).await
    }

    // ---- streamed results (§8.4, D32) -----------------------------------------------

    /// Streams one chunk of the result; the context numbers the chunks (`chunk_seq` from 0).
    /// The runtime holds each chunk back until the next one or the job's end, so the last
    /// data chunk leaves with `more: false` and no extra empty chunk is needed ([D32]). After
    /// streaming, the agent returns `null`.
    ///
    /// [D32]: arcp_proto::compat#d32--chunk-order
    pub async fn result_chunk(
        &self,
        data: impl Into<String>,
        encoding: ChunkEncoding,
    ) -> Result<(), AgentError> {
        let seq = lock(&self.shared.stream).next_seq;
        self.result_chunk_at(seq, data.into(), encoding, true).await
    }

    /// Streams one chunk with an explicit `chunk_seq` and `more` flag (the runtime refuses
    /// out-of-order chunks by failing the job `INVALID_REQUEST`, [D32]).
    ///
    /// [D32]: arcp_proto::compat#d32--chunk-order
    pub async fn result_chunk_at(
        &self,
        chunk_seq: u64,
        data: String,
        encoding: ChunkEncoding,
        more: bool,
    ) -> Result<(), AgentError> {
        {
            let mut st = lock(&self.shared.stream);
            st.next_seq = st.next_seq.max(chunk_seq.saturating_add(1));
            st.chunks += 1;
        }
        self.emit(AgentEvent::ResultChunk {
            chunk_seq,
            data,
            encoding,
            more,
        })
        .await
        .map(|_| ())
    }

    /// Streams `text` as `utf8` chunks of `chunk_chars` characters (at least 1). Returns the
    /// number of chunks; an empty text streams one empty chunk.
    pub async fn stream_utf8(&self, text: &str, chunk_chars: usize) -> Result<u64, AgentError> {
        let size = chunk_chars.max(1);
        let chars: Vec<char> = text.chars().collect();
        let mut n = 0u64;
        for run in chars.chunks(size) {
            self.result_chunk(run.iter().collect::<String>(), ChunkEncoding::Utf8)
                .await?;
            n += 1;
        }
        if n == 0 {
            self.result_chunk(String::new(), ChunkEncoding::Utf8)
                .await?;
            n = 1;
        }
        Ok(n)
    }

    /// Streams `bytes` as `base64` chunks of `chunk_bytes` bytes (at least 1) each. Returns
    /// the number of chunks; empty data streams one empty chunk.
    pub async fn stream_base64(&self, bytes: &[u8], chunk_bytes: usize) -> Result<u64, AgentError> {
        let size = chunk_bytes.max(1);
        let mut n = 0u64;
        for run in bytes.chunks(size) {
            self.result_chunk(encode_base64(run), ChunkEncoding::Base64)
                .await?;
            n += 1;
        }
        if n == 0 {
            self.result_chunk(String::new(), ChunkEncoding::Base64)
                .await?;
            n = 1;
        }
        Ok(n)
    }

    /// Sets the `summary` of the streamed result's `job.result`.
    pub fn set_summary(&self, summary: impl Into<String>) {
        lock(&self.shared.stream).summary = Some(summary.into());
    }

    /// Chunks streamed so far.
    pub fn chunks_sent(&self) -> u64 {
        lock(&self.shared.stream).chunks
    }

    pub(crate) fn take_summary(&self) -> Option<String> {
        lock(&self.shared.stream).summary.take()
    }

    // ---- the lease gate ---------------------------------------------------------------

    /// Checks an operation against the lease: expiry (`LEASE_EXPIRED`), pattern
    /// (`PERMISSION_DENIED`), budget (`BUDGET_EXHAUSTED`) ([D29], [D30]).
    ///
    /// [D29]: arcp_proto::compat#d29--globs
    /// [D30]: arcp_proto::compat#d30--expiry
    pub async fn authorize(&self, namespace: &str, target: &str) -> Result<(), AgentError> {
        self.host
            .authorize(self.job_id(), Operation::new(namespace, target))
            .await
            .map_err(AgentError::from)
    }

    /// [`JobContext::authorize`] of `model.use` on `model`.
    pub async fn authorize_model(&self, model: &str) -> Result<(), AgentError> {
        self.authorize("model.use", model).await
    }

    /// A checked operation: the same gate as [`JobContext::authorize`], returning the target
    /// exactly as it was matched, for the agent to act on (a normalised path, a canonical
    /// URL, a name as given). A refusal is `PERMISSION_DENIED`, `LEASE_EXPIRED` or
    /// `BUDGET_EXHAUSTED`, and the runtime audits it.
    pub async fn check(&self, namespace: &str, target: &str) -> Result<String, AgentError> {
        self.host
            .check_operation(self.job_id(), Operation::new(namespace, target))
            .await
            .map_err(AgentError::from)
    }

    /// Checks `fs.read` of `path` and returns the path to open: absolute, without `.`, `..`
    /// or empty segments (`/project/a/../b.txt` → `/project/b.txt`). A relative path, a NUL,
    /// a `\` or a `..` above `/` is refused.
    pub async fn check_fs_read(&self, path: &str) -> Result<String, AgentError> {
        self.check("fs.read", path).await
    }

    /// Checks `fs.write` of `path` and returns the normalised path to write (see
    /// [`JobContext::check_fs_read`]).
    pub async fn check_fs_write(&self, path: &str) -> Result<String, AgentError> {
        self.check("fs.write", path).await
    }

    /// Checks `net.fetch` of `url` and returns the URL to fetch: lower-cased scheme and
    /// host, the port only when not the scheme's default, the normalised path, the query as
    /// given and no fragment (`HTTPS://Api.Example.com:443/v1/./x?q=1#f` →
    /// `https://api.example.com/v1/x?q=1`). Userinfo and percent-encoded dots or slashes are
    /// refused.
    pub async fn check_net_fetch(&self, url: &str) -> Result<String, AgentError> {
        self.check("net.fetch", url).await
    }

    /// Checks `model.use` of `model` and returns the model name.
    pub async fn check_model(&self, model: &str) -> Result<String, AgentError> {
        self.check("model.use", model).await
    }

    /// Calls the runtime-hosted tool `name` with `args`:
    ///
    /// 1. checks `tool.call` on `name` against the lease (expiry, patterns, budget); a
    ///    refusal returns the error and emits nothing (the runtime audits it);
    /// 2. a name the server's tool registry does not hold: `INVALID_REQUEST`, nothing emitted;
    /// 3. emits `tool_call {tool_call_id: "call_<n>", name, arguments}` (n counts from 1 per
    ///    job), then charges the tool's declared cost, if any, as
    ///    `metric {name: "cost.tool", value, unit: currency, attributes: {tool,
    ///    tool_call_id}}` (which decrements a budget in that currency and is followed by
    ///    `cost.budget.remaining`);
    /// 4. runs the tool; when the job is cancelled meanwhile the tool is dropped, nothing more
    ///    is emitted and `CANCELLED` is returned;
    /// 5. emits `tool_result {tool_call_id, output}` and returns the output, or
    ///    `tool_result {tool_call_id, error}` and returns that error.
    pub async fn call_tool(&self, name: &str, args: Value) -> Result<Value, AgentError> {
        self.check("tool.call", name).await?;
        let Some((tool, cost)) = self.tools.as_ref().and_then(|t| t.get(name)) else {
            return Err(AgentError::invalid_input(format!(
                "tool {name} is not registered"
            )));
        };
        let id = {
            let mut n = lock(&self.shared.tool_calls);
            *n += 1;
            format!("call_{n}")
        };
        self.tool_call(&id, name, args.clone()).await?;
        if let Some(c) = cost {
            let mut attributes = Map::new();
            attributes.insert("tool".into(), Value::String(name.to_owned()));
            attributes.insert("tool_call_id".into(), Value::String(id.clone()));
            self.event(EventBody::Metric(MetricBody {
                name: "cost.tool".to_owned(),
                value: MetricValue::Text(c.value.to_string()),
                unit: Some(c.currency.clone()),
                attributes: Some(Value::Object(attributes)),
                extra: Map::new(),
            }))
            .await?;
        }
        let Some(outcome) = until_cancelled(tool.call(args), &self.cancel).await else {
            return Err(AgentError::new(
                arcp_proto::wire::ErrorCode::Cancelled,
                "the job was cancelled during the tool call",
            ));
        };
        match outcome {
            Ok(output) => {
                self.tool_result(&id, output.clone()).await?;
                Ok(output)
            }
            Err(e) => {
                // §12: the tool's flag, normalised per code.
                let e = AgentError {
                    retryable: Some(e.code.normalize_retryable(e.retryable)),
                    ..e
                };
                self.tool_error(&id, e.to_payload()).await?;
                Err(e)
            }
        }
    }

    /// The remaining budget counters (`None`: unbudgeted).
    pub async fn budget(&self) -> Option<Budget> {
        self.host.budget(self.job_id()).await
    }

    // ---- credentials, delegation ------------------------------------------------------

    /// Rotates credential `id` of the job (§9.8): a fresh value from the host (or a derived
    /// demo value), announced as `status {phase: "credential_rotated", id, value}` (the value
    /// reaches only sessions allowed to see it, [D9], [D13]). Returns the new value.
    ///
    /// [D9]: arcp_proto::compat#d9--job-subscribed
    /// [D13]: arcp_proto::compat#d13--credential-constraints
    pub async fn rotate_credential(&self, id: &str) -> Result<String, AgentError> {
        let n = {
            let mut r = lock(&self.shared.rotations);
            let n = *r;
            *r += 1;
            n
        };
        let value = match self.host.rotated_secret(self.job_id(), id) {
            Some(v) => v,
            None => {
                let old = lock(&self.shared.credentials)
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.value.clone())
                    .unwrap_or_default();
                let tail = old.strip_prefix("virt-").unwrap_or(&old);
                format!("virt-rotated-{n}-{tail}")
            }
        };
        self.emit(AgentEvent::CredentialRotated {
            id: id.to_owned(),
            value: value.clone(),
        })
        .await?;
        if let Some(c) = lock(&self.shared.credentials)
            .iter_mut()
            .find(|c| c.id == id)
        {
            c.value = value.clone();
        }
        Ok(value)
    }

    /// Delegates to a child job (§10, [D28]): the runtime checks `agent.delegate` on the
    /// child's name and the subset lease, emits `delegate` on this job and starts the child
    /// on the same session. Returns the child's job id.
    ///
    /// [D28]: arcp_proto::compat#d28--delegation
    pub async fn delegate(
        &self,
        agent: AgentRef,
        input: Value,
        lease: LeaseMap,
        lease_constraints: Option<LeaseConstraints>,
    ) -> Result<JobId, AgentError> {
        let reply = self
            .emit(AgentEvent::Delegate {
                agent,
                input,
                lease,
                lease_constraints,
            })
            .await?;
        match reply {
            AgentReply::Delegated { child_job_id } => Ok(child_job_id),
            _ => Err(AgentError::internal("delegation started no child job")),
        }
    }

    /// `agent` as the runtime resolves it: a bare name gets the registry's default version.
    pub fn resolve_agent(&self, agent: &AgentRef) -> AgentRef {
        match (&agent.version, &self.registry) {
            (None, Some(r)) => r.resolve_ref(agent).unwrap_or_else(|| agent.clone()),
            _ => agent.clone(),
        }
    }

    /// Resolves when job `job_id` (e.g. a child) has ended.
    pub async fn wait_job(&self, job_id: &JobId) -> JobEnd {
        self.host.wait_job(job_id).await
    }

    // ---- time, cancellation -----------------------------------------------------------

    /// The adapter's timer.
    pub async fn sleep(&self, d: Duration) {
        self.host.sleep(d).await;
    }

    /// Resolves when the job is cancelled (cancel, `max_runtime_sec`, lease expiry, shutdown).
    pub fn cancelled(&self) -> Cancelled {
        self.cancel.cancelled()
    }

    /// `true` once the job was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}
