// Tests of nfcd-client.js against a fake WebSocket and a fake daemon that
// follows docs/protocol.md (hello, subscribe, resume with gap, replies in
// order). Run with `node --test web/` (Node ≥ 20); web_test.go runs it too.

import { test } from "node:test";
import assert from "node:assert/strict";
import { NfcdClient, NfcdError, STATES } from "./nfcd-client.js";

const TOKEN = "tok_SECRET-abc.123";

// FakeDaemon mimics the server side of protocol v1 closely enough to drive
// the client: numbered events in a bounded ring, subscribe/resume/gap,
// filters, readers.list, history.query, ping.
class FakeDaemon {
  constructor({ stream = "stream-a", historySize = 1024 } = {}) {
    this.stream = stream;
    this.historySize = historySize;
    this.seq = 0;
    this.ring = [];
    this.sockets = [];
    this.up = true; // when false, new sockets fail like a refused connection
    this.sendHello = true;
    this.handlers = {}; // request type → (payload, sock) => result | {error} | undefined (no reply)
    const daemon = this;
    // WebSocketImpl is what the client gets as its WebSocket constructor.
    this.WebSocketImpl = class FakeWebSocket {
      constructor(url, protocols) {
        this.url = url;
        this.protocols = protocols;
        this.readyState = 0;
        this.sent = [];
        this.closedWith = null;
        this.subscribed = false;
        this.filter = null;
        daemon.sockets.push(this);
        setTimeout(() => daemon.#accept(this), 0);
      }
      send(data) {
        if (this.readyState !== 1) throw new Error("not open");
        let f;
        if (data instanceof Uint8Array) {
          // A binary request: uint16 BE header length, envelope, body.
          const n = (data[0] << 8) | data[1];
          f = JSON.parse(new TextDecoder().decode(data.subarray(2, 2 + n)));
          f.data = data.subarray(2 + n);
        } else {
          f = JSON.parse(data);
        }
        this.sent.push(f);
        daemon.#handle(this, f);
      }
      close(code, reason) {
        if (this.readyState === 3) return;
        this.closedWith = { code, reason };
        this.readyState = 3;
        setTimeout(() => this.onclose && this.onclose({ code: 1000, reason: "" }), 0);
      }
    };
  }

  get last() {
    return this.sockets[this.sockets.length - 1];
  }

  #accept(s) {
    if (s.readyState !== 0) return;
    if (!this.up) {
      s.readyState = 3;
      s.onclose && s.onclose({ code: 1006, reason: "" });
      return;
    }
    s.readyState = 1;
    s.onopen && s.onopen({});
    if (this.sendHello) {
      this.frame(s, { v: 1, type: "hello", seq: this.seq, payload: { server: "test", protocols: [1], stream: this.stream, readers: [{ name: "R1" }], verdict_key_id: "k1" } });
    }
  }

  frame(s, f) {
    if (s.readyState === 1 && s.onmessage) s.onmessage({ data: JSON.stringify(f) });
  }

  reply(s, id, payload) {
    this.frame(s, { v: 1, type: "result", id, payload });
  }

  error(s, id, payload) {
    this.frame(s, { v: 1, type: "error", id, payload });
  }

  matches(s, ev) {
    const f = s.filter || {};
    if (f.types && f.types.length && !f.types.includes(ev.type)) return false;
    if (f.readers && f.readers.length && typeof ev.payload.reader === "string" && !f.readers.includes(ev.payload.reader)) return false;
    return true;
  }

  #handle(s, f) {
    const custom = this.handlers[f.type];
    if (custom) {
      const r = custom(f.payload, s, f);
      if (r === undefined) return;
      if (r.error) this.error(s, f.id, r.error);
      else this.reply(s, f.id, r);
      return;
    }
    switch (f.type) {
      case "subscribe":
        s.subscribed = true;
        s.filter = f.payload;
        this.reply(s, f.id, { seq: this.seq });
        return;
      case "resume": {
        const { since, stream } = f.payload;
        const oldest = this.ring.length ? this.ring[0].seq : this.seq + 1;
        if (s.subscribed) return this.error(s, f.id, { code: "bad_request", message: "resume after subscribe" });
        if (stream !== this.stream || since > this.seq || since + 1 < oldest) {
          return this.error(s, f.id, { code: "gap", message: "events since the given seq are no longer available", oldest, last: this.seq });
        }
        s.filter = f.payload;
        const replay = this.ring.filter((e) => e.seq > since && this.matches(s, e));
        this.reply(s, f.id, { replayed: replay.length, seq: this.seq });
        for (const e of replay) this.frame(s, { v: 1, type: e.type, seq: e.seq, payload: e.payload });
        s.subscribed = true;
        return;
      }
      case "ping":
        return this.reply(s, f.id, { seq: this.seq });
      case "readers.list":
        return this.reply(s, f.id, { readers: [{ name: "R1" }] });
      case "history.query":
        return this.reply(s, f.id, { entries: [] });
      default:
        return this.error(s, f.id, { code: "unknown_type", message: "unknown request type" });
    }
  }

  publish(type, payload) {
    const ev = { seq: ++this.seq, type, payload };
    this.ring.push(ev);
    if (this.ring.length > this.historySize) this.ring.shift();
    for (const s of this.sockets) {
      if (s.readyState === 1 && s.subscribed && this.matches(s, ev)) this.frame(s, { v: 1, type, seq: ev.seq, payload });
    }
    return ev.seq;
  }

  // drop ends the newest connection from the server side with code.
  drop(code = 1006) {
    const s = this.last;
    s.readyState = 3;
    s.onclose && s.onclose({ code, reason: "" });
  }

  // restart simulates a daemon restart: new stream, seq from 0.
  restart(stream) {
    for (const s of this.sockets) if (s.readyState === 1) this.dropSocket(s, 1001);
    this.stream = stream;
    this.seq = 0;
    this.ring = [];
  }

  dropSocket(s, code) {
    s.readyState = 3;
    s.onclose && s.onclose({ code, reason: "" });
  }
}

function newClient(daemon, opts = {}) {
  return new NfcdClient({
    url: "ws://127.0.0.1:7424/v1/ws",
    token: TOKEN,
    WebSocketImpl: daemon.WebSocketImpl,
    requestTimeout: 100,
    backoff: { min: 5, max: 40, jitter: 0 },
    pingInterval: 0,
    ...opts,
  });
}

// next resolves with the listener arguments of the next event of type
// that satisfies pred, or rejects after ms.
function next(client, type, pred = () => true, ms = 1000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${ms} ms`));
    }, ms);
    const off = client.on(type, (...args) => {
      if (!pred(...args)) return;
      clearTimeout(t);
      off();
      resolve(args);
    });
  });
}

// collect records every call of type.
function collect(client, type) {
  const got = [];
  client.on(type, (...args) => got.push(args));
  return got;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("connects with nfcd.v1 plus the token subprotocol and subscribes with the filter", async () => {
  const d = new FakeDaemon();
  const c = newClient(d, { filter: { types: ["tag.read"], readers: [] } });
  const states = collect(c, "state");
  const hello = await c.connect();
  assert.equal(hello.stream, "stream-a");
  assert.deepEqual(d.last.protocols, ["nfcd.v1", "nfcd-token." + TOKEN]);
  assert.equal(d.last.url, "ws://127.0.0.1:7424/v1/ws");
  assert.equal(d.last.sent[0].type, "subscribe");
  assert.equal(d.last.sent[0].v, 1);
  assert.deepEqual(d.last.sent[0].payload, { types: ["tag.read"] });
  assert.deepEqual(states.map((s) => s[0]), ["connecting", "open"]);
  assert.equal(c.state, STATES.OPEN);

  const tap = next(c, "tag.read");
  d.publish("card.present", { reader: "R1" }); // filtered out by the daemon
  d.publish("tag.read", { reader: "R1", uid: "04A1", ctr: 7, verdict: "authentic", extra: { x: 1 } });
  const [payload, meta] = await tap;
  assert.equal(payload.verdict, "authentic");
  assert.deepEqual(payload.extra, { x: 1 });
  assert.deepEqual(meta, { type: "tag.read", seq: 2, stream: "stream-a", replayed: false });
  assert.deepEqual(c.position, { stream: "stream-a", seq: 2 });
  c.close();
});

test("reconnects with backoff and resumes from the last seen seq", async () => {
  const d = new FakeDaemon();
  const c = newClient(d);
  const taps = collect(c, "tag.read");
  await c.connect();
  d.publish("tag.read", { uid: "01", verdict: "authentic" });
  d.publish("tag.read", { uid: "02", verdict: "authentic" });
  assert.equal(taps.length, 2);

  d.up = false;
  const rec = next(c, "state", (s) => s === "reconnecting");
  d.drop(1006);
  const [, info] = await rec;
  assert.equal(info.code, 1006);
  assert.equal(info.attempt, 1);
  assert.equal(info.delay, 5); // backoff.min, jitter 0
  // Missed while offline; the second attempt fails too and backs off more.
  d.publish("tag.read", { uid: "03", verdict: "replayed" });
  d.publish("card.removed", { reader: "R1" });
  const [, info2] = await next(c, "state", (s) => s === "reconnecting");
  assert.equal(info2.attempt, 2);
  assert.equal(info2.delay, 10);

  d.up = true;
  await next(c, "state", (s) => s === "open", 2000);
  const resume = d.last.sent[0];
  assert.equal(resume.type, "resume");
  assert.deepEqual(resume.payload, { since: 2, stream: "stream-a" });
  assert.deepEqual(taps.map(([p, m]) => [p.uid, m.seq, m.replayed]), [
    ["01", 1, false],
    ["02", 2, false],
    ["03", 3, true],
  ]);
  d.publish("tag.read", { uid: "05", verdict: "authentic" });
  assert.deepEqual(taps.at(-1)[1], { type: "tag.read", seq: 5, stream: "stream-a", replayed: false });
  assert.equal(c.position.seq, 5);
  c.close();
});

test("resumes even if nothing was seen before the drop (since 0)", async () => {
  const d = new FakeDaemon();
  const c = newClient(d);
  await c.connect();
  d.drop(1001);
  d.publish("tag.read", { uid: "01" });
  const [p] = await next(c, "tag.read");
  assert.equal(p.uid, "01");
  assert.deepEqual(d.last.sent[0].payload, { since: 0, stream: "stream-a" });
  c.close();
});

test("a gap (daemon restarted) emits gap and falls back to subscribe", async () => {
  const d = new FakeDaemon();
  const c = newClient(d, { filter: { types: ["tag.read"] } });
  const taps = collect(c, "tag.read");
  await c.connect();
  d.publish("tag.read", { uid: "01" });
  d.publish("tag.read", { uid: "02" });
  const gap = next(c, "gap");
  const open = next(c, "state", (s) => s === "open");
  d.restart("stream-b");
  const [g] = await gap;
  assert.deepEqual(g, { since: 2, stream: "stream-a", oldest: 1, last: 0 });
  await open;
  const sent = d.last.sent.map((f) => [f.type, f.payload]);
  assert.deepEqual(sent, [
    ["resume", { types: ["tag.read"], since: 2, stream: "stream-a" }],
    ["subscribe", { types: ["tag.read"] }],
  ]);
  // seq restarts at 1 in the new stream and must not be dropped as a duplicate.
  d.publish("tag.read", { uid: "B1" });
  assert.deepEqual(taps.at(-1)[1], { type: "tag.read", seq: 1, stream: "stream-b", replayed: false });
  assert.deepEqual(c.position, { stream: "stream-b", seq: 1 });
  c.close();
});

test("a gap because history was overwritten also falls back to subscribe", async () => {
  const d = new FakeDaemon({ historySize: 2 });
  const c = newClient(d);
  await c.connect();
  d.publish("tag.read", { uid: "01" });
  d.up = false;
  d.drop(1013);
  for (let i = 0; i < 5; i++) d.publish("tag.read", { uid: "x" + i });
  const gap = next(c, "gap");
  const open = next(c, "state", (s) => s === "open");
  d.up = true;
  const [g] = await gap;
  assert.deepEqual(g, { since: 1, stream: "stream-a", oldest: 5, last: 6 });
  await open;
  assert.deepEqual(c.position, { stream: "stream-a", seq: 6 });
  c.close();
});

test("request rejects with timeout when the daemon does not answer", async () => {
  const d = new FakeDaemon();
  d.handlers["readers.list"] = () => undefined; // never answers
  const c = newClient(d);
  await c.connect();
  const t0 = Date.now();
  await assert.rejects(c.readers(), (e) => e instanceof NfcdError && e.code === "timeout");
  const took = Date.now() - t0;
  assert.ok(took >= 90 && took < 1000, `timeout after ${took} ms, want ~100`);
  await assert.rejects(c.request("readers.list", {}, { timeout: 20 }), { code: "timeout" });
  c.close();
});

test("error replies map to NfcdError with code, message and details", async () => {
  const d = new FakeDaemon();
  d.handlers["history.query"] = (p) =>
    p.limit < 0 ? { error: { code: "bad_request", message: "invalid history query", hint: 1 } } : { entries: [{ uid: "01" }] };
  const c = newClient(d);
  await c.connect();
  const err = await c.history({ limit: -1 }).catch((e) => e);
  assert.ok(err instanceof NfcdError);
  assert.ok(err instanceof Error);
  assert.equal(err.code, "bad_request");
  assert.equal(err.message, "invalid history query");
  assert.deepEqual(err.details, { hint: 1 });
  assert.deepEqual(await c.history({ limit: 1 }), [{ uid: "01" }]);
  await assert.rejects(c.request("nope"), { code: "unknown_type" });
  assert.deepEqual(await c.readers(), [{ name: "R1" }]);
  const pong = await c.ping();
  assert.equal(pong.seq, 0);
  assert.ok(pong.rtt >= 0);
  // An error frame without a code still becomes an NfcdError.
  d.handlers.ping = () => ({ error: {} });
  await assert.rejects(c.ping(), { code: "protocol" });
  c.close();
});

test("replies are matched by id even if they arrive out of order", async () => {
  const d = new FakeDaemon();
  const held = [];
  d.handlers["history.query"] = (p, s, f) => {
    held.push([s, f.id, p.n]);
    return undefined;
  };
  const c = newClient(d);
  await c.connect();
  const a = c.history({ n: 1 });
  const b = c.history({ n: 2 });
  for (const [s, id, n] of held.reverse()) d.reply(s, id, { entries: [n] });
  assert.deepEqual(await a, [1]);
  assert.deepEqual(await b, [2]);
  c.close();
});

test("in-flight requests fail with disconnected; queued ones wait for the next connection", async () => {
  const d = new FakeDaemon();
  d.handlers["history.query"] = () => undefined;
  const c = newClient(d, { requestTimeout: 500 });
  await c.connect();
  const inflight = c.history({});
  await sleep(1);
  d.up = false;
  d.drop(1006);
  await assert.rejects(inflight, { code: "disconnected" });
  const queued = c.readers(); // sent once the daemon is back
  await sleep(20);
  d.up = true;
  assert.deepEqual(await queued, [{ name: "R1" }]);
  // The subscription came first on the new socket, then the queued request.
  assert.deepEqual(d.last.sent.map((f) => f.type), ["resume", "readers.list"]);
  c.close();
});

test("overflow drops the socket and resumes from the last delivered seq", async () => {
  const d = new FakeDaemon();
  const c = newClient(d);
  const taps = collect(c, "tag.read");
  await c.connect();
  d.publish("tag.read", { uid: "01" });
  const first = d.last;
  // The daemon dropped seq 2 and 3 for this client.
  d.seq++;
  d.ring.push({ seq: d.seq, type: "tag.read", payload: { uid: "02" } });
  d.seq++;
  d.ring.push({ seq: d.seq, type: "tag.read", payload: { uid: "03" } });
  const ov = next(c, "overflow");
  d.frame(first, { v: 1, type: "error", payload: { code: "overflow", message: "send queue full; events dropped", seq: 2 } });
  assert.deepEqual((await ov)[0], { seq: 2 });
  assert.equal(first.closedWith.code, 4000);
  await next(c, "state", (s) => s === "open");
  assert.deepEqual(d.last.sent[0].payload, { since: 1, stream: "stream-a" });
  assert.deepEqual(taps.map(([p, m]) => [p.uid, m.replayed]), [["01", false], ["02", true], ["03", true]]);
  c.close();
});

test("getToken is called for every connection and the token never leaks into events", async () => {
  const d = new FakeDaemon();
  let n = 0;
  const c = new NfcdClient({
    getToken: async () => "session" + ++n,
    WebSocketImpl: d.WebSocketImpl,
    requestTimeout: 100,
    backoff: { min: 5, max: 5 },
    pingInterval: 0,
  });
  const seen = [];
  for (const t of ["state", "gap", "overflow", "notice", "hello", "*"]) c.on(t, (...a) => seen.push(a));
  await c.connect();
  d.drop(1006);
  await next(c, "state", (s) => s === "open");
  assert.deepEqual(d.sockets.map((s) => s.protocols[1]), ["nfcd-token.session1", "nfcd-token.session2"]);
  const text = JSON.stringify(seen, (k, v) => (v instanceof Error ? { code: v.code, message: v.message } : v));
  assert.ok(!text.includes("session1") && !text.includes("session2"), "token appears in an event: " + text);
  c.close();
});

test("a failing or unusable getToken backs off with code token, without echoing the token", async () => {
  const d = new FakeDaemon();
  let calls = 0;
  const c = new NfcdClient({
    getToken: async () => {
      calls++;
      if (calls === 1) throw new NfcdError("rate_limited", "too many outstanding session tokens");
      if (calls === 2) return "bad token with spaces";
      return "good";
    },
    WebSocketImpl: d.WebSocketImpl,
    backoff: { min: 5, max: 5 },
    pingInterval: 0,
  });
  const states = collect(c, "state");
  await c.connect();
  const errs = states.filter(([s]) => s === "reconnecting").map(([, i]) => i.error);
  assert.equal(errs[0].code, "rate_limited");
  assert.equal(errs[1].code, "token");
  assert.ok(!errs[1].message.includes("spaces"));
  assert.equal(d.sockets.length, 1); // no socket opened with a bad token
  c.close();
});

test("no hello within the timeout drops the socket and retries", async () => {
  const d = new FakeDaemon();
  d.sendHello = false;
  const c = newClient(d, { requestTimeout: 30 });
  c.connect();
  const [, info] = await next(c, "state", (s) => s === "reconnecting");
  assert.equal(info.error.code, "timeout");
  assert.equal(d.sockets[0].closedWith.code, 4000);
  d.sendHello = true;
  await next(c, "state", (s) => s === "open");
  c.close();
});

test("a ping timeout drops a dead connection", async () => {
  const d = new FakeDaemon();
  const c = newClient(d, { pingInterval: 20, requestTimeout: 30 });
  await c.connect();
  d.handlers.ping = () => undefined; // the connection is silently dead
  const [, info] = await next(c, "state", (s) => s === "reconnecting");
  assert.equal(info.reason, "ping timeout");
  delete d.handlers.ping;
  await next(c, "state", (s) => s === "open");
  c.close();
});

test("backoff grows exponentially, is capped and has jitter", async () => {
  const d = new FakeDaemon();
  d.up = false;
  const rnd = [0, 1, 0.5, 0, 0, 0];
  const c = newClient(d, { backoff: { min: 2, max: 10, jitter: 0.5 }, random: () => rnd.shift() ?? 0 });
  const delays = [];
  c.on("state", (s, i) => s === "reconnecting" && delays.push(i.delay));
  c.connect().catch(() => {});
  while (delays.length < 6) await sleep(5);
  c.close();
  // base 2,4,8,10,10,10 × (1 − 0.5·r)
  assert.deepEqual(delays, [2, 2, 6, 10, 10, 10]);
});

test("close stops reconnecting and rejects pending work", async () => {
  const d = new FakeDaemon();
  d.handlers.ping = () => undefined;
  const c = newClient(d, { requestTimeout: 1000 });
  await c.connect();
  const p = c.ping();
  const sock = d.last;
  c.close();
  await assert.rejects(p, { code: "closed" });
  assert.equal(sock.closedWith.code, 1000);
  assert.equal(c.state, "closed");
  await sleep(30);
  assert.equal(d.sockets.length, 1);
  await assert.rejects(c.connect(), { code: "closed" });
  await assert.rejects(c.readers(), { code: "closed" });
});

test("connect() rejects if close() is called before a connection succeeds", async () => {
  const d = new FakeDaemon();
  d.up = false;
  const c = newClient(d);
  const p = c.connect();
  await next(c, "state", (s) => s === "reconnecting");
  c.close();
  await assert.rejects(p, { code: "closed" });
});

test("resumeFrom resumes a persisted position on the first connection", async () => {
  const d = new FakeDaemon();
  d.publish("tag.read", { uid: "01" });
  d.publish("tag.read", { uid: "02" });
  const c = newClient(d, { resumeFrom: { stream: "stream-a", seq: 1 } });
  const taps = collect(c, "tag.read");
  await c.connect();
  assert.equal(d.last.sent[0].type, "resume");
  assert.deepEqual(taps.map(([p, m]) => [p.uid, m.replayed]), [["02", true]]);
  c.close();
});

test("resume: false subscribes afresh after a reconnect", async () => {
  const d = new FakeDaemon();
  const c = newClient(d, { resume: false });
  await c.connect();
  d.drop(1001);
  d.publish("tag.read", { uid: "missed" });
  await next(c, "state", (s) => s === "open");
  assert.equal(d.last.sent[0].type, "subscribe");
  assert.deepEqual(c.position, { stream: "stream-a", seq: 1 });
  c.close();
});

test("malformed frames become notices and never break the stream", async () => {
  const d = new FakeDaemon();
  const c = newClient(d);
  const notices = collect(c, "notice");
  const taps = collect(c, "tag.read");
  await c.connect();
  const s = d.last;
  s.onmessage({ data: "not json" });
  s.onmessage({ data: "[1,2]" });
  s.onmessage({ data: JSON.stringify({ v: 2, type: "tag.read", seq: 9, payload: {} }) });
  s.onmessage({ data: new Uint8Array([1, 2]) });
  d.frame(s, { v: 1, type: "error", payload: { code: "rate_limited", message: "slow down" } });
  d.frame(s, { v: 1, type: "result", id: "999", payload: {} }); // unknown id: ignored
  d.publish("tag.read", null); // payload null → {}
  d.frame(s, { v: 1, type: "tag.read", seq: 1, payload: { dup: true } }); // duplicate seq: dropped
  assert.deepEqual(notices.map(([e]) => e.code), ["protocol", "protocol", "protocol", "rate_limited"]);
  assert.deepEqual(taps.map(([p]) => p), [{}]);
  const errEvents = collect(c, "error");
  d.publish("error", { code: "reader_failed", message: "the reader or the smart-card service failed; retrying" });
  assert.equal(errEvents[0][0].code, "reader_failed");
  c.close();
});

test("on() returns an unsubscribe function and addEventListener sees details", async () => {
  const d = new FakeDaemon();
  const c = newClient(d);
  const got = [];
  const off = c.on("tag.read", (p) => got.push(p.uid));
  const viaDOM = [];
  c.addEventListener("tag.read", (e) => viaDOM.push([e.detail.payload.uid, e.detail.seq]));
  await c.connect();
  d.publish("tag.read", { uid: "01" });
  off();
  d.publish("tag.read", { uid: "02" });
  assert.deepEqual(got, ["01"]);
  assert.deepEqual(viaDOM, [["01", 1], ["02", 2]]);
  c.close();
});

test("constructor validates its options without echoing the token", () => {
  const WS = new FakeDaemon().WebSocketImpl;
  assert.throws(() => new NfcdClient({ WebSocketImpl: WS }), TypeError);
  assert.throws(() => new NfcdClient({ url: "http://127.0.0.1:7424/v1/ws", token: "t", WebSocketImpl: WS }), TypeError);
  assert.throws(() => new NfcdClient({ url: "::", token: "t", WebSocketImpl: WS }));
  try {
    new NfcdClient({ token: "sec ret", WebSocketImpl: WS });
    assert.fail("no error for a token with a space");
  } catch (e) {
    assert.ok(e instanceof TypeError);
    assert.ok(!e.message.includes("sec ret"));
  }
  assert.throws(() => new NfcdClient({ token: "t", WebSocketImpl: null }), TypeError);
});

test("requestBinary sends the header envelope and the body in one frame and resolves with the reply", async () => {
  const d = new FakeDaemon();
  d.handlers["legitmark.upload.chunk"] = (p, s, f) =>
    p.seq < 0 ? { error: { code: "upload_chunk", message: "bad chunk" } } : { received: f.data.length, first: f.data[0], upload: p.upload_id };
  const c = newClient(d);
  await c.connect();
  const body = new Uint8Array(300).fill(7);
  body[0] = 0xff;
  const r = await c.requestBinary("legitmark.upload.chunk", { upload_id: "u1", seq: 0, final: true }, body.buffer);
  assert.deepEqual(r, { received: 300, first: 0xff, upload: "u1" });
  await assert.rejects(c.requestBinary("legitmark.upload.chunk", { upload_id: "u1", seq: -1 }, new Uint8Array(1)), { code: "upload_chunk" });
  const sent = d.last.sent.filter((f) => f.type === "legitmark.upload.chunk");
  assert.equal(sent.length, 2);
  assert.equal(sent[0].v, 1);
  assert.ok(sent[0].id);
  c.close();
});
