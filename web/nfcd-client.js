// nfcd-client.js: a browser (and Node ≥ 20) client for nfcd's local
// WebSocket API, protocol version 1 (docs/protocol.md).
//
// A single ES module with no dependencies and no build step:
//
//   import { NfcdClient } from "./nfcd-client.js";
//   const nfcd = new NfcdClient({ token: "…" });
//   nfcd.on("tag.read", (tap) => show(tap.verdict, tap.uid));
//   nfcd.on("state", (state) => badge(state));
//   await nfcd.connect();
//   const readers = await nfcd.readers();
//
// The client reconnects with exponential backoff and jitter, and resumes the
// event stream from the last seq it delivered, so a daemon hiccup or a
// sleeping laptop loses no verdicts. The token is never logged, never put in
// an error message and never exposed as a property.
//
// docs/js-client.md is the guide for POS developers.

/** Protocol version spoken by this client (the envelope's "v"). */
export const PROTOCOL_VERSION = 1;
/** The WebSocket subprotocol the server selects. */
export const SUBPROTOCOL = "nfcd.v1";
/** Prefix of the subprotocol value that carries the token from a browser. */
export const TOKEN_SUBPROTOCOL_PREFIX = "nfcd-token.";
/** Default WebSocket URL of a local daemon. */
export const DEFAULT_URL = "ws://127.0.0.1:7424/v1/ws";

/** Event types the daemon publishes (docs/protocol.md §4). */
export const EVENT_TYPES = Object.freeze([
  "hello",
  "reader.added",
  "reader.removed",
  "card.present",
  "card.removed",
  "tag.read",
  "verdict.updated",
  "error",
  "pcsc.changed",
]);

/** Connection states reported by the "state" event. */
export const STATES = Object.freeze({
  IDLE: "idle", // constructed, connect() not called yet
  CONNECTING: "connecting", // first connection attempt in progress
  OPEN: "open", // hello received and subscribed: events are flowing
  RECONNECTING: "reconnecting", // lost the connection; retrying with backoff
  CLOSED: "closed", // close() was called
});

// RFC 7230 token characters: what a Sec-WebSocket-Protocol value may hold.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

// WebSocket readyState values (the same in browsers, undici and fakes).
const WS_OPEN = 1;

// Close codes this client sends. Browsers only allow 1000 and 3000–4999.
const CLOSE_NORMAL = 1000;
const CLOSE_CLIENT_RESET = 4000; // we drop the socket to reconnect and resume

/**
 * An error from the daemon or from the client itself. Branch on `code`;
 * `message` is for humans.
 *
 * Codes from the daemon: bad_json, unknown_type, bad_request, too_large,
 * binary_unsupported, rate_limited, gap, overflow, internal.
 * Codes from this client: timeout (no reply within requestTimeout),
 * disconnected (the connection dropped before the reply), closed (close()
 * was called), token (getToken failed or returned an unusable token),
 * protocol (the daemon sent something this client does not understand).
 */
export class NfcdError extends Error {
  /**
   * @param {string} code stable error code
   * @param {string} message human-readable text
   * @param {Record<string, unknown>} [details] extra payload fields, e.g. gap's oldest/last
   */
  constructor(code, message, details = {}) {
    super(message || code);
    this.name = "NfcdError";
    /** @type {string} */
    this.code = code;
    /** @type {Record<string, unknown>} */
    this.details = details;
  }
}

/**
 * @typedef {object} Backoff
 * @property {number} [min=250] first reconnect delay in ms
 * @property {number} [max=10000] largest reconnect delay in ms
 * @property {number} [factor=2] growth per failed attempt
 * @property {number} [jitter=0.5] fraction of the delay that is randomized (0…1)
 */

/**
 * @typedef {object} Filter
 * @property {string[]} [readers] only events about these readers (events without a reader always pass)
 * @property {string[]} [types] only these event types
 */

/**
 * @typedef {object} NfcdClientOptions
 * @property {string} [url] WebSocket URL; default ws://127.0.0.1:7424/v1/ws
 * @property {string} [token] a provisioned token (`nfcd token create`)
 * @property {() => (string|Promise<string>)} [getToken] called before every
 *   connection attempt; use it for single-use session tokens (GET /v1/session)
 * @property {number} [requestTimeout=5000] ms to wait for a reply (and for hello)
 * @property {Backoff} [backoff]
 * @property {Filter} [filter] subscription filter, applied on every (re)connection
 * @property {boolean} [resume=true] resume from the last seq after a reconnect
 * @property {{stream: string, seq: number}} [resumeFrom] resume point persisted by
 *   a previous page load (see {@link NfcdClient#position})
 * @property {number} [pingInterval=30000] ms between application pings; 0 disables
 * @property {typeof WebSocket} [WebSocketImpl] WebSocket constructor (tests, Node)
 * @property {() => number} [random] random source for jitter (tests)
 */

/**
 * Metadata passed to event listeners as their second argument.
 * @typedef {object} EventMeta
 * @property {string} type event type, e.g. "tag.read"
 * @property {number} seq the event's sequence number
 * @property {string} stream the daemon run the seq belongs to
 * @property {boolean} replayed true if the event was missed while disconnected and replayed on resume
 */

/**
 * The detail of "state" events; listeners get (state, info).
 * @typedef {object} StateInfo
 * @property {string} state one of STATES
 * @property {string} previous the state before
 * @property {number} [attempt] failed attempts so far (reconnecting)
 * @property {number} [delay] ms until the next attempt (reconnecting)
 * @property {number} [code] WebSocket close code that ended the last connection
 * @property {string} [reason] why the connection ended
 * @property {NfcdError} [error] the error that ended the last attempt, if any
 */

/**
 * A client for nfcd's local WebSocket API. It is an EventTarget: besides
 * {@link NfcdClient#on}, `addEventListener(type, e => e.detail)` works.
 *
 * Events:
 * - daemon events "hello", "reader.added", "reader.removed", "card.present",
 *   "card.removed", "tag.read", "verdict.updated", "error": listener(payload, meta)
 *   ("verdict.updated" settles an earlier "tag.read" with the same `tap`)
 * - "*": every daemon event, listener(payload, meta)
 * - "state": listener(state, info) — connecting, open, reconnecting, closed
 * - "gap": listener({since, stream, oldest, last}) — a resume was impossible
 *   (daemon restarted or too far behind); the client subscribed afresh, so
 *   reload state (readers(), history()) if you keep any
 * - "overflow": listener({seq}) — the daemon dropped events for this slow
 *   client; the client reconnects and resumes on its own
 * - "notice": listener(NfcdError) — an error frame that answers no request
 */
export class NfcdClient extends EventTarget {
  #url;
  #token;
  #getToken;
  #timeout;
  #backoff;
  #filter;
  #resume;
  #pingInterval;
  #WS;
  #random;

  /** @type {any} */ #ws = null;
  #state = STATES.IDLE;
  #closed = false;
  #attempt = 0;
  #reconnectTimer = null;
  #helloTimer = null;
  #pingTimer = null;
  #connectWaiters = [];
  #listeners = new Map(); // type → Map(fn → wrapped listener)

  #nextID = 1;
  #pending = new Map(); // id → {resolve, reject, timer, sent, frame}
  #queue = []; // ids waiting for a ready connection, in call order
  #ready = false; // hello received on the current socket

  #stream = "";
  #lastSeq = 0;
  #hello = null;
  #replayLeft = 0;

  /** @param {NfcdClientOptions} [options] */
  constructor(options = {}) {
    super();
    const {
      url = DEFAULT_URL,
      token,
      getToken,
      requestTimeout = 5000,
      backoff = {},
      filter = {},
      resume = true,
      resumeFrom,
      pingInterval = 30000,
      WebSocketImpl = globalThis.WebSocket,
      random = Math.random,
    } = options;
    const u = new URL(url); // throws on a malformed URL
    if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new TypeError("NfcdClient: url must be ws: or wss:");
    }
    if (token === undefined && typeof getToken !== "function") {
      throw new TypeError("NfcdClient: a token or a getToken function is required");
    }
    if (token !== undefined && (typeof token !== "string" || !TOKEN_RE.test(token))) {
      // Never echo the token itself.
      throw new TypeError("NfcdClient: token must be a non-empty string of RFC 7230 token characters");
    }
    if (typeof WebSocketImpl !== "function") {
      throw new TypeError("NfcdClient: no WebSocket implementation (pass WebSocketImpl)");
    }
    this.#url = u.href;
    this.#token = token;
    this.#getToken = getToken;
    this.#timeout = requestTimeout;
    this.#backoff = { min: 250, max: 10000, factor: 2, jitter: 0.5, ...backoff };
    this.#filter = normalizeFilter(filter);
    this.#resume = resume;
    this.#pingInterval = pingInterval;
    this.#WS = WebSocketImpl;
    this.#random = random;
    if (resumeFrom && typeof resumeFrom.stream === "string" && Number.isSafeInteger(resumeFrom.seq)) {
      this.#stream = resumeFrom.stream;
      this.#lastSeq = resumeFrom.seq;
    }
  }

  /** The connection state: idle, connecting, open, reconnecting or closed. */
  get state() {
    return this.#state;
  }

  /** The payload of the latest hello, or null before the first one. */
  get hello() {
    return this.#hello;
  }

  /**
   * Where the event stream stands: the daemon run and the last seq delivered
   * to listeners. Persist it (e.g. in sessionStorage) and pass it back as
   * `resumeFrom` to resume across page reloads.
   * @returns {{stream: string, seq: number}}
   */
  get position() {
    return { stream: this.#stream, seq: this.#lastSeq };
  }

  /**
   * Adds a listener and returns a function that removes it.
   * @param {string} type an event type, "*", "state", "gap", "overflow" or "notice"
   * @param {(...args: any[]) => void} fn
   * @returns {() => void}
   */
  on(type, fn) {
    if (typeof fn !== "function") throw new TypeError("NfcdClient.on: listener must be a function");
    let m = this.#listeners.get(type);
    if (!m) this.#listeners.set(type, (m = new Map()));
    if (!m.has(fn)) {
      const wrapped = (/** @type {CustomEvent} */ e) => fn(...e.detail.args);
      m.set(fn, wrapped);
      this.addEventListener(type, wrapped);
    }
    return () => this.off(type, fn);
  }

  /**
   * Removes a listener added with on().
   * @param {string} type
   * @param {(...args: any[]) => void} fn
   */
  off(type, fn) {
    const m = this.#listeners.get(type);
    const wrapped = m && m.get(fn);
    if (wrapped) {
      m.delete(fn);
      this.removeEventListener(type, wrapped);
    }
  }

  /**
   * Starts connecting (and keeps reconnecting until close()). The promise
   * resolves with the hello payload once the client is connected and
   * subscribed; it rejects only if close() is called first.
   * @returns {Promise<object>}
   */
  connect() {
    if (this.#closed) return Promise.reject(new NfcdError("closed", "client is closed"));
    const p = new Promise((resolve, reject) => {
      if (this.#state === STATES.OPEN) resolve(this.#hello);
      else this.#connectWaiters.push({ resolve, reject });
    });
    if (this.#state === STATES.IDLE) {
      this.#setState(STATES.CONNECTING, {});
      this.#open();
    }
    return p;
  }

  /**
   * Closes the connection for good: no reconnect. Pending requests reject
   * with code "closed".
   */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    const err = new NfcdError("closed", "client is closed");
    for (const id of [...this.#pending.keys()]) this.#settle(id, null, err);
    this.#teardown(CLOSE_NORMAL, "client closed");
    for (const w of this.#connectWaiters.splice(0)) w.reject(err);
    this.#setState(STATES.CLOSED, {});
  }

  /**
   * Sends a request and resolves with the result payload. Requests made
   * while disconnected wait for the next connection, within the timeout.
   * Rejects with an NfcdError: the daemon's code, or timeout, disconnected,
   * closed.
   * @param {string} type request type, e.g. "readers.list"
   * @param {object} [payload]
   * @param {{timeout?: number}} [opts]
   * @returns {Promise<any>}
   */
  request(type, payload = {}, opts = {}) {
    if (this.#closed) return Promise.reject(new NfcdError("closed", "client is closed"));
    return this.#request(type, payload, opts.timeout ?? this.#timeout);
  }

  /**
   * Sends a binary request — a frame of a uint16 big-endian header length,
   * the request envelope as JSON, then data (docs/protocol.md, "Binary
   * requests") — and resolves with the result payload, like request().
   * @param {string} type a binary request type, e.g. "legitmark.upload.chunk"
   * @param {object} payload
   * @param {ArrayBuffer|Uint8Array} data the body
   * @param {{timeout?: number}} [opts]
   * @returns {Promise<any>}
   */
  requestBinary(type, payload, data, opts = {}) {
    if (this.#closed) return Promise.reject(new NfcdError("closed", "client is closed"));
    const body = data instanceof Uint8Array ? data : new Uint8Array(data);
    return new Promise((resolve, reject) => {
      const id = this.#add(type, payload, opts.timeout ?? this.#timeout, (res, err) => (err ? reject(err) : resolve(res)), body);
      this.#queue.push(id);
      this.#flushQueue();
    });
  }

  /**
   * Lists the connected readers (readers.list).
   * @returns {Promise<Array<{name: string}>>}
   */
  async readers() {
    const r = await this.request("readers.list");
    return Array.isArray(r && r.readers) ? r.readers : [];
  }

  /**
   * Queries the daemon's verdict history (history.query), e.g. {limit: 20}.
   * @param {object} [query]
   * @returns {Promise<object[]>}
   */
  async history(query = {}) {
    const r = await this.request("history.query", query);
    return Array.isArray(r && r.entries) ? r.entries : [];
  }

  /**
   * Changes the subscription filter for this and every later connection.
   * @param {Filter} [filter]
   * @returns {Promise<{seq: number}>}
   */
  subscribe(filter = {}) {
    this.#filter = normalizeFilter(filter);
    return this.request("subscribe", this.#filter);
  }

  /**
   * Application-level liveness check; resolves with the round trip in ms
   * and the newest seq the daemon published.
   * @returns {Promise<{rtt: number, seq: number}>}
   */
  async ping() {
    const t0 = now();
    const r = await this.request("ping");
    return { rtt: now() - t0, seq: r && typeof r.seq === "number" ? r.seq : 0 };
  }

  // ---- connection lifecycle ----

  async #open() {
    let token = this.#token;
    let tokenErr = null;
    if (this.#getToken) {
      try {
        token = await this.#getToken();
        if (typeof token !== "string" || !TOKEN_RE.test(token)) {
          tokenErr = new NfcdError("token", "getToken returned no usable token");
        }
      } catch (e) {
        // Keep the daemon's code (e.g. forbidden, rate_limited) when there is one.
        tokenErr = e instanceof NfcdError ? e : new NfcdError("token", "getToken failed: " + errText(e));
      }
    }
    if (this.#closed) return;
    if (tokenErr) {
      this.#scheduleReconnect({ error: tokenErr, reason: tokenErr.message });
      return;
    }
    let ws;
    try {
      ws = new this.#WS(this.#url, [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token]);
    } catch (e) {
      // The constructor throws on an invalid URL or subprotocol; do not
      // include its message, which may quote the token.
      const err = new NfcdError("protocol", "cannot create WebSocket: " + (e && e.name ? e.name : "error"));
      this.#scheduleReconnect({ error: err, reason: err.message });
      return;
    }
    this.#ws = ws;
    this.#ready = false;
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      // No hello within the timeout: the socket is useless. (A browser that
      // blocks the request under Local Network Access never opens at all.)
      this.#helloTimer = setTimeout(() => {
        if (this.#ws === ws) this.#drop(ws, "no hello from daemon", new NfcdError("timeout", "no hello from daemon"));
      }, this.#timeout);
    };
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#onFrame(ws, ev.data);
    };
    ws.onerror = () => {
      // A close event always follows; browsers hide the cause on purpose.
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#lost(ev.code, ev.reason || closeReason(ev.code));
    };
  }

  // #drop abandons ws (which may still be open) and reconnects.
  #drop(ws, reason, error) {
    if (this.#ws !== ws) return;
    this.#teardown(CLOSE_CLIENT_RESET, reason);
    this.#scheduleReconnect({ code: CLOSE_CLIENT_RESET, reason, error });
  }

  #lost(code, reason) {
    this.#teardown(null, reason);
    if (!this.#closed) this.#scheduleReconnect({ code, reason });
  }

  // #teardown detaches the current socket, closing it with code if given,
  // and fails the requests that were sent on it.
  #teardown(code, reason) {
    const ws = this.#ws;
    this.#ws = null;
    this.#ready = false;
    this.#replayLeft = 0;
    clearTimeout(this.#helloTimer);
    clearInterval(this.#pingTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      if (code !== null) {
        try {
          ws.close(code, reason.slice(0, 100));
        } catch {
          // already closing
        }
      }
    }
    for (const [id, p] of [...this.#pending]) {
      if (p.sent) this.#settle(id, null, new NfcdError("disconnected", "connection lost before the reply"));
    }
  }

  #scheduleReconnect(info) {
    if (this.#closed) return;
    const b = this.#backoff;
    const base = Math.min(b.max, b.min * Math.pow(b.factor, this.#attempt));
    const jitter = Math.min(1, Math.max(0, b.jitter));
    const delay = Math.round(base * (1 - jitter * this.#random()));
    this.#attempt++;
    this.#setState(STATES.RECONNECTING, { attempt: this.#attempt, delay, ...info });
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => {
      if (!this.#closed) this.#open();
    }, delay);
  }

  #setState(state, info) {
    const previous = this.#state;
    this.#state = state;
    if (state === previous && state !== STATES.RECONNECTING) return;
    this.#emit("state", [state, { state, previous, ...info }]);
  }

  // ---- frames ----

  #onFrame(ws, data) {
    if (typeof data !== "string") return; // the daemon sends text frames only
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      this.#emit("notice", [new NfcdError("protocol", "daemon sent a frame that is not JSON")]);
      return;
    }
    if (!f || typeof f !== "object" || Array.isArray(f) || typeof f.type !== "string") {
      this.#emit("notice", [new NfcdError("protocol", "daemon sent a frame without a type")]);
      return;
    }
    if (f.v !== PROTOCOL_VERSION) {
      this.#emit("notice", [new NfcdError("protocol", "unsupported protocol version")]);
      return;
    }
    const payload = f.payload && typeof f.payload === "object" ? f.payload : {};
    const hasID = typeof f.id === "string" && f.id !== "";
    if (f.type === "result" || (f.type === "error" && hasID)) {
      if (!hasID) return;
      if (f.type === "result") this.#settle(f.id, payload, null);
      else this.#settle(f.id, null, toError(payload));
      return;
    }
    if (f.type === "error" && typeof f.seq !== "number") {
      // An error notice: overflow, or a bad frame whose id was unreadable.
      const err = toError(payload);
      if (err.code === "overflow") {
        // Events were dropped on the daemon's side. Resuming from the last
        // delivered seq on a fresh connection replays them in order.
        this.#emit("overflow", [{ seq: typeof payload.seq === "number" ? payload.seq : 0 }]);
        this.#drop(ws, "overflow", err);
        return;
      }
      this.#emit("notice", [err]);
      return;
    }
    if (f.type === "hello") {
      this.#onHello(ws, f, payload);
      return;
    }
    if (typeof f.seq !== "number") return; // not an event
    if (f.seq <= this.#lastSeq) return; // duplicate (cannot happen per spec; be safe)
    this.#lastSeq = f.seq;
    let replayed = false;
    if (this.#replayLeft > 0) {
      this.#replayLeft--;
      replayed = true;
    }
    const meta = { type: f.type, seq: f.seq, stream: this.#stream, replayed };
    this.#emit(f.type, [payload, meta]);
    this.#emit("*", [payload, meta]);
  }

  #onHello(ws, f, payload) {
    clearTimeout(this.#helloTimer);
    const prevStream = this.#stream;
    const since = this.#lastSeq;
    const stream = typeof payload.stream === "string" ? payload.stream : "";
    const meta = { type: "hello", seq: typeof f.seq === "number" ? f.seq : 0, stream, replayed: false };
    this.#hello = payload;
    this.#ready = true;

    // The bookkeeping below runs synchronously when the reply frame is
    // handled, before any event frame that follows it.
    const subscribed = () => {
      this.#attempt = 0;
      this.#emit("hello", [payload, meta]);
      this.#emit("*", [payload, meta]);
      this.#setState(STATES.OPEN, {});
      for (const w of this.#connectWaiters.splice(0)) w.resolve(payload);
      this.#startPings(ws);
    };
    const failed = (err) => {
      if (this.#ws === ws) this.#drop(ws, "subscribe failed", err);
    };
    // A fresh subscription (first connection, resume disabled, or after a
    // gap) starts at the result's seq: every later event is delivered.
    const fresh = () =>
      this.#internal("subscribe", this.#filter, (res, err) => {
        if (err) return failed(err);
        this.#stream = stream;
        this.#lastSeq = typeof res.seq === "number" ? res.seq : meta.seq;
        subscribed();
      });

    // Subscribe before anything queued, so that replies keep request order.
    // since may be 0: events published while we were away are still owed.
    if (this.#resume && prevStream !== "") {
      this.#internal("resume", { ...this.#filter, since, stream: prevStream }, (res, err) => {
        if (err && err.code === "gap" && this.#ws === ws) {
          this.#emit("gap", [{ since, stream: prevStream, oldest: err.details.oldest, last: err.details.last }]);
          return fresh();
        }
        if (err) return failed(err);
        this.#replayLeft = typeof res.replayed === "number" ? res.replayed : 0;
        subscribed();
      });
    } else {
      fresh();
    }
    this.#flushQueue();
  }

  #startPings(ws) {
    clearInterval(this.#pingTimer);
    if (!(this.#pingInterval > 0)) return;
    this.#pingTimer = setInterval(() => {
      this.#internal("ping", {}, (_, err) => {
        if (err && err.code === "timeout") this.#drop(ws, "ping timeout", err);
      });
    }, this.#pingInterval);
  }

  // ---- requests ----

  // #request queues a request for the current or next connection and
  // returns a promise of its result payload.
  #request(type, payload, timeout) {
    return new Promise((resolve, reject) => {
      const id = this.#add(type, payload, timeout, (res, err) => (err ? reject(err) : resolve(res)));
      this.#queue.push(id);
      this.#flushQueue();
    });
  }

  // #internal sends a request of the client's own (subscribe, resume, ping)
  // at once, ahead of queued ones. done runs synchronously with the reply.
  #internal(type, payload, done) {
    const id = this.#add(type, payload, this.#timeout, done);
    if (!this.#trySend(id)) this.#settle(id, null, new NfcdError("disconnected", "not connected"));
  }

  #add(type, payload, timeout, done, body) {
    const id = String(this.#nextID++);
    let frame = JSON.stringify({ v: PROTOCOL_VERSION, type, id, payload: payload || {} });
    if (body) {
      // Binary request: uint16 BE header length, header, body.
      const header = new TextEncoder().encode(frame);
      const bin = new Uint8Array(2 + header.length + body.length);
      new DataView(bin.buffer).setUint16(0, header.length);
      bin.set(header, 2);
      bin.set(body, 2 + header.length);
      frame = bin;
    }
    const p = { done, timer: null, sent: false, frame };
    p.timer = setTimeout(() => {
      this.#settle(id, null, new NfcdError("timeout", `no reply to ${type} within ${timeout} ms`));
    }, timeout);
    this.#pending.set(id, p);
    return id;
  }

  #flushQueue() {
    while (this.#queue.length > 0 && this.#trySend(this.#queue[0])) this.#queue.shift();
  }

  // #trySend writes a pending request to the current socket and reports
  // whether it did.
  #trySend(id) {
    const p = this.#pending.get(id);
    const ws = this.#ws;
    if (!p || !ws || !this.#ready || ws.readyState !== WS_OPEN) return false;
    try {
      ws.send(p.frame);
    } catch {
      return false;
    }
    p.sent = true;
    return true;
  }

  #settle(id, value, err) {
    const p = this.#pending.get(id);
    if (!p) return; // late reply after a timeout
    this.#pending.delete(id);
    clearTimeout(p.timer);
    const i = this.#queue.indexOf(id);
    if (i >= 0) this.#queue.splice(i, 1);
    p.done(value, err);
  }

  #emit(type, args) {
    this.dispatchEvent(new CustomEvent(type, { detail: detailFor(type, args) }));
  }
}

// detailFor builds CustomEvent.detail: the listener arguments for on(), plus
// named fields for addEventListener users.
function detailFor(type, args) {
  if (type === "state") return { ...args[1], args };
  if (type === "gap" || type === "overflow") return { ...args[0], args };
  if (type === "notice") return { error: args[0], args };
  return { payload: args[0], ...args[1], args };
}

function toError(payload) {
  const { code, message, ...details } = payload || {};
  return new NfcdError(typeof code === "string" && code ? code : "protocol", typeof message === "string" ? message : "", details);
}

function normalizeFilter(filter) {
  const out = {};
  if (filter && Array.isArray(filter.readers) && filter.readers.length > 0) out.readers = filter.readers.map(String);
  if (filter && Array.isArray(filter.types) && filter.types.length > 0) out.types = filter.types.map(String);
  return out;
}

function errText(e) {
  return e && typeof e.message === "string" ? e.message : String(e);
}

function closeReason(code) {
  switch (code) {
    case 1000:
      return "closed";
    case 1001:
      return "daemon shutting down";
    case 1006:
      return "connection failed or dropped (is nfcd running? Local Network Access allowed?)";
    case 1008:
      return "policy violation (too many bad frames)";
    case 1009:
      return "frame too large";
    case 1013:
      return "client too slow; events dropped";
    default:
      return "closed with code " + code;
  }
}

function now() {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}

/**
 * Fetches a single-use session token from the daemon that served the page
 * (GET /v1/session, same origin only). Pass it as `getToken` on the daemon's
 * own page.
 * @param {string} [base] origin or URL prefix; default: the page's origin
 * @returns {Promise<string>}
 */
export async function fetchSessionToken(base = "") {
  let r;
  try {
    r = await fetch(base + "/v1/session", { credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new NfcdError("token", "cannot reach the daemon: " + errText(e));
  }
  let body = null;
  try {
    body = await r.json();
  } catch {
    // handled below
  }
  if (!r.ok) {
    const code = body && typeof body.code === "string" ? body.code : "token";
    throw new NfcdError(code, (body && body.message) || `session endpoint answered ${r.status}`, { status: r.status });
  }
  if (!body || typeof body.token !== "string") throw new NfcdError("token", "session endpoint sent no token");
  return body.token;
}

/**
 * The bytes signature `s` of payload `p` covers: the canonical encoding of
 * docs/signed-verdicts.md, version 1 or (when `s.v` is 2) version 2.
 * @param {Record<string, any>} p a tag.read or verdict.updated payload
 * @param {{key_id: string, v?: number}} s its signature or signature_v2
 * @returns {Uint8Array}
 */
export function canonicalVerdict(p, s) {
  if (s.v === 2) {
    return new TextEncoder().encode(JSON.stringify({
      v: 2, key_id: s.key_id, tap: p.tap,
      reader: p.reader, uid: p.uid, ctr: p.ctr, url: p.url,
      verdict: p.verdict, reason: p.reason, time: p.time,
      profile: p.profile, tt_status: p.tt_status, originality: p.originality,
      remote: p.remote?.state ?? p.remote, fleet: p.fleet?.state ?? p.fleet,
    }));
  }
  return new TextEncoder().encode(JSON.stringify({
    v: 1, key_id: s.key_id,
    reader: p.reader, uid: p.uid, ctr: p.ctr, url: p.url,
    verdict: p.verdict, reason: p.reason, time: p.time,
  }));
}

/**
 * Checks the Ed25519 signatures of a tag.read or verdict.updated payload
 * with the daemon's public key (`nfcd key show`: public_key, base64url, or
 * its 32 raw bytes), both canonical versions, as the daemon's own
 * verifier does: every signature present must verify — `signature` under
 * its version (1 unless it says `v: 2`, as on verdict.updated) and
 * `signature_v2` when present. Resolves to `{ok, version, keyId}`, version
 * being the highest one verified (2 covers tap, profile, tt_status,
 * originality, remote and fleet); `ok` is false for any bad or missing
 * signature. Check `keyId` against the key ID you provisioned.
 * Needs WebCrypto Ed25519 (Chrome 137+, Firefox 129+, Safari 17+, Node 20+).
 * @param {Record<string, any>} payload
 * @param {Uint8Array | ArrayBuffer | string} publicKey
 * @returns {Promise<{ok: boolean, version: number, keyId: string}>}
 */
export async function verifyVerdict(payload, publicKey) {
  const fail = { ok: false, version: 0, keyId: "" };
  if (!payload || typeof payload !== "object" || !payload.signature) return fail;
  const raw = typeof publicKey === "string" ? b64urlBytes(publicKey) : new Uint8Array(publicKey);
  if (!raw || raw.length !== 32) return fail;
  const sigs = [payload.signature];
  if (payload.signature_v2 != null) {
    if (payload.signature_v2.v !== 2) return fail;
    sigs.push(payload.signature_v2);
  }
  let key;
  try {
    key = await globalThis.crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return fail;
  }
  let version = 0;
  for (const s of sigs) {
    const v = s && s.v == null ? 1 : s && s.v;
    const sig = s && typeof s.sig === "string" ? b64urlBytes(s.sig) : null;
    if (!s || s.alg !== "Ed25519" || typeof s.key_id !== "string" || (v !== 1 && v !== 2) || !sig) {
      return fail;
    }
    let good = false;
    try {
      good = await globalThis.crypto.subtle.verify({ name: "Ed25519" }, key, sig, canonicalVerdict(payload, s));
    } catch {
      good = false;
    }
    if (!good) return fail;
    version = Math.max(version, v);
  }
  return { ok: true, version, keyId: sigs[0].key_id };
}

function b64urlBytes(s) {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return null;
  const b64 = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  try {
    return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
