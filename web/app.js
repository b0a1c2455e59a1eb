// app.js: the kiosk page nfcd serves at "/". It fetches a single-use
// session token from the daemon (GET /v1/session), connects with
// NfcdClient and shows each tap's verdict in words a store customer
// understands. With ?demo=1 it talks to a simulated daemon instead
// (demo.js), for screenshots and for trying the page without hardware.
//
// All tag-provided text is inserted with textContent, never as HTML.

import { NfcdClient, fetchSessionToken } from "./nfcd-client.js";

const MAX_TAPS = 50;
const MAX_LOG = 300;
const HISTORY_LIMIT = 20;

// How each verdict is presented. tone selects the colour scheme in
// style.css; title is what the customer reads first.
const VERDICTS = {
  authentic: {
    tone: "ok",
    icon: "i-check",
    title: "Authentic",
    short: "Authentic",
    sub: "This is a genuine tag.",
  },
  counterfeit: {
    tone: "bad",
    icon: "i-cross",
    title: "Counterfeit — not a genuine tag",
    short: "Counterfeit",
    sub: "This tag did not pass the authenticity check. Please ask a member of staff.",
  },
  replayed: {
    tone: "warn",
    icon: "i-repeat",
    title: "Replayed — this tap was already used",
    short: "Replayed",
    sub: "This code was seen before. Please tap the product's own tag again.",
  },
  malformed: {
    tone: "neutral",
    icon: "i-question",
    title: "Unreadable tag",
    short: "Unreadable",
    sub: "The tag could not be read. Hold it flat and still on the reader and try again.",
  },
  unknown_profile: {
    tone: "neutral",
    icon: "i-question",
    title: "Unknown tag",
    short: "Unknown tag",
    sub: "This tag is not one this store can check.",
  },
  // Remote verification (docs/protocol.md): a verdict.updated follows.
  pending: {
    tone: "neutral",
    icon: "i-question",
    title: "Checking with the tag's service…",
    short: "Checking",
    sub: "The result follows in a moment.",
  },
  unverified: {
    tone: "warn",
    icon: "i-question",
    title: "Could not be verified",
    short: "Unverified",
    sub: "The tag's service could not confirm this tag. Please try again later or ask a member of staff.",
  },
  unknown_tag: {
    tone: "bad",
    icon: "i-cross",
    title: "Unknown to the tag's service",
    short: "Unknown tag",
    sub: "The tag's service does not know this tag. Please ask a member of staff.",
  },
};

// The remote state of a verdict (its signed "remote" member) as the panel
// shows it; "off" and "none" show nothing.
const REMOTE_TEXT = {
  pending: "Remote check pending",
  authentic: "Remote check: verified",
  expired: "Remote check: already used",
  invalid: "Remote check: invalid",
  unknown_tag: "Remote check: unknown tag",
  rejected: "Remote check refused",
  gave_up: "Remote check unavailable",
};
// Older daemons and the protocol examples call a verified tag "genuine".
VERDICTS.genuine = VERDICTS.valid = VERDICTS.authentic;
const UNKNOWN_VERDICT = VERDICTS.unknown_profile;

const STATE_TEXT = {
  idle: "Starting…",
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

const $ = (sel, root = document) => root.querySelector(sel);
const el = {
  conn: $('[data-testid="connection"]'),
  connText: $(".conn-text"),
  banner: $('[data-testid="offline-banner"]'),
  bannerText: $(".banner-text"),
  demoBadge: $('[data-testid="demo-badge"]'),
  last: $('[data-testid="last-verdict"]'),
  lastIcon: $(".last-icon use"),
  lastTitle: $('[data-testid="last-title"]'),
  lastSub: $('[data-testid="last-sub"]'),
  lastDetails: $('[data-testid="last-details"]'),
  lastFoot: $('[data-testid="last-foot"]'),
  reading: $('[data-testid="reading"]'),
  readers: $('[data-testid="readers"]'),
  readersEmpty: $('[data-testid="readers-empty"]'),
  taps: $('[data-testid="tap-list"]'),
  tapsEmpty: $('[data-testid="taps-empty"]'),
  tapTemplate: $("#tap-row-template"),
  log: $('[data-testid="log-lines"]'),
  logCount: $('[data-testid="log-count"]'),
};

// ---- formatting ----

function verdictInfo(v) {
  return Object.hasOwn(VERDICTS, v) ? VERDICTS[v] : UNKNOWN_VERDICT;
}

// parseTime accepts RFC 3339 strings and unix seconds or milliseconds.
function parseTime(t) {
  if (typeof t === "string") {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return new Date(ms);
  } else if (typeof t === "number" && Number.isFinite(t)) {
    return new Date(t > 1e12 ? t : t * 1000);
  }
  return new Date();
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

function formatTime(d) {
  const sameDay = new Date().toDateString() === d.toDateString();
  return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

function formatUID(uid) {
  if (typeof uid !== "string" || uid === "") return "—";
  // 04A1B2C3D4E5F6 → 04 A1 B2 C3 D4 E5 F6 for legibility.
  return /^[0-9A-Fa-f]+$/.test(uid) && uid.length % 2 === 0 ? uid.toUpperCase().match(/../g).join(" ") : uid;
}

function formatCtr(ctr) {
  return Number.isInteger(ctr) ? String(ctr) : "—";
}

// durationOf finds a total duration in ms in the timings object (its shape
// is the daemon's), or the watch-style elapsed_ms.
function durationOf(p) {
  const t = p.timings;
  if (t && typeof t === "object") {
    for (const k of ["total_ms", "total", "elapsed_ms"]) if (typeof t[k] === "number") return t[k];
  }
  if (typeof t === "number") return t;
  if (typeof p.elapsed_ms === "number") return p.elapsed_ms;
  return null;
}

function originalityText(o) {
  if (o === true || o === "ok" || o === "valid" || (o && typeof o === "object" && (o.valid === true || o.ok === true))) {
    return "NXP originality verified";
  }
  if (o === false || o === "invalid" || (o && typeof o === "object" && (o.valid === false || o.ok === false))) {
    return "NXP originality check failed";
  }
  return "";
}

function readerName(r) {
  if (typeof r === "string") return r;
  if (r && typeof r.name === "string") return r.name;
  return "";
}

function setText(node, text) {
  node.textContent = text;
}

// ---- last tap panel ----

let lastTapAt = null;
// The tap ID of the panel's verdict: a verdict.updated of it replaces it.
let lastTap = null;

function showLast(p) {
  const v = typeof p.verdict === "string" ? p.verdict : "";
  const info = verdictInfo(v);
  const time = parseTime(p.time);
  lastTapAt = new Date(); // arrival, not the tap's own clock
  el.last.dataset.verdict = v || "unknown";
  el.last.dataset.tone = info.tone;
  el.lastIcon.setAttribute("href", "#" + info.icon);
  setText(el.lastTitle, info.title);
  setText(el.lastSub, info.sub);
  const fields = {
    uid: formatUID(p.uid),
    ctr: formatCtr(p.ctr),
    time: formatTime(time),
    reader: typeof p.reader === "string" && p.reader ? p.reader : "—",
    reason: typeof p.reason === "string" && p.reason ? p.reason : "",
  };
  for (const [k, text] of Object.entries(fields)) setText($(`[data-field="${k}"]`, el.lastDetails), text || "—");
  $('[data-row="reason"]', el.lastDetails).hidden = !fields.reason;
  el.lastDetails.hidden = false;

  lastTap = typeof p.tap === "string" ? p.tap : null;
  const foot = [];
  if (typeof p.remote === "string" && Object.hasOwn(REMOTE_TEXT, p.remote)) foot.push(REMOTE_TEXT[p.remote]);
  const o = originalityText(p.originality);
  if (o) foot.push(o);
  // The daemon signs every verdict: signature = {alg, key_id, sig}
  // (docs/signed-verdicts.md).
  const sig = p.signature;
  if (sig && typeof sig === "object" && typeof sig.sig === "string" && sig.sig) {
    foot.push(typeof sig.key_id === "string" && sig.key_id ? `Signed result (key ${sig.key_id})` : "Signed result");
  }
  const ms = durationOf(p);
  if (ms !== null) foot.push(`Checked in ${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`);
  setText(el.lastFoot, foot.join("  ·  "));
  el.lastFoot.hidden = foot.length === 0;

  setReading(false);
  // Restart the arrival animation.
  el.last.classList.remove("arrived");
  void el.last.offsetWidth;
  el.last.classList.add("arrived");
}

let readingTimer = null;

function setReading(on) {
  clearTimeout(readingTimer);
  el.reading.hidden = !on;
  el.last.dataset.reading = on ? "true" : "false";
  // A card that never yields a tag.read (not an NTAG 424) must not leave
  // "Checking…" up forever.
  if (on) readingTimer = setTimeout(() => setReading(false), 5000);
}

// ---- recent taps ----

// Keys of the taps in the list, so that history does not repeat a tap that
// also arrived live.
const tapKeys = new Set();
const tapKey = (p) => `${p.uid}|${p.ctr}|${p.verdict}|${p.reader}`;

function addTap(p, { live = true } = {}) {
  if (!live && tapKeys.has(tapKey(p))) return;
  tapKeys.add(tapKey(p));
  const v = typeof p.verdict === "string" ? p.verdict : "";
  const info = verdictInfo(v);
  const row = el.tapTemplate.content.firstElementChild.cloneNode(true);
  row.dataset.verdict = v || "unknown";
  row.dataset.tone = info.tone;
  $("use", row).setAttribute("href", "#" + info.icon);
  setText($(".tap-verdict", row), info.short);
  setText($(".tap-uid", row), formatUID(p.uid));
  const time = parseTime(p.time);
  setText($(".tap-time", row), formatTime(time));
  setText($(".tap-ctr", row), Number.isInteger(p.ctr) ? "#" + p.ctr : "");
  row.title = [info.title, typeof p.reason === "string" ? p.reason : "", typeof p.reader === "string" ? p.reader : ""]
    .filter(Boolean)
    .join("\n");
  if (live) {
    row.classList.add("new");
    el.taps.prepend(row);
  } else {
    el.taps.append(row);
  }
  while (el.taps.children.length > MAX_TAPS) el.taps.lastElementChild.remove();
  if (tapKeys.size > 10 * MAX_TAPS) tapKeys.clear();
  el.tapsEmpty.hidden = el.taps.children.length > 0;
}

// historyEntry maps a history.query entry (the daemon's audit record) to
// the tag.read field names, tolerating either spelling.
function historyEntry(e) {
  const pick = (...keys) => {
    for (const k of keys) if (e[k] !== undefined && e[k] !== null) return e[k];
    return undefined;
  };
  return {
    uid: pick("uid", "UID"),
    ctr: pick("ctr", "counter", "Counter"),
    verdict: pick("verdict", "Verdict"),
    reason: pick("reason", "Reason"),
    reader: pick("reader", "Reader"),
    time: pick("time", "Time"),
  };
}

// ---- readers ----

const readers = new Map(); // name → li

function setReaders(list) {
  readers.clear();
  el.readers.replaceChildren();
  for (const r of Array.isArray(list) ? list : []) addReader(readerName(r));
}

function addReader(name) {
  if (!name || readers.has(name)) return;
  const li = document.createElement("li");
  li.className = "reader";
  li.dataset.testid = "reader-row";
  li.dataset.active = "false";
  li.innerHTML = '<svg class="reader-icon" aria-hidden="true"><use href="#i-reader"/></svg><span class="reader-name"></span><span class="reader-state"></span>';
  setText($(".reader-name", li), name);
  setText($(".reader-state", li), "Ready");
  readers.set(name, li);
  el.readers.append(li);
  el.readersEmpty.hidden = true;
}

function removeReader(name) {
  const li = readers.get(name);
  if (li) li.remove();
  readers.delete(name);
  el.readersEmpty.hidden = readers.size > 0;
}

function setReaderActive(name, active) {
  const li = readers.get(name);
  if (!li) return;
  li.dataset.active = String(active);
  setText($(".reader-state", li), active ? "Tag present" : "Ready");
}

// ---- event log ----

let logCount = 0;

function log(kind, text, seq) {
  const li = document.createElement("li");
  li.dataset.kind = kind;
  const t = document.createElement("time");
  t.textContent = timeFmt.format(new Date());
  const k = document.createElement("span");
  k.className = "log-kind";
  k.textContent = kind;
  const s = document.createElement("span");
  s.className = "log-seq";
  s.textContent = seq ? "#" + seq : "";
  const m = document.createElement("span");
  m.className = "log-msg";
  m.textContent = text.length > 400 ? text.slice(0, 400) + "…" : text;
  li.append(t, k, s, m);
  el.log.prepend(li);
  while (el.log.children.length > MAX_LOG) el.log.lastElementChild.remove();
  logCount++;
  el.logCount.textContent = String(logCount);
}

// ---- connection state ----

function showState(state, info) {
  el.conn.dataset.state = state;
  setText(el.connText, STATE_TEXT[state] || state);
  el.conn.title = info && info.reason ? info.reason : "";
  // Tell customers only when it lasts: a single quick reconnect is silent.
  const down = state === "closed" || (state === "reconnecting" && info && info.attempt >= 3);
  el.banner.hidden = !down;
  document.body.dataset.offline = String(down);
}

// ---- wiring ----

async function clientOptions(params) {
  if (params.get("demo") === "1") {
    const { DemoSocket, configureDemo } = await import("./demo.js");
    configureDemo(params);
    el.demoBadge.hidden = false;
    return { url: "ws://127.0.0.1:7424/v1/ws", token: "demo", WebSocketImpl: DemoSocket };
  }
  if (location.protocol !== "http:" && location.protocol !== "https:") {
    throw new Error("open this page from nfcd (http://127.0.0.1:7424/) or add ?demo=1");
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return {
    url: `${scheme}//${location.host}/v1/ws`,
    // Session tokens are single-use: fetch one for every (re)connection.
    getToken: () => fetchSessionToken(),
  };
}

async function loadHistory(client) {
  try {
    const entries = await client.history({ limit: HISTORY_LIMIT });
    for (const e of entries) if (e && typeof e === "object") addTap(historyEntry(e), { live: false });
    log("history", `${entries.length} earlier taps loaded`);
  } catch (err) {
    log("history", `history unavailable: ${err.code || "error"}`);
  }
}

async function refreshReaders(client) {
  try {
    setReaders(await client.readers());
  } catch (err) {
    log("readers", `readers.list failed: ${err.code || "error"}`);
  }
}

async function main() {
  const params = new URLSearchParams(location.search);
  let opts;
  try {
    opts = await clientOptions(params);
  } catch (err) {
    showState("closed", { reason: err.message });
    setText(el.bannerText, err.message);
    return;
  }
  const client = new NfcdClient({ ...opts, backoff: { min: 250, max: 10000 } });
  let first = true;

  client.on("state", (state, info) => {
    showState(state, info);
    const why = info.error ? ` (${info.error.code})` : info.reason ? ` (${info.reason})` : "";
    log("state", state + (state === "reconnecting" ? ` in ${info.delay} ms, attempt ${info.attempt}` : "") + why);
  });
  client.on("hello", (h, meta) => {
    setReaders(h.readers);
    log("hello", `daemon ${h.server || "?"}, stream ${h.stream || "?"}, ${Array.isArray(h.readers) ? h.readers.length : 0} reader(s)`, meta.seq);
    if (first) {
      first = false;
      loadHistory(client);
    }
  });
  client.on("reader.added", (p, m) => {
    addReader(p.reader);
    log("reader.added", p.reader || "", m.seq);
  });
  client.on("reader.removed", (p, m) => {
    removeReader(p.reader);
    log("reader.removed", p.reader || "", m.seq);
  });
  client.on("card.present", (p, m) => {
    setReaderActive(p.reader, true);
    if (!m.replayed) setReading(true);
    log("card.present", `${p.reader || ""}${p.atr ? " ATR " + p.atr : ""}`, m.seq);
  });
  client.on("card.removed", (p, m) => {
    setReaderActive(p.reader, false);
    log("card.removed", p.reader || "", m.seq);
  });
  client.on("tag.read", (p, m) => {
    // A tap missed while offline goes to the list but does not take over
    // the big panel: the customer in front of it did not just tap it.
    if (!m.replayed) showLast(p);
    addTap(p);
    log("tag.read", `${p.verdict || "?"} uid=${p.uid || "?"} ctr=${p.ctr ?? "null"}${p.reason ? " — " + p.reason : ""}${m.replayed ? " (replayed after reconnect)" : ""}`, m.seq);
  });
  client.on("verdict.updated", (p, m) => {
    // The settled verdict of an earlier tag.read (the same tap ID).
    if (!m.replayed && p.tap && p.tap === lastTap) showLast(p);
    addTap(p);
    log("verdict.updated", `${p.verdict || "?"} uid=${p.uid || "?"}${p.reason ? " — " + p.reason : ""}${p.remote ? " (remote " + p.remote + ")" : ""}`, m.seq);
  });
  client.on("error", (p, m) => log("error", `${p.code || "error"}: ${p.message || ""}`, m.seq));
  client.on("gap", (g) => {
    log("gap", `missed events after #${g.since} are gone (oldest kept #${g.oldest ?? "?"}); reloading`);
    refreshReaders(client);
  });
  client.on("overflow", (o) => log("overflow", `daemon dropped events from #${o.seq}; resuming`));
  client.on("notice", (e) => log("notice", `${e.code}: ${e.message}`));

  // The authentication station (station.js) hides itself unless the daemon
  // has one configured.
  import("./station.js").then((m) => m.mountStation(client)).catch((err) => log("station", `not loaded: ${err.message}`));

  client.connect().catch(() => {});
  // Keep relative freshness visible: dim the panel after a minute idle.
  setInterval(() => {
    el.last.dataset.stale = String(lastTapAt !== null && Date.now() - lastTapAt.getTime() > 60000);
  }, 5000);
  // For POS developers poking around in the console.
  window.nfcd = client;
}

main();
