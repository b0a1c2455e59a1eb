// demo.js: a simulated nfcd daemon for the kiosk page's demo mode
// (index.html?demo=1). DemoSocket has the shape of the browser WebSocket
// that NfcdClient uses, so the page runs its real client code against it;
// POS developers can use it the same way to build a UI without a reader:
//
//   import { DemoSocket } from "./demo.js";
//   new NfcdClient({ token: "demo", WebSocketImpl: DemoSocket });
//
// URL parameters (demo mode only):
//   demo_verdict=counterfeit  verdict of the last tap of the opening burst
//   demo_loop=0               stop after the opening burst (for screenshots)
//   demo_interval=4000        ms between simulated taps
//   demo_outage=pcsc          show an outage instead of taps: pcsc (the
//                             reader service is down), noreader (no reader
//                             connected) or daemon (no daemon at all)

const READER = "ACS ACR1252 1S CL Reader PICC 0";
const STREAM = "demo0000demo0000";
const VERDICT_CYCLE = ["authentic", "authentic", "replayed", "authentic", "counterfeit", "malformed", "unknown_profile"];

// Reason codes (internal/verdict/names.go) and the daemon's details.
const REASONS = {
  authentic: ["ok", ""],
  counterfeit: ["bad_mac", ""],
  replayed: ["replayed_counter", "counter 41 is not above 41, already accepted for this tag"],
  malformed: ["bad_format", "picc_data: missing parameter \"picc_data\""],
  unknown_profile: ["unknown_profile", ""],
};

const config = { lastVerdict: "authentic", loop: true, interval: 4000, outage: "" };

/** The demo daemon's kiosk settings (GET /v1/ui-config of a real one). */
export function demoUI() {
  return { profiles: { demo: { display_name: "Demo running shoes" } } };
}

/**
 * Applies the demo URL parameters.
 * @param {URLSearchParams} params
 */
export function configureDemo(params) {
  const v = params.get("demo_verdict");
  if (v) config.lastVerdict = v;
  if (params.get("demo_loop") === "0") config.loop = false;
  const iv = Number(params.get("demo_interval"));
  if (Number.isFinite(iv) && iv >= 500) config.interval = iv;
  const o = params.get("demo_outage");
  if (o === "pcsc" || o === "noreader" || o === "daemon") config.outage = o;
}

/** The reader service state the demo daemon reports. */
function pcsc() {
  return { state: config.outage === "pcsc" ? "no_service" : "simulated" };
}

/** The demo daemon's readers. */
function readerList() {
  return daemon.started && !config.outage ? [{ name: READER, card_present: false }] : [];
}

// The simulated daemon state is shared by all sockets, so a reconnect can
// resume like against the real daemon.
const daemon = {
  seq: 0,
  ring: [],
  sockets: new Set(),
  ctr: 38,
  uidIndex: 0,
  started: false,
};

const UIDS = ["04A1B2C3D4E5F6", "04996C6A926980", "04DE5F1EACC040"];

function publish(type, payload) {
  const ev = { v: 1, type, seq: ++daemon.seq, payload };
  daemon.ring.push(ev);
  if (daemon.ring.length > 1024) daemon.ring.shift();
  for (const s of daemon.sockets) if (s.subscribed) s._deliver(ev);
}

function tap(verdict) {
  publish("card.present", { reader: READER, atr: "3B8F8001804F0CA0000003060300030000000068" });
  setTimeout(() => {
    if (verdict !== "replayed") daemon.ctr++;
    const uid = verdict === "counterfeit" ? "04C0FFEE000BAD" : UIDS[daemon.uidIndex++ % UIDS.length];
    const signed = verdict === "authentic" || verdict === "replayed" || verdict === "counterfeit";
    const [reason, detail] = REASONS[verdict] ?? ["bad_input", ""];
    publish("tag.read", {
      reader: READER,
      uid: verdict === "malformed" ? "" : uid,
      ctr: verdict === "malformed" ? null : daemon.ctr,
      url: `https://shop.example/t?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086`,
      verdict,
      reason,
      ...(detail ? { detail } : {}),
      time: new Date().toISOString(),
      ...(signed ? { signature: { alg: "Ed25519", key_id: "demo-key", sig: "ZGVtbyBzaWduYXR1cmUgLSBub3QgdmFsaWQ" } } : {}),
      ...(verdict === "unknown_profile" || verdict === "malformed" ? {} : { profile: "demo" }),
      ...(verdict === "authentic" ? { tt_status: "CC" } : {}),
      originality: "unchecked",
      timings: { apdus: 2, apdu_ms: 40, total_ms: 60 + Math.round(Math.random() * 50) },
    });
  }, 120);
  setTimeout(() => publish("card.removed", { reader: READER }), 900);
}

function start() {
  if (daemon.started) return;
  daemon.started = true;
  if (config.outage) return;
  publish("reader.added", { reader: READER });
  // An opening burst so that the page is populated at once.
  const burst = ["authentic", "replayed", "malformed", "counterfeit", config.lastVerdict];
  burst.forEach((v, i) => setTimeout(() => tap(v), 150 + i * 200));
  if (!config.loop) return;
  let i = 0;
  setTimeout(function next() {
    tap(VERDICT_CYCLE[i++ % VERDICT_CYCLE.length]);
    setTimeout(next, config.interval);
  }, 150 + burst.length * 200 + config.interval);
}

/**
 * A stand-in for WebSocket, connected to the simulated daemon.
 */
export class DemoSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  /**
   * @param {string} url
   * @param {string[]} protocols
   */
  constructor(url, protocols) {
    this.url = url;
    this.protocol = "";
    this.readyState = DemoSocket.CONNECTING;
    this.subscribed = false;
    this.filter = {};
    this.onopen = this.onmessage = this.onerror = this.onclose = null;
    if (!Array.isArray(protocols) || !protocols.includes("nfcd.v1")) {
      throw new SyntaxError("demo daemon requires the nfcd.v1 subprotocol");
    }
    if (config.outage === "daemon") {
      // Like a daemon that is not running: the connection fails.
      setTimeout(() => {
        this.readyState = DemoSocket.CLOSED;
        this.onerror && this.onerror({});
        this.onclose && this.onclose({ code: 1006, reason: "", wasClean: false });
      }, 30);
      return;
    }
    setTimeout(() => {
      if (this.readyState !== DemoSocket.CONNECTING) return;
      this.readyState = DemoSocket.OPEN;
      this.protocol = "nfcd.v1";
      daemon.sockets.add(this);
      this.onopen && this.onopen({});
      this._send({
        v: 1,
        type: "hello",
        seq: daemon.seq,
        payload: {
          server: "demo",
          protocols: [1],
          stream: STREAM,
          readers: readerList(),
          pcsc: pcsc(),
          verdict_key_id: "demo-key",
          max_frame_bytes: 65536,
          history_size: 1024,
        },
      });
    }, 60);
  }

  _send(frame) {
    const data = JSON.stringify(frame);
    setTimeout(() => {
      if (this.readyState === DemoSocket.OPEN && this.onmessage) this.onmessage({ data });
    }, 0);
  }

  _deliver(ev) {
    const f = this.filter || {};
    if (f.types && f.types.length && !f.types.includes(ev.type)) return;
    if (f.readers && f.readers.length && ev.payload.reader && !f.readers.includes(ev.payload.reader)) return;
    this._send(ev);
  }

  _reply(id, payload) {
    this._send({ v: 1, type: "result", id, payload });
  }

  send(data) {
    if (this.readyState !== DemoSocket.OPEN) throw new Error("InvalidStateError");
    const req = JSON.parse(data);
    const p = req.payload || {};
    switch (req.type) {
      case "subscribe":
        this.filter = p;
        this.subscribed = true;
        this._reply(req.id, { seq: daemon.seq });
        start();
        return;
      case "resume": {
        const oldest = daemon.ring.length ? daemon.ring[0].seq : daemon.seq + 1;
        if (p.stream !== STREAM || p.since > daemon.seq || p.since + 1 < oldest) {
          this._send({ v: 1, type: "error", id: req.id, payload: { code: "gap", message: "events since the given seq are no longer available", oldest, last: daemon.seq } });
          return;
        }
        this.filter = p;
        const missed = daemon.ring.filter((e) => e.seq > p.since);
        this._reply(req.id, { replayed: missed.length, seq: daemon.seq });
        for (const e of missed) this._deliver(e);
        this.subscribed = true;
        start();
        return;
      }
      case "readers.list":
        this._reply(req.id, { readers: readerList(), pcsc: pcsc() });
        return;
      case "history.query": {
        const limit = Number.isInteger(p.limit) && p.limit > 0 ? p.limit : 20;
        const entries = daemon.ring
          .filter((e) => e.type === "tag.read")
          .reverse()
          .slice(0, limit)
          .map((e) => ({ time: e.payload.time, reader: e.payload.reader, uid: e.payload.uid, ctr: e.payload.ctr, verdict: e.payload.verdict, reason: e.payload.reason, profile: e.payload.profile }));
        this._reply(req.id, { entries });
        return;
      }
      case "ping":
        this._reply(req.id, { seq: daemon.seq });
        return;
      default:
        this._send({ v: 1, type: "error", id: req.id, payload: { code: "unknown_type", message: "unknown request type" } });
    }
  }

  close(code = 1000, reason = "") {
    if (this.readyState === DemoSocket.CLOSED) return;
    this.readyState = DemoSocket.CLOSED;
    daemon.sockets.delete(this);
    setTimeout(() => this.onclose && this.onclose({ code, reason, wasClean: true }), 0);
  }
}
