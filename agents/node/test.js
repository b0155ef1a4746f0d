'use strict';
// Tests of arcp_agent.js through examples/echo.js, against a scripted runtime that plays the
// runtime's side of docs/agent-protocol.md over the agent's stdin/stdout.
// Run from agents/node: `node --test`.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const ECHO = path.join(__dirname, 'examples', 'echo.js');
const TIMEOUT_MS = 10000;
const JOB = 'job_01JZ8Q4M3ZK5V0N9D2H7XWQK1F';
const LOG = ev('log', { level: 'info', message: `echo running as echo@1.0.0 for ${JOB}` });
const BAD_LINE = 'arcp_agent: the runtime sent a line that is not a JSON object';

function ev(kind, body) { return { type: 'event', kind, body }; }
function ok(id, result) { return { type: 'reply', id, ok: true, result }; }
function refused(id, code, message) { return { type: 'reply', id, ok: false, error: { code, message, retryable: false } }; }
function authorize(id, target) { return { type: 'authorize', id, namespace: 'fs.read', target }; }

function start(input, over = {}) {
  return {
    type: 'start', protocol: 'arcp-agent/1', features: [], job_id: JOB, agent: 'echo@1.0.0', input,
    lease: {}, lease_constraints: null, budget: null, credentials: [], principal: 'alice', trace_id: null,
    parent_job_id: null, max_runtime_sec: null, ...over,
  };
}

/** One agent process: send() writes a line, line() resolves to the next stdout line. */
class Agent {
  constructor(script = ECHO) {
    this.proc = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.queue = [];
    this.waiters = [];
    this.stderr = '';
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
    const rl = readline.createInterface({ input: this.proc.stdout, crlfDelay: Infinity });
    rl.on('line', (l) => this.push(l));
    rl.on('close', () => this.push(null));
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w(item); else this.queue.push(item);
  }

  send(msg) {
    this.proc.stdin.write(Buffer.isBuffer(msg) ? Buffer.concat([msg, Buffer.from('\n')])
      : (typeof msg === 'string' ? msg : JSON.stringify(msg)) + '\n');
  }

  line() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line within ${TIMEOUT_MS} ms; stderr: ${this.stderr}`)), TIMEOUT_MS);
      this.waiters.push((item) => { clearTimeout(t); resolve(item); });
    });
  }

  async expect(...msgs) {
    for (const m of msgs) assert.equal(await this.line(), JSON.stringify(m));
  }

  /** Closes stdin (unless told not to), returns [exit status, remaining stdout lines]. */
  async finish(closeStdin = true) {
    if (closeStdin) this.proc.stdin.end();
    const code = await this.exited;
    const rest = [];
    for (let item = await this.line(); item !== null; item = await this.line()) rest.push(item);
    return [code, rest];
  }
}

async function assertEnd(agent, code = 0, closeStdin = true) {
  assert.deepEqual(await agent.finish(closeStdin), [code, []]);
}

test('start -> log -> authorize answered -> progress -> result', async () => {
  const a = new Agent();
  const input = { read: '/project/./src/main.rs', n: [1, 2.5, -3, null], t: 'h\u00e9llo \u2713' };
  a.send(start(input));
  await a.expect(LOG, authorize(1, '/project/./src/main.rs'));
  a.send(ok(1, { target: '/project/src/main.rs' }));
  await a.expect(ev('progress', { current: 1, total: 1, units: 'files', message: '/project/src/main.rs' }),
    { type: 'result', value: input });
  await assertEnd(a);
  assert.equal(a.stderr, '');
});

test('a tour of every call', async () => {
  const creds = [{ id: 'cred_A', scheme: 'bearer', value: 'virt-A' }, { id: 'cred_B', scheme: 'bearer', value: 'virt-B' }];
  const a = new Agent(path.join(__dirname, 'examples', 'tour.js'));
  a.send(start(null, { agent: 'tour@1.0.0', budget: { USD: 'USD:1.00' }, credentials: creds }));
  await a.expect(ev('thought', { text: 'planning the tour' }),
    ev('status', { phase: 'tour.start', message: 'protocol arcp-agent/1' }), { type: 'budget', id: 1 });
  a.send(ok(1, { budget: { USD: 'USD:1.00' } }));
  await a.expect(ev('log', { level: 'info', message: 'budget {"USD":"USD:1.00"}', attributes: { step: 1 } }),
    { type: 'cost', id: 2, name: 'cost.inference', amount: '0.25', currency: 'USD' });
  a.send(ok(2, {}));
  await a.expect({ type: 'event', id: 3, kind: 'x-vendor.note', body: { n: 1 } });
  a.send({ type: 'reply', id: 3, ok: false, error: { code: 'INVALID_REQUEST', message: 'no', retryable: false } });
  await a.expect(ev('log', { level: 'warn', message: 'note refused: INVALID_REQUEST' }),
    ev('tool_call', { tool_call_id: 't1', name: 'search', arguments: { q: 'arcp' } }),
    ev('tool_result', { tool_call_id: 't1', output: { hits: 2 } }),
    { type: 'delegate', id: 4, agent: 'echo', input: { ping: 1 }, lease: { 'fs.read': ['/p/**'] } });
  a.send(ok(4, { child_job_id: 'job_c', agent: 'echo@1.0.0', final_status: 'success', result: { ping: 1 } }));
  await a.expect(ev('metric', { name: 'child.ok', value: 1, unit: 'bool' }),
    { type: 'rotate_credential', id: 5, credential_id: 'cred_A' });
  a.send({ type: 'credential_rotated', id: 'cred_B', value: 'virt-B2' });
  a.send(ok(5, { id: 'cred_A', value: 'virt-A2' }));
  await a.expect(ev('log', { level: 'info', message: 'credentials virt-A2,virt-B2' }),
    ev('artifact_ref', { artifact_id: 'art_1', media_type: 'text/plain', size_bytes: 2, uri: 'mem://tour' }),
    { type: 'result_chunk', chunk_seq: 0, data: 'AAH/', encoding: 'base64', more: true },
    { type: 'result_chunk', chunk_seq: 1, data: 'text \u2713', encoding: 'utf8', more: true },
    { type: 'result', summary: '2 chunks' });
  await assertEnd(a);
});

test('exact bytes of a result line', async () => {
  const a = new Agent();
  a.send('{"type":"start","protocol":"arcp-agent/1","job_id":"' + JOB + '","agent":"echo@1.0.0","input":{"f":1.0,"s":"\u2713\\"\\n","i":9007199254740993}}');
  await a.expect(LOG);
  // JavaScript numbers are doubles: 1.0 prints as 1, 2^53+1 rounds to 2^53 (documented).
  assert.equal(await a.line(), '{"type":"result","value":{"f":1,"s":"\u2713\\"\\n","i":9007199254740992}}');
  await assertEnd(a);
});

test('null input gives a result without value', async () => {
  const a = new Agent();
  a.send(start(null));
  await a.expect(LOG, { type: 'result' });
  await assertEnd(a);
});

test('a refused authorization ends with its code', async () => {
  const a = new Agent();
  a.send(start({ read: '/etc/passwd' }));
  await a.expect(LOG, authorize(1, '/etc/passwd'));
  const msg = 'operation fs.read:/etc/passwd not permitted by lease';
  a.send(refused(1, 'PERMISSION_DENIED', msg));
  await a.expect({ type: 'error', code: 'PERMISSION_DENIED', message: msg, retryable: false });
  await assertEnd(a);
});

test('cancel interrupts a sleep and ends CANCELLED', async () => {
  const a = new Agent();
  a.send(start({ sleep: 30, read: '/p/a' }));
  await a.expect(LOG);
  a.send({ type: 'cancel', reason: 'cancelled', code: null, message: 'interop.cancel', grace_ms: 5000 });
  await a.expect({ type: 'error', code: 'CANCELLED', message: 'job stopped: cancelled' });
  await assertEnd(a, 0, false);
});

test('cancel while waiting for a reply', async () => {
  const a = new Agent();
  a.send(start({ read: '/p/a' }));
  await a.expect(LOG, authorize(1, '/p/a'));
  a.send({ type: 'cancel', reason: 'timed_out', code: null, message: null, grace_ms: 5000 });
  await a.expect({ type: 'error', code: 'CANCELLED', message: 'job stopped: timed_out' });
  await assertEnd(a);
});

test('stdin closed mid-job stops the agent', async () => {
  const a = new Agent();
  a.send(start({ read: '/p/a' }));
  await a.expect(LOG, authorize(1, '/p/a'));
  a.proc.stdin.end();
  await a.expect({ type: 'error', code: 'CANCELLED', message: 'job stopped: eof' });
  await assertEnd(a, 0, false);
});

test('unknown message types and members are ignored', async () => {
  const a = new Agent();
  a.send(start({ read: '/p/a' }, { x_future: { a: 1 } }));
  await a.expect(LOG, authorize(1, '/p/a'));
  a.send({ type: 'x-advisory', note: 'ignored' });
  a.send('');
  a.send({ type: 'reply', id: 1, ok: true, result: { target: '/p/a', extra: true }, more: 1 });
  await a.expect(ev('progress', { current: 1, total: 1, units: 'files', message: '/p/a' }),
    { type: 'result', value: { read: '/p/a' } });
  await assertEnd(a);
});

test('malformed first line', async () => {
  const a = new Agent();
  a.send('{not json');
  await a.expect({ type: 'error', code: 'INTERNAL_ERROR', message: BAD_LINE });
  await assertEnd(a, 2);
  assert.equal(a.stderr, BAD_LINE + '\n');
});

test('first line not start', async () => {
  const a = new Agent();
  a.send({ type: 'cancel', reason: 'cancelled' });
  await a.expect({ type: 'error', code: 'INTERNAL_ERROR', message: 'arcp_agent: the first line from the runtime is not a start message' });
  await assertEnd(a, 2);
});

test('unsupported protocol version', async () => {
  const a = new Agent();
  a.send(start(1, { protocol: 'arcp-agent/2' }));
  await a.expect({ type: 'error', code: 'INTERNAL_ERROR',
    message: 'arcp_agent: unsupported protocol "arcp-agent/2" (this helper speaks arcp-agent/1)' });
  await assertEnd(a, 2);
});

test('invalid start members', async () => {
  for (const over of [{ agent: 5 }, { credentials: 7 }]) {
    const a = new Agent();
    a.send(start(1, over));
    await a.expect({ type: 'error', code: 'INTERNAL_ERROR', message: 'arcp_agent: the runtime sent an invalid start message' });
    await assertEnd(a, 2);
  }
});

test('malformed line mid-job', async () => {
  for (const bad of ['[1,2]', '{"id":1}', Buffer.from([0xff, 0x7b, 0x7d]), '\u00ff{',
    '{"type":"reply","id":1,"ok":true,"result":{"target":NaN']) {
    const a = new Agent();
    a.send(start({ read: '/p/a' }));
    await a.expect(LOG, authorize(1, '/p/a'));
    a.send(bad);
    await a.expect({ type: 'error', code: 'INTERNAL_ERROR', message: BAD_LINE });
    await assertEnd(a, 2);
  }
});

test('reply to an unknown id', async () => {
  const a = new Agent();
  a.send(start({ read: '/p/a' }));
  await a.expect(LOG, authorize(1, '/p/a'));
  a.send(ok(2, { target: '/p/a' }));
  await a.expect({ type: 'error', code: 'INTERNAL_ERROR', message: 'arcp_agent: the runtime replied to unknown request id 2' });
  await assertEnd(a, 2);
});

test('second start', async () => {
  const a = new Agent();
  a.send(start({ read: '/p/a' }));
  await a.expect(LOG, authorize(1, '/p/a'));
  a.send(start(1));
  await a.expect({ type: 'error', code: 'INTERNAL_ERROR', message: 'arcp_agent: the runtime sent a second start message' });
  await assertEnd(a, 2);
});

test('stdin closed before start', async () => {
  const a = new Agent();
  await assertEnd(a, 2);
  assert.equal(a.stderr, 'arcp_agent: stdin closed before the start message\n');
});
