'use strict';
/**
 * Write an ARCP agent in JavaScript, hosted by the arcp-proto runtime as a child process.
 *
 * Speaks the agent line protocol `arcp-agent/1` (docs/agent-protocol.md) on stdin/stdout.
 * Node.js standard library only (CommonJS). Usage:
 *
 *   const { run } = require('./arcp_agent');
 *   run(async (input, ctx) => {
 *     await ctx.log('info', 'hello');
 *     const path = await ctx.authorize('fs.read', input.path); // throws AgentError when refused
 *     return { read: path };
 *   });
 *
 * Every ctx call is async. After `cancel` arrives, the next call (and any call waiting for a
 * reply, and `ctx.sleep`) throws `Cancelled`: rethrow it. `run` sends `console.log` to stderr
 * (the runtime turns stderr lines into `warn` logs); never write to process.stdout yourself.
 * JSON numbers are doubles here: integers beyond 2^53 in the input lose precision.
 */
const fs = require('fs');
const readline = require('readline');

const PROTOCOL = 'arcp-agent/1';
const PREFIX = 'arcp_agent: ';

/** Ends the job with job.error of `code` (a §12 code); also a refused request. */
class AgentError extends Error {
  constructor(code, message, retryable) {
    super(message);
    this.name = 'AgentError';
    this.code = code;
    this.retryable = retryable;
  }

  /** {code, message, retryable}, retryable defaulting as the runtime does. */
  toPayload() {
    const r = this.retryable !== undefined && this.retryable !== null ? this.retryable : this.code === 'INTERNAL_ERROR';
    return { code: this.code, message: this.message, retryable: r };
  }
}

/** The job was stopped (`cancel`, or stdin closed). Let it propagate out of the handler. */
class Cancelled extends Error {
  constructor(reason = 'cancelled', code = null, detail = null) {
    super(reason);
    this.name = 'Cancelled';
    this.reason = reason;
    this.code = code;
    this.detail = detail;
  }
}

function opt(body, optional) {
  for (const [k, v] of Object.entries(optional)) if (v !== undefined && v !== null) body[k] = v;
  return body;
}

class Context {
  constructor(start, out) {
    const agent = start.agent || '';
    const at = agent.indexOf('@');
    Object.assign(this, {
      start, jobId: start.job_id, agent, input: start.input === undefined ? null : start.input,
      agentName: at < 0 ? agent : agent.slice(0, at), agentVersion: at < 0 ? null : agent.slice(at + 1),
      lease: start.lease || {}, leaseConstraints: start.lease_constraints || null,
      credentials: (start.credentials || []).map((c) => ({ ...c })), principal: start.principal,
      traceId: start.trace_id || null, parentJobId: start.parent_job_id || null,
      maxRuntimeSec: start.max_runtime_sec ?? null, features: start.features || [],
    });
    this.expiresAt = (this.leaseConstraints || {}).expires_at || null;
    this._out = out;
    this._nextId = 0;
    this._pending = new Map();
    this._sleepers = new Set();
    this._cancel = null;
    this._ended = false;
    this._drain = null;
    this._chunkSeq = 0;
    this._chunks = 0;
    this._summary = null;
  }

  // ---- plumbing ------------------------------------------------------------------------

  _check() {
    if (this._cancel) throw this._cancel;
    if (this._ended) throw new Error(PREFIX + 'the job has ended');
  }

  _send(obj) {
    const line = JSON.stringify(obj) + '\n'; // throws before anything is written
    if (this._out.write(line)) return Promise.resolve();
    if (!this._drain) {
      this._drain = new Promise((resolve) => { this._drained = resolve; });
      this._out.once('drain', () => this._unblock());
    }
    return this._drain;
  }

  _unblock() {
    const resolve = this._drained;
    this._drain = this._drained = null;
    if (resolve) resolve();
  }

  _stop(reason, code, detail) {
    if (!this._cancel) this._cancel = new Cancelled(reason, code, detail);
    for (const p of this._pending.values()) p.reject(this._cancel);
    this._pending.clear();
    for (const s of this._sleepers) { clearTimeout(s.timer); s.reject(this._cancel); }
    this._sleepers.clear();
  }

  async _request(type, fields) {
    this._check();
    const id = ++this._nextId;
    const line = { type, id, ...fields };
    const reply = new Promise((resolve, reject) => this._pending.set(id, { resolve, reject }));
    reply.catch(() => {}); // a cancel may reject it before it is awaited
    try {
      await this._send(line);
    } catch (e) {
      this._pending.delete(id);
      throw e;
    }
    const r = await reply;
    if (r.ok) return r.result || {};
    const e = r.error || {};
    throw new AgentError(e.code || 'INTERNAL_ERROR', e.message || '', e.retryable);
  }

  /** Called for each runtime line after start; returns an error text for a violation. */
  _deliver(msg) {
    if (msg.type === 'reply') {
      const p = Number.isInteger(msg.id) ? this._pending.get(msg.id) : undefined;
      if (!p) return `the runtime replied to unknown request id ${JSON.stringify(msg.id ?? null)}`;
      this._pending.delete(msg.id);
      p.resolve(msg);
    } else if (msg.type === 'cancel') {
      this._stop(msg.reason || 'cancelled', msg.code ?? null, msg.message ?? null);
    } else if (msg.type === 'credential_rotated') {
      for (const c of this.credentials) if (c.id === msg.id) c.value = msg.value;
    } else if (msg.type === 'start') {
      return 'the runtime sent a second start message';
    }
    return null; // other types: ignored (protocol §3)
  }

  // ---- events (no answer) --------------------------------------------------------------

  /** Any job.event; {confirm: true} waits for the runtime to accept it (AgentError if not). */
  async event(kind, body, { confirm = false } = {}) {
    if (confirm) {
      await this._request('event', { kind, body });
      return;
    }
    this._check();
    await this._send({ type: 'event', kind, body });
  }

  log(level, message, attributes) { return this.event('log', opt({ level, message }, { attributes })); }
  thought(text) { return this.event('thought', { text }); }
  status(phase, message) { return this.event('status', opt({ phase }, { message })); }
  metric(name, value, unit, attributes) { return this.event('metric', opt({ name, value }, { unit, attributes })); }
  progress(current, { total, units, message } = {}) {
    return this.event('progress', opt({ current }, { total, units, message }));
  }
  toolCall(toolCallId, name, args) { return this.event('tool_call', { tool_call_id: toolCallId, name, arguments: args }); }
  toolResult(toolCallId, output) { return this.event('tool_result', { tool_call_id: toolCallId, output }); }
  /** `error`: an AgentError or a {code, message, retryable} object. */
  toolError(toolCallId, error) {
    const payload = error instanceof AgentError ? error.toPayload() : error;
    return this.event('tool_result', { tool_call_id: toolCallId, error: payload });
  }
  /** {artifact_id, media_type, size_bytes, uri, summary, sha256} */
  artifactRef(body) { return this.event('artifact_ref', opt({}, body)); }

  // ---- streamed results ----------------------------------------------------------------

  /** One chunk: a string goes as utf8, a Buffer/Uint8Array as base64. Numbered from 0
   * unless `seq` is given. The handler returns null/undefined after streaming. */
  async resultChunk(data, { encoding, seq, more = true } = {}) {
    if (typeof data !== 'string') {
      data = Buffer.from(data).toString('base64');
      encoding = encoding || 'base64';
    }
    const chunkSeq = seq === undefined || seq === null ? this._chunkSeq : seq;
    this._check();
    const p = this._send({ type: 'result_chunk', chunk_seq: chunkSeq, data, encoding: encoding || 'utf8', more });
    this._chunkSeq = Math.max(this._chunkSeq, chunkSeq + 1);
    this._chunks += 1;
    await p;
  }

  /** Streams every chunk of an (async) iterable (one empty chunk if none); returns the count. */
  async streamResult(chunks, { encoding } = {}) {
    let n = 0;
    for await (const c of chunks) {
      await this.resultChunk(c, { encoding });
      n += 1;
    }
    if (n === 0) {
      await this.resultChunk('', { encoding });
      n = 1;
    }
    return n;
  }

  /** The summary of the streamed result's job.result. */
  setSummary(summary) { this._summary = summary; }

  // ---- requests (answered) -------------------------------------------------------------

  /** The lease gate: resolves to the normalised target to act on; throws AgentError
   * (LEASE_EXPIRED, PERMISSION_DENIED, BUDGET_EXHAUSTED) when refused. */
  async authorize(namespace, target) { return (await this._request('authorize', { namespace, target })).target; }

  /** Reports a cost; `amount` a decimal string such as "0.40". */
  async cost(name, amount, currency) {
    await this._request('cost', { name, amount: typeof amount === 'number' ? amount : String(amount), currency });
  }

  /** The remaining counters ({USD: "USD:0.60"}), or null when unbudgeted. */
  async budget() { return (await this._request('budget', {})).budget ?? null; }

  /** Runs a child job and waits for it: {child_job_id, agent, final_status, result?, error_code?}. */
  async delegate(agent, input = null, { lease, leaseConstraints } = {}) {
    const fields = { agent, input, lease: lease ?? {} };
    if (leaseConstraints !== undefined && leaseConstraints !== null) fields.lease_constraints = leaseConstraints;
    return this._request('delegate', fields);
  }

  /** Rotates a credential; resolves to (and records in ctx.credentials) the new value. */
  async rotateCredential(credentialId) {
    const r = await this._request('rotate_credential', { credential_id: credentialId });
    for (const c of this.credentials) if (c.id === (r.id ?? credentialId)) c.value = r.value;
    return r.value;
  }

  // ---- time, cancellation --------------------------------------------------------------

  /** Sleeps `seconds`; rejects with Cancelled as soon as the job is cancelled. */
  sleep(seconds) {
    this._check();
    return new Promise((resolve, reject) => {
      const s = { reject };
      s.timer = setTimeout(() => { this._sleepers.delete(s); resolve(); }, Math.max(0, seconds * 1000));
      this._sleepers.add(s);
    });
  }

  get cancelled() { return this._cancel !== null; }
}

function stderr(text) {
  try { fs.writeSync(2, text + '\n'); } catch (_) { /* nowhere to report */ }
}

function parse(line) {
  let msg;
  try { msg = JSON.parse(line); } catch (_) { return null; }
  return msg !== null && typeof msg === 'object' && !Array.isArray(msg) && typeof msg.type === 'string' ? msg : null;
}

/** Exits `code` once `out` has taken everything; lingering handles get 200 ms. */
function finish(code) {
  process.exitCode = code;
  process.stdin.destroy();
  setTimeout(() => process.exit(code), 200).unref();
}

/**
 * Reads start, calls `handler(input, ctx)` and writes the end: `result` with its (awaited)
 * return value, or `error` from an AgentError (another exception: INTERNAL_ERROR with its
 * message; Cancelled: CANCELLED). Exit status 0; 2 when the runtime broke the protocol.
 */
function run(handler) {
  const out = process.stdout;
  console.log = console.info = console.debug = console.error; // stdout carries the protocol
  let ctx = null;
  let dead = false;
  out.on('error', () => {
    if (ctx) ctx._stop('eof', null, 'the runtime closed the pipe');
    if (ctx) ctx._unblock();
  });
  const fatal = (text) => {
    dead = true;
    rl.close();
    stderr(PREFIX + text);
    if (ctx && ctx._ended) return finish(2);
    if (ctx) ctx._ended = true;
    out.write(JSON.stringify({ type: 'error', code: 'INTERNAL_ERROR', message: PREFIX + text }) + '\n', () => finish(2));
  };
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (dead || line === '') return;
    const msg = parse(line);
    if (!msg) return fatal('the runtime sent a line that is not a JSON object');
    if (ctx) {
      const problem = ctx._deliver(msg);
      return problem ? fatal(problem) : undefined;
    }
    if (msg.type !== 'start') return fatal('the first line from the runtime is not a start message');
    if (msg.protocol !== PROTOCOL) {
      return fatal(`unsupported protocol ${JSON.stringify(msg.protocol ?? null)} (this helper speaks ${PROTOCOL})`);
    }
    try {
      ctx = new Context(msg, out);
    } catch (_) {
      return fatal('the runtime sent an invalid start message');
    }
    runHandler(ctx, handler).then((end) => {
      if (dead) return;
      let text;
      try {
        text = JSON.stringify(end);
      } catch (e) {
        text = JSON.stringify({ type: 'error', code: 'INTERNAL_ERROR', message: `result is not JSON: ${e.message}` });
      }
      ctx._ended = true;
      out.write(text + '\n', () => finish(0));
    });
  });
  rl.on('close', () => {
    if (dead) return;
    if (!ctx) {
      dead = true;
      stderr(PREFIX + 'stdin closed before the start message');
      finish(2);
    } else {
      ctx._stop('eof', null, 'the runtime closed stdin');
    }
  });
}

async function runHandler(ctx, handler) {
  let end;
  try {
    const value = await handler(ctx.input, ctx);
    if (ctx._cancel) throw ctx._cancel;
    end = { type: 'result' };
    if (ctx._chunks && (value === null || value === undefined)) {
      if (ctx._summary !== null && ctx._summary !== undefined) end.summary = ctx._summary;
    } else if (value !== null && value !== undefined) {
      end.value = value;
    }
  } catch (e) {
    if (e instanceof AgentError) {
      end = { type: 'error', code: e.code, message: e.message };
      if (e.retryable !== undefined && e.retryable !== null) end.retryable = e.retryable;
    } else if (e instanceof Cancelled) {
      end = { type: 'error', code: 'CANCELLED', message: `job stopped: ${e.reason}` };
    } else {
      stderr(e && e.stack ? e.stack : String(e));
      end = { type: 'error', code: 'INTERNAL_ERROR', message: (e && (e.message || e.name)) || String(e) };
    }
  }
  if (ctx._cancel) end = { type: 'error', code: 'CANCELLED', message: `job stopped: ${ctx._cancel.reason}` };
  return end;
}

module.exports = { run, AgentError, Cancelled, Context, PROTOCOL };
