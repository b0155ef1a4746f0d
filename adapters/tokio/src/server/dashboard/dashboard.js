// ARCP dashboard: an ARCP v1.1 client in the browser (no framework, no build step, nothing
// fetched from elsewhere). It opens the runtime's WebSocket on this page's own origin, says
// session.hello with a bearer token the user typed (kept in sessionStorage only), lists the
// principal's jobs (session.list_jobs, refreshed), watches one job live (job.subscribe with
// history), submits jobs and cancels the jobs this tab's session submitted. The session's
// resume token and last event_seq are kept in sessionStorage, so a reload resumes the same
// session (session.hello + payload.resume) and keeps the right to cancel its jobs: only the
// submitting session may cancel (docs/compat.md, "Who may cancel").
"use strict";

(function () {
  // ---- constants -------------------------------------------------------------------------

  const CLIENT = { name: "arcp-dashboard", version: "0.1.0" };
  // What the page asks for. Not `ack` (acked frames are freed, and this page relies on its
  // session's buffer for the history of its own jobs after a reload), not
  // `provisioned_credentials` (a dashboard has no use for secrets).
  const WANTED = ["heartbeat", "list_jobs", "subscribe", "lease_expires_at", "cost.budget",
    "progress", "result_chunk", "agent_versions"];
  // Shown when a feature the page uses was not negotiated.
  const DEGRADED = {
    heartbeat: "The runtime did not negotiate heartbeat: a dead connection is noticed only when the browser notices it.",
    list_jobs: "The runtime did not negotiate list_jobs: the job list shows only the jobs this tab submits.",
    subscribe: "The runtime did not negotiate subscribe: jobs submitted elsewhere cannot be watched live.",
    progress: "The runtime did not negotiate progress: no progress bars.",
    result_chunk: "The runtime did not negotiate result_chunk: streamed results are not shown.",
    "cost.budget": "The runtime did not negotiate cost.budget: no budget figures.",
  };
  const TERMINAL = ["success", "error", "cancelled", "timed_out"];
  const KEY = { token: "arcp.dash.token", endpoint: "arcp.dash.endpoint",
    session: "arcp.dash.session", mine: "arcp.dash.mine" };
  const LIST_EVERY_MS = 2000;     // job list refresh period
  const LIST_PAGE = 500;          // session.list_jobs limit per page
  const LIST_MAX_PAGES = 10;      // pages read per refresh (at most 5,000 jobs)
  const LIST_SHOWN = 200;         // newest jobs shown
  const MAX_EVENTS = 500;         // events kept per job view (oldest dropped)
  const MAX_POINTS = 200;         // points kept per metric series
  const MAX_RESULT_CHARS = 65536; // assembled streamed result shown, at most
  const MAX_MINE = 1000;          // job ids remembered as submitted by this tab's session
  const MAX_VIEWS = 100;          // job views kept in memory
  const MAX_PENDING = 1000;       // unanswered requests remembered
  const RESUME_TRIES = 6;         // a reload may race the old connection's detach
  const EXAMPLES = {
    slow: ['{"seconds": 3, "tick": 0.25}', "{}"],
    echo: ['{"text": "hello"}', "{}"],
    chatty: ['{"count": 3}', "{}"],
    budget: ['{"cost": "0.40", "steps": 3}', '{"tool.call": ["paid-tool"], "cost.budget": ["USD:1.00"]}'],
    chunked: ['{"data": "a streamed result, eight bytes a chunk", "encoding": "utf8", "chunk_size": 8}', "{}"],
    failing: ["{}", "{}"],
    "tool-user": ['{"tools": ["lookup"]}', '{"tool.call": ["lookup"], "cost.budget": ["USD:1.00"]}'],
  };

  // ---- small helpers ---------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function newId() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return "dash_" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function load(key, fallback) {
    try {
      const v = sessionStorage.getItem(key);
      return v === null ? fallback : JSON.parse(v);
    } catch (_) {
      return fallback;
    }
  }
  function save(key, value) {
    if (value === undefined || value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  }
  function pretty(v) {
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  }
  function short(v, n) {
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }
  function defaultEndpoint() {
    const meta = document.querySelector('meta[name="arcp-ws-path"]');
    const path = (meta && meta.content) || "/arcp";
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  // ---- state -----------------------------------------------------------------------------

  const state = {
    ws: null,
    sessionId: null,
    features: new Set(),
    agents: [],
    ready: false,
    closing: false,        // the user asked to disconnect: no reconnect
    resumeTries: 0,
    backoff: 0,            // ms before the next reconnect
    reconnectTimer: null,
    listTimer: null,
    listing: null,         // {requestId, pages, jobs} while a refresh is in flight
    listed: [],            // last complete list (submission order)
    pending: new Map(),    // request id -> {kind, ...}
    jobs: new Map(),       // job id -> JobView
    selected: null,
    mine: new Set(load(KEY.mine, [])),
  };

  // Requests awaiting an answer, by envelope id. A successful cancel gets no answer of its
  // own, so the oldest entries are forgotten past MAX_PENDING.
  function track(id, what) {
    state.pending.set(id, what);
    while (state.pending.size > MAX_PENDING) state.pending.delete(state.pending.keys().next().value);
  }

  // One job's view, built from its frames.
  function newView(id) {
    return { id, agent: "", status: "", events: [], eventCount: 0, progress: new Map(),
      metrics: new Map(), result: undefined, error: null, chunks: new Map(), budget: null,
      awaiting: false, complete: false, lease: null };
  }
  function view(id) {
    let v = state.jobs.get(id);
    if (!v) {
      v = newView(id);
      state.jobs.set(id, v);
      // Forget the oldest views (a forgotten one is rebuilt from history when selected).
      for (const old of state.jobs.keys()) {
        if (state.jobs.size <= MAX_VIEWS) break;
        if (old !== state.selected && old !== id) state.jobs.delete(old);
      }
    }
    return v;
  }

  // ---- redraws, at most once per animation frame ------------------------------------------

  // A busy job sends many frames a second: they update the state at once and the page is
  // redrawn once per frame.
  const dirty = { list: false, job: false, frame: 0 };
  function schedule() {
    if (!dirty.frame) dirty.frame = requestAnimationFrame(flush);
  }
  function flush() {
    dirty.frame = 0;
    if (dirty.list) drawList();
    if (dirty.job) drawJob();
    dirty.list = dirty.job = false;
  }
  function renderList() {
    dirty.list = true;
    schedule();
  }
  function render() {
    dirty.job = true;
    schedule();
  }

  // ---- notices ---------------------------------------------------------------------------

  function notice(key, text, level) {
    let n = document.querySelector('#notices [data-notice="' + CSS.escape(key) + '"]');
    if (!text) {
      if (n) n.remove();
      return;
    }
    if (!n) {
      n = el("p", { "data-notice": key, class: "notice " + (level || "info") });
      $("notices").appendChild(n);
    }
    n.textContent = text;
  }
  function clearNotices(prefix) {
    for (const n of document.querySelectorAll("#notices [data-notice]")) {
      if (n.dataset.notice.startsWith(prefix)) n.remove();
    }
  }
  function setConn(s, text) {
    const c = $("conn-state");
    c.dataset.state = s;
    c.textContent = text || s;
  }

  // ---- connection ------------------------------------------------------------------------

  function send(type, payload, extra) {
    const id = newId();
    const frame = Object.assign({ arcp: "1.1", id, type }, extra || {});
    if (state.sessionId && type !== "session.hello") frame.session_id = state.sessionId;
    frame.payload = payload;
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
    return id;
  }

  function connect() {
    const token = load(KEY.token, null);
    if (!token) return;
    clearTimeout(state.reconnectTimer);
    state.closing = false;
    state.ready = false;
    const url = load(KEY.endpoint, null) || defaultEndpoint();
    setConn("connecting", "connecting…");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      setConn("failed", "cannot connect");
      notice("conn", "Cannot open " + url + ": " + e.message, "error");
      return;
    }
    state.ws = ws;
    ws.onopen = () => hello(token);
    ws.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (_) {
        notice("proto", "The runtime sent a frame that is not JSON.", "error");
        return;
      }
      onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (state.ws !== ws) return;
      state.ws = null;
      const was = state.ready;
      state.ready = false;
      stopListing();
      if (state.closing) {
        // A refused hello keeps saying so.
        if ($("conn-state").dataset.state !== "failed") setConn("disconnected");
        return;
      }
      // A dropped connection resumes: at once after a working session, then backing off
      // (0.5 s doubling to at most 10 s) while the runtime cannot be reached.
      state.backoff = was ? 500 : Math.min(2 * (state.backoff || 250), 10000);
      setConn("reconnecting", "disconnected (code " + ev.code + "), reconnecting in " +
        state.backoff / 1000 + " s…");
      state.reconnectTimer = setTimeout(connect, state.backoff);
    };
  }

  function hello(token) {
    const payload = {
      client: CLIENT,
      auth: { scheme: "bearer", token },
      capabilities: { encodings: ["json"], features: WANTED },
    };
    const saved = load(KEY.session, null);
    if (saved && saved.session_id && saved.resume_token) {
      payload.resume = { session_id: saved.session_id, resume_token: saved.resume_token,
        last_event_seq: saved.last_seq || 0 };
    }
    track(send("session.hello", payload), { kind: "hello", resume: !!payload.resume });
  }

  function disconnect() {
    state.closing = true;
    if (state.ws) {
      send("session.bye", { reason: "client.close" });
      state.ws.close(1000);
    }
    save(KEY.token, null);
    save(KEY.session, null);
    save(KEY.mine, null);
    state.mine.clear();
    state.sessionId = null;
    location.reload();
  }

  // ---- frames ----------------------------------------------------------------------------

  function onFrame(f) {
    const p = f.payload || {};
    if (typeof f.event_seq === "number") noteSeq(f.event_seq);
    switch (f.type) {
      case "session.welcome": return onWelcome(f, p);
      case "session.error": return onError(p);
      case "session.ping":
        return send("session.pong", { ping_nonce: p.nonce, received_at: new Date().toISOString() });
      case "session.jobs": return onJobs(p);
      case "session.bye":
      case "session.closed":
        return;
      case "job.accepted": return onAccepted(f, p);
      case "job.subscribed": return onSubscribed(f, p);
      case "job.event": return onJobFrame(f, p, "event");
      case "job.result": return onJobFrame(f, p, "result");
      case "job.error": return onJobFrame(f, p, "error");
      default:
        return;
    }
  }

  function noteSeq(seq) {
    const s = load(KEY.session, null);
    if (s && seq > (s.last_seq || 0)) {
      s.last_seq = seq;
      save(KEY.session, s);
    }
  }

  function onWelcome(f, p) {
    const sid = p.session_id || f.session_id;
    const saved = load(KEY.session, null);
    const resumed = !!(saved && saved.session_id === sid);
    state.sessionId = sid;
    state.resumeTries = 0;
    save(KEY.session, { session_id: sid, resume_token: p.resume_token,
      last_seq: resumed ? saved.last_seq || 0 : 0 });
    if (!resumed) {
      // A new session cannot cancel what an earlier one submitted.
      state.mine.clear();
      save(KEY.mine, null);
    }
    const offered = new Set((p.capabilities && p.capabilities.features) || []);
    state.features = new Set(WANTED.filter((x) => offered.has(x)));
    state.agents = (p.capabilities && p.capabilities.agents) || [];
    state.ready = true;
    setConn("ready", "connected" + (p.runtime ? " to " + p.runtime.name + " " + p.runtime.version : ""));
    const ss = $("session-state");
    ss.dataset.resumed = String(resumed);
    ss.dataset.session = sid;
    ss.textContent = (resumed ? "resumed " : "session ") + sid;
    notice("conn", null);
    clearNotices("feature.");
    for (const [feat, text] of Object.entries(DEGRADED)) {
      if (!state.features.has(feat)) notice("feature." + feat, text, "warn");
    }
    $("login").hidden = true;
    $("app").hidden = false;
    $("disconnect").hidden = false;
    fillAgents();
    startListing();
    // Views of jobs built before this welcome may miss frames: rebuild on selection.
    for (const v of state.jobs.values()) if (!state.mine.has(v.id) || !resumed) v.complete = false;
    if (state.selected) select(state.selected, true);
    renderList();
  }

  function onError(p) {
    const req = p.request_id && state.pending.get(p.request_id);
    if (req) state.pending.delete(p.request_id);
    const text = (p.code || "ERROR") + ": " + (p.message || "");
    if (!req && !state.ready) {
      // An error before any welcome answers the hello (request_id may be absent).
      return helloRefused(p, load(KEY.session, null) !== null);
    }
    if (!req) return notice("error", "Runtime error " + text, "error");
    switch (req.kind) {
      case "hello": return helloRefused(p, req.resume);
      case "submit":
        $("submit-error").textContent = text;
        return;
      case "cancel":
        return notice("cancel." + req.jobId, "Cancel of " + req.jobId + " refused: " + text, "error");
      case "subscribe": {
        const v = state.jobs.get(req.jobId);
        if (v) v.awaiting = false;
        notice("subscribe", "Cannot watch " + req.jobId + ": " + text, "error");
        return render();
      }
      case "list":
        state.listing = null;
        return notice("list", "Job list refused: " + text, "error");
      default:
        return notice("error", "Runtime error " + text, "error");
    }
  }

  function helloRefused(p, wasResume) {
    if (wasResume) {
      // The old connection of a reloaded tab may still be attached: retry a few times, then
      // start a fresh session (which cannot cancel the old one's jobs).
      state.resumeTries += 1;
      if (p.code === "PERMISSION_DENIED" && state.resumeTries < RESUME_TRIES) return;
      save(KEY.session, null);
      notice("resume", "The previous session could not be resumed (" + p.code +
        "): this tab started a new one and cannot cancel the jobs submitted before.", "warn");
      return;
    }
    // Authentication failed: stop and ask again.
    state.closing = true;
    save(KEY.token, null);
    setConn("failed", "refused");
    $("login").hidden = false;
    $("app").hidden = true;
    notice("conn", "The runtime refused the session: " + (p.code || "") + " " + (p.message || ""), "error");
    if (state.ws) state.ws.close(1000);
  }

  // ---- the job list ----------------------------------------------------------------------

  function startListing() {
    stopListing();
    if (!state.features.has("list_jobs")) {
      $("job-list-note").textContent = "Jobs submitted from this tab only.";
      return;
    }
    refreshList();
    state.listTimer = setInterval(refreshList, LIST_EVERY_MS);
  }
  function stopListing() {
    clearInterval(state.listTimer);
    state.listTimer = null;
    state.listing = null;
  }
  function refreshList() {
    if (!state.ready || state.listing) return;
    state.listing = { pages: 0, jobs: [] };
    listPage(null);
  }
  function listPage(cursor) {
    const payload = { limit: LIST_PAGE };
    if (cursor) payload.cursor = cursor;
    const id = send("session.list_jobs", payload);
    state.listing.requestId = id;
    track(id, { kind: "list" });
  }
  function onJobs(p) {
    const l = state.listing;
    state.pending.delete(p.request_id);
    if (!l || l.requestId !== p.request_id) return;
    l.jobs.push(...(p.jobs || []));
    l.pages += 1;
    if (p.next_cursor && l.pages < LIST_MAX_PAGES) return listPage(p.next_cursor);
    state.listing = null;
    state.listed = l.jobs;
    $("job-list-note").textContent = p.next_cursor
      ? "More than " + l.jobs.length + " jobs: the oldest are not listed." : "";
    for (const j of l.jobs) {
      const v = state.jobs.get(j.job_id);
      // The list is fresher than a view nobody is watching.
      if (v && !v.complete && !v.awaiting && state.selected !== j.job_id) v.status = j.status;
    }
    renderList();
  }

  function drawList() {
    const byId = new Map();
    for (const j of state.listed) byId.set(j.job_id, { id: j.job_id, agent: j.agent, status: j.status, at: j.submitted_at || j.created_at || "" });
    // Jobs this tab knows of that the list has not shown yet (just submitted, or no list_jobs).
    for (const v of state.jobs.values()) {
      const row = byId.get(v.id);
      if (!row && (state.mine.has(v.id) || !state.features.has("list_jobs"))) {
        byId.set(v.id, { id: v.id, agent: v.agent, status: v.status || "pending", at: v.at || "" });
      } else if (row && v.status && (v.complete || state.selected === v.id)) {
        row.status = v.status; // live frames beat the last poll
      }
    }
    const rows = Array.from(byId.values()).reverse().slice(0, LIST_SHOWN);
    const ul = $("job-list");
    ul.replaceChildren();
    for (const r of rows) {
      const li = el("li", { "data-job": r.id, "data-status": r.status, "data-agent": r.agent || "",
        "data-mine": String(state.mine.has(r.id)), tabindex: "0", class: "job" });
      if (r.id === state.selected) li.classList.add("selected");
      li.appendChild(el("span", { class: "status " + r.status }, r.status));
      li.appendChild(el("span", { class: "agent" }, r.agent || "?"));
      li.appendChild(el("span", { class: "jid" }, r.id));
      li.addEventListener("click", () => select(r.id));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") select(r.id); });
      ul.appendChild(li);
    }
    $("job-count").textContent = String(byId.size);
    $("job-count").dataset.count = String(byId.size);
  }

  // ---- submitting and cancelling ---------------------------------------------------------

  function agentNames() {
    const out = [];
    for (const a of state.agents) {
      if (typeof a === "string") out.push(a);
      else {
        out.push(a.name);
        for (const ver of a.versions || []) if ((a.versions || []).length > 1) out.push(a.name + "@" + ver);
      }
    }
    return out;
  }
  function fillAgents() {
    const sel = $("submit-agent");
    const before = sel.value;
    sel.replaceChildren();
    for (const n of agentNames()) sel.appendChild(el("option", { value: n }, n));
    if (before && agentNames().includes(before)) sel.value = before;
    else if (agentNames().includes("slow")) sel.value = "slow";
    exampleInput();
  }
  function exampleInput() {
    const ex = EXAMPLES[$("submit-agent").value.split("@")[0]] || ["{}", "{}"];
    $("submit-input").value = ex[0];
    $("submit-lease").value = ex[1];
  }

  function submitJob(ev) {
    ev.preventDefault();
    $("submit-error").textContent = "";
    let input, lease;
    try {
      input = JSON.parse($("submit-input").value || "null");
    } catch (e) {
      $("submit-error").textContent = "Input is not JSON: " + e.message;
      return;
    }
    try {
      lease = JSON.parse($("submit-lease").value || "{}");
    } catch (e) {
      $("submit-error").textContent = "Lease request is not JSON: " + e.message;
      return;
    }
    const agent = $("submit-agent").value;
    const id = send("job.submit", { agent, input, lease_request: lease });
    track(id, { kind: "submit", agent });
  }

  function onAccepted(f, p) {
    const jobId = p.job_id || f.job_id;
    const req = state.pending.get(p.request_id);
    if (req) state.pending.delete(p.request_id);
    state.mine.add(jobId);
    const mine = Array.from(state.mine).slice(-MAX_MINE);
    state.mine = new Set(mine);
    save(KEY.mine, mine);
    const v = view(jobId);
    v.agent = p.agent || (req && req.agent) || "";
    v.status = v.status || "running";
    v.at = p.accepted_at || "";
    v.lease = p.lease || null;
    if (p.budget) v.budget = p.budget;
    v.complete = true; // every frame of it reaches this session from now on
    if (req) select(jobId, false);
    renderList();
  }

  function cancelSelected() {
    const jobId = state.selected;
    if (!jobId) return;
    const id = send("job.cancel", { reason: "dashboard.cancel" }, { job_id: jobId });
    track(id, { kind: "cancel", jobId });
    $("cancel-btn").disabled = true;
    $("cancel-btn").textContent = "Cancelling…";
  }

  // ---- watching a job --------------------------------------------------------------------

  function select(jobId, force) {
    const prev = state.selected;
    if (prev && prev !== jobId) {
      const pv = state.jobs.get(prev);
      // Stop the live copy of a job this session did not submit (subscriptions are bounded).
      if (pv && !state.mine.has(prev) && state.features.has("subscribe") && !TERMINAL.includes(pv.status)) {
        send("job.unsubscribe", { job_id: prev }, { job_id: prev });
        pv.complete = false;
      }
    }
    state.selected = jobId;
    notice("subscribe", null);
    const v = view(jobId);
    const listed = state.listed.find((j) => j.job_id === jobId);
    if (listed && !v.complete) {
      v.agent = v.agent || listed.agent;
      v.status = v.status || listed.status;
    }
    if (!v.complete && (force || prev !== jobId || !v.awaiting) && state.features.has("subscribe") && state.ready) {
      // Rebuild from history: frames that arrive before job.subscribed are in the history.
      const keep = { agent: v.agent, at: v.at };
      const fresh = newView(jobId);
      Object.assign(fresh, keep, { awaiting: true });
      state.jobs.set(jobId, fresh);
      const id = send("job.subscribe", { job_id: jobId, history: true, from_event_seq: 0 }, { job_id: jobId });
      track(id, { kind: "subscribe", jobId });
    }
    renderList();
    render();
  }

  function onSubscribed(f, p) {
    state.pending.delete(p.request_id);
    const jobId = p.job_id || f.job_id;
    const v = view(jobId);
    v.awaiting = false;
    v.complete = true;
    v.status = p.current_status || v.status;
    v.agent = p.agent || v.agent;
    v.lease = p.lease || v.lease;
    if (p.budget) v.budget = p.budget;
    if (jobId === state.selected) render();
  }

  function onJobFrame(f, p, what) {
    const jobId = f.job_id || p.job_id;
    if (!jobId) return;
    const v = state.jobs.get(jobId);
    if (!v || v.awaiting) return; // not watched, or part of the history still to come
    if (what === "event") applyEvent(v, p);
    else if (what === "result") {
      v.status = p.final_status || "success";
      v.result = p;
      const c = p.result_id && v.chunks.get(p.result_id);
      if (c) v.result = Object.assign({}, p, { assembled: c.text + c.decoder.decode() });
    } else {
      v.status = p.final_status || "error";
      v.error = p;
    }
    if (what !== "event") {
      pushEvent(v, { kind: what === "result" ? "job.result" : "job.error", ts: p.completed_at || "", body: p });
      v.eventCount += 1;
      renderList();
    }
    if (jobId === state.selected) render();
  }

  function applyEvent(v, p) {
    const body = p.body || {};
    v.eventCount += 1;
    if (v.status === "" || v.status === "pending") v.status = "running";
    switch (p.kind) {
      case "progress": {
        const key = body.units || "progress";
        v.progress.set(key, { current: Number(body.current) || 0, total: body.total, units: body.units, message: body.message });
        break;
      }
      case "metric": {
        if (typeof body.value !== "number") break;
        let s = v.metrics.get(body.name);
        if (!s) v.metrics.set(body.name, (s = { unit: body.unit || "", points: [] }));
        s.points.push(body.value);
        if (s.points.length > MAX_POINTS) s.points.shift();
        // The runtime's running figure of what is left (same form as job.subscribed's budget).
        if (body.name === "cost.budget.remaining" && body.unit) {
          v.budget = Object.assign({}, v.budget, { [body.unit]: body.unit + ":" + body.value });
        }
        break;
      }
      case "result_chunk": {
        let c = v.chunks.get(body.result_id);
        if (!c) v.chunks.set(body.result_id, (c = { text: "", decoder: new TextDecoder() }));
        if (c.text.length >= MAX_RESULT_CHARS) break;
        // A character's bytes may straddle two base64 chunks: one streaming decoder per result.
        if (body.encoding === "base64") c.text += c.decoder.decode(decodeBase64(body.data || ""), { stream: true });
        else c.text += c.decoder.decode() + (body.data || "");
        break;
      }
      default:
        break;
    }
    if (p.kind === "status" && body.phase === "subscription_truncated") {
      notice("truncated." + v.id, "History of " + v.id + " is partly gone: events from " +
        body.kept_from + " on are kept; the live view stopped.", "warn");
    }
    pushEvent(v, { kind: p.kind, ts: p.ts || "", body });
  }

  // Keeps the newest MAX_EVENTS events of a view.
  function pushEvent(v, e) {
    v.events.push(e);
    if (v.events.length > MAX_EVENTS) v.events.shift();
  }

  function decodeBase64(s) {
    try {
      return Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
    } catch (_) {
      return new Uint8Array(0);
    }
  }

  // ---- rendering the selected job --------------------------------------------------------

  function drawJob() {
    const jobId = state.selected;
    const box = $("job-view");
    const v = jobId && state.jobs.get(jobId);
    $("job-empty").hidden = !!v;
    $("job-detail").hidden = !v;
    if (!v) {
      box.dataset.job = "";
      box.dataset.status = "";
      return;
    }
    box.dataset.job = v.id;
    box.dataset.status = v.awaiting ? "loading" : v.status;
    $("job-title").textContent = (v.agent || "job") + " · " + v.id;
    const st = $("job-status");
    st.textContent = v.awaiting ? "loading…" : v.status;
    st.className = "status " + v.status;
    const cancellable = state.mine.has(v.id) && !TERMINAL.includes(v.status) && !v.awaiting;
    const cb = $("cancel-btn");
    cb.hidden = !cancellable;
    if (cancellable && cb.textContent !== "Cancelling…") cb.disabled = false;
    if (!cancellable) {
      cb.disabled = false;
      cb.textContent = "Cancel job";
    }
    renderMeta(v);
    renderProgress(v);
    renderChart(v);
    renderOutcome(v);
    renderEvents(v);
  }

  function renderMeta(v) {
    const dl = $("job-meta");
    dl.replaceChildren();
    const row = (k, val) => {
      dl.appendChild(el("dt", {}, k));
      dl.appendChild(el("dd", { "data-field": k }, val));
    };
    row("submitted by", state.mine.has(v.id) ? "this tab's session" : "another session");
    if (v.lease && Object.keys(v.lease).length) row("lease", short(v.lease, 200));
    if (v.budget) row("budget remaining", Object.values(v.budget).join(", "));
  }

  function renderProgress(v) {
    const box = $("progress");
    box.replaceChildren();
    for (const [key, pr] of v.progress) {
      const row = el("div", { class: "progress-row", "data-stream": key });
      const label = pr.units || "progress";
      const attrs = { "data-units": key, "data-current": String(pr.current) };
      if (typeof pr.total === "number") {
        attrs.max = String(pr.total);
        attrs.value = String(Math.min(pr.current, pr.total));
        attrs["data-total"] = String(pr.total);
      }
      row.appendChild(el("label", {}, label));
      row.appendChild(el("progress", attrs));
      const figure = typeof pr.total === "number" ? pr.current + " / " + pr.total : String(pr.current);
      row.appendChild(el("span", { class: "figure" }, figure + (pr.message ? " — " + pr.message : "")));
      box.appendChild(row);
    }
  }

  // A line chart of every numeric metric, each series scaled to its own range (hand-drawn SVG).
  function renderChart(v) {
    const chart = $("chart");
    const legend = $("chart-legend");
    chart.replaceChildren();
    legend.replaceChildren();
    $("chart-box").hidden = v.metrics.size === 0;
    const W = 400, H = 120, PAD = 6;
    let i = 0;
    for (const [name, s] of v.metrics) {
      const pts = s.points;
      const lo = Math.min(0, ...pts), hi = Math.max(...pts);
      const span = hi - lo || 1;
      const step = pts.length > 1 ? (W - 2 * PAD) / (pts.length - 1) : 0;
      const coords = pts.map((y, k) => {
        const x = PAD + k * step;
        const yy = H - PAD - ((y - lo) / span) * (H - 2 * PAD);
        return x.toFixed(1) + "," + yy.toFixed(1);
      });
      const cls = "series s" + (i % 6);
      if (pts.length === 1) {
        const [x, y] = coords[0].split(",");
        chart.appendChild(svg("circle", { cx: x, cy: y, r: "3", class: cls, "data-metric": name }));
      } else {
        chart.appendChild(svg("polyline", { points: coords.join(" "), class: cls, "data-metric": name }));
      }
      const last = pts[pts.length - 1];
      legend.appendChild(el("li", { class: cls, "data-metric": name, "data-last": String(last) },
        name + ": " + last + (s.unit ? " " + s.unit : "") + " (" + pts.length + " points)"));
      i += 1;
    }
  }

  function renderOutcome(v) {
    const out = $("result");
    if (v.error) {
      out.dataset.final = v.error.final_status || "error";
      out.className = "error";
      out.textContent = (v.error.code || "ERROR") + ": " + (v.error.message || "");
    } else if (v.result) {
      out.dataset.final = v.result.final_status || "success";
      out.className = v.result.final_status === "success" ? "ok" : "warn";
      if (v.result.assembled !== undefined) out.textContent = v.result.assembled;
      else if ("result" in v.result) out.textContent = pretty(v.result.result);
      else out.textContent = v.result.final_status || "";
    } else {
      out.dataset.final = "";
      out.className = "";
      out.textContent = v.awaiting ? "" : "(running)";
    }
  }

  function describe(e) {
    const b = e.body || {};
    switch (e.kind) {
      case "log": return "[" + (b.level || "info") + "] " + (b.message || "");
      case "thought": return b.text || "";
      case "status": return (b.phase || "") + (b.message ? ": " + b.message : "");
      case "tool_call": return (b.name || b.tool || "?") + "(" + short(b.arguments || b.args || {}, 120) + ") #" + (b.tool_call_id || b.call_id || "");
      case "tool_result": return "#" + (b.tool_call_id || b.call_id || "") + " → " + short(b.error || b.output || b.result || null, 160);
      case "metric": return b.name + " = " + b.value + (b.unit ? " " + b.unit : "");
      case "progress": return b.current + (b.total !== undefined ? "/" + b.total : "") + (b.units ? " " + b.units : "") + (b.message ? " — " + b.message : "");
      case "artifact_ref": return (b.uri || "") + " " + (b.media_type || b.content_type || "") + (b.summary ? " — " + b.summary : "");
      case "result_chunk": return (b.result_id || "") + " #" + b.chunk_seq + (b.more ? "" : " (last)");
      case "job.result": return (b.final_status || "") + ("result" in b ? " → " + short(b.result, 200) : "");
      case "job.error": return (b.final_status || "error") + " " + (b.code || "") + ": " + (b.message || "");
      default: return short(b, 200);
    }
  }

  function renderEvents(v) {
    const ol = $("events");
    // Redraw only the tail that changed: events are append-only (the oldest may drop).
    ol.replaceChildren();
    for (const e of v.events) {
      const li = el("li", { class: "ev " + e.kind, "data-kind": e.kind });
      li.appendChild(el("span", { class: "kind" }, e.kind));
      li.appendChild(el("span", { class: "ts" }, (e.ts || "").replace(/^.*T/, "").replace(/Z$/, "")));
      li.appendChild(el("span", { class: "text" }, describe(e)));
      ol.appendChild(li);
    }
    $("event-count").textContent = String(v.eventCount);
    $("event-count").dataset.count = String(v.eventCount);
    ol.scrollTop = ol.scrollHeight;
  }

  // ---- wiring ----------------------------------------------------------------------------

  function start() {
    // Anything the Content-Security-Policy blocked is a bug of this page: say so visibly.
    document.addEventListener("securitypolicyviolation", (e) => {
      notice("csp", "Blocked by the Content-Security-Policy: " + e.violatedDirective + " " +
        (e.blockedURI || "inline"), "error");
    });
    $("endpoint").value = load(KEY.endpoint, null) || defaultEndpoint();
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = $("token").value.trim();
      if (!token) return;
      save(KEY.token, token);
      const ep = $("endpoint").value.trim();
      save(KEY.endpoint, ep && ep !== defaultEndpoint() ? ep : null);
      $("token").value = "";
      connect();
    });
    $("disconnect").addEventListener("click", disconnect);
    $("submit-form").addEventListener("submit", submitJob);
    $("submit-agent").addEventListener("change", exampleInput);
    $("cancel-btn").addEventListener("click", cancelSelected);
    // Detach at once on reload or close, so the next page's resume finds the session free.
    window.addEventListener("pagehide", () => {
      if (state.ws && state.ready) {
        send("session.bye", { reason: "client.close" });
        state.closing = true;
        state.ws.close(1000);
      }
    });
    if (load(KEY.token, null)) {
      $("login").hidden = true;
      connect();
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
