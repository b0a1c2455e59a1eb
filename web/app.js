// app.js: the kiosk page nfcd serves at "/". It fetches a single-use
// session token from the daemon (GET /v1/session), connects with
// NfcdClient and shows each tap's verdict in words a store employee
// understands; codes and IDs are one tap away, under "Details". With
// ?demo=1 it talks to a simulated daemon instead (demo.js), for
// screenshots and for trying the page without hardware.
//
// What the page shows, top to bottom in priority:
//   1. an outage (data-outage on the verdict panel): the daemon is not
//      reachable, the PC/SC service is down, or no reader is connected —
//      then no verdict (and so no green check) is shown anywhere;
//   2. the last verdict, until the configured verdict timeout;
//   3. "Hold the tag to the reader".
//
// Settings come from GET /v1/ui-config (docs/protocol.md): verdict_timeout_ms,
// sound, and each profile's display name and logo. URL parameters override
// them for one screen: ?lang=de, ?verdict_timeout=MS, ?sound=1.
//
// Texts live in strings.js. All tag-provided text is inserted with
// textContent, never as HTML.

import { NfcdClient, fetchSessionToken } from "./nfcd-client.js";
import { applyStrings, has, language, setLanguage, t } from "./strings.js";
import { Sounds } from "./sound.js";
import { mountStation } from "./station.js";

const MAX_TAPS = 30;
const MAX_LOG = 300;
const HISTORY_LIMIT = 20;
const READING_TIMEOUT_MS = 5000;

/** The settings the page uses when the daemon gives none. */
const DEFAULT_UI = Object.freeze({ verdict_timeout_ms: 10000, sound: false, profiles: {} });

// How each verdict is presented: tone selects the colours in style.css,
// sound the tone in sound.js; the words are strings.js's verdict.<name>.*.
const VERDICTS = {
  authentic: { tone: "ok", icon: "i-check", sound: "ok" },
  counterfeit: { tone: "bad", icon: "i-cross", sound: "bad" },
  // A replayed SUN at a reader is a cloned or emulated tag: as bad as a
  // counterfeit, and no invitation to try again.
  replayed: { tone: "bad", icon: "i-copy", sound: "bad" },
  malformed: { tone: "neutral", icon: "i-question", sound: "neutral" },
  unknown_profile: { tone: "neutral", icon: "i-question", sound: "neutral" },
  // With remote verification (a verdict.updated settles a pending tap).
  pending: { tone: "neutral", icon: "i-tap", sound: "" },
  unverified: { tone: "warn", icon: "i-alert", sound: "bad" },
  unknown_tag: { tone: "bad", icon: "i-cross", sound: "bad" },
};
const OTHER_VERDICT = { tone: "warn", icon: "i-alert", sound: "bad" };

// Daemon error events that end a tap without a verdict, shown like one.
const TAP_ERRORS = {
  read_failed: { tone: "neutral", icon: "i-question", sound: "neutral" },
  store_unavailable: { tone: "warn", icon: "i-alert", sound: "neutral" },
};

const $ = (sel, root = document) => root.querySelector(sel);
const el = {
  app: $('[data-testid="app"]'),
  conn: $('[data-testid="connection"]'),
  connText: $('[data-testid="connection-text"]'),
  demoBadge: $('[data-testid="demo-badge"]'),
  last: $('[data-testid="last-verdict"]'),
  lastIcon: $(".last-icon use"),
  lastTitle: $('[data-testid="last-title"]'),
  lastSub: $('[data-testid="last-sub"]'),
  lastReason: $('[data-testid="last-reason"]'),
  product: $('[data-testid="product"]'),
  productLogo: $('[data-testid="product-logo"]'),
  productName: $('[data-testid="product-name"]'),
  tamper: $('[data-testid="tamper"]'),
  remote: $('[data-testid="remote"]'),
  lastTime: $('[data-testid="last-time"]'),
  reading: $('[data-testid="reading"]'),
  readerCard: $('[data-testid="reader-card"]'),
  readers: $('[data-testid="readers"]'),
  readerProblem: $('[data-testid="reader-problem"]'),
  panels: $('[data-slot="panels"]'),
  taps: $('[data-testid="tap-list"]'),
  tapsEmpty: $('[data-testid="taps-empty"]'),
  tapTemplate: $("#tap-row-template"),
  detailsButton: $('[data-testid="details-button"]'),
  details: $('[data-testid="details"]'),
  detailsClose: $('[data-testid="details-close"]'),
  staffHint: $('[data-testid="staff-hint"]'),
  facts: $('[data-testid="facts"]'),
  log: $('[data-testid="log-lines"]'),
  logCount: $('[data-testid="log-count"]'),
};

/**
 * Mounts an extra panel (a <section class="card">) in the side column,
 * above the recent checks. A feature with its own flow uses this.
 * @param {HTMLElement} section
 */
export function mountPanel(section) {
  el.panels.append(section);
}

// ---- state ----

const state = {
  ui: { ...DEFAULT_UI },
  sounds: new Sounds(false),
  conn: "connecting", // the client's connection state
  // pcsc is the reader service: "running", "simulated", "starting",
  // "no_service", "denied". A daemon that does not say runs it.
  pcsc: "starting",
  readers: new Map(), // name → {present}
  shown: null, // the result on screen: {kind: "tap"|"error", payload}
  shownTimer: null,
  detailsOf: null, // the last result, for Details
};

// ---- formatting ----

function verdictInfo(v) {
  return Object.hasOwn(VERDICTS, v) ? { key: v, ...VERDICTS[v] } : { key: "other", ...OTHER_VERDICT };
}

/** The sentence for a reason code; never the code itself. */
function reasonText(code) {
  return typeof code === "string" && has("reason." + code) ? t("reason." + code) : t("reason.other");
}

// parseTime accepts RFC 3339 strings and unix seconds or milliseconds.
function parseTime(x) {
  if (typeof x === "string") {
    const ms = Date.parse(x);
    if (!Number.isNaN(ms)) return new Date(ms);
  } else if (typeof x === "number" && Number.isFinite(x)) {
    return new Date(x > 1e12 ? x : x * 1000);
  }
  return new Date();
}

let timeFmt, dateTimeFmt;

function formatTime(d) {
  const sameDay = new Date().toDateString() === d.toDateString();
  return sameDay ? timeFmt.format(d) : dateTimeFmt.format(d);
}

function formatUID(uid) {
  if (typeof uid !== "string" || uid === "") return "—";
  // 04A1B2C3D4E5F6 → 04 A1 B2 C3 D4 E5 F6 for legibility.
  return /^[0-9A-Fa-f]+$/.test(uid) && uid.length % 2 === 0 ? uid.toUpperCase().match(/../g).join(" ") : uid;
}

/**
 * The TagTamper status in words: two characters, C (closed), O (opened)
 * or I (invalid), for the latched and the current state of the loop.
 */
// checkState is the state of a payload's remote or fleet check: the
// member is {"state":S} (a plain string from daemons before that form).
function checkState(m) {
  return m && typeof m === "object" ? m.state : m;
}
function remoteState(p) {
  return checkState(p.remote);
}

function tamperText(tt) {
  if (typeof tt !== "string" || tt.length !== 2) return "";
  if (/O/i.test(tt)) return t("tamper.opened");
  if (/^CC$/i.test(tt)) return t("tamper.closed");
  return t("tamper.invalid");
}

/** The profile's product display, if the daemon configured one. */
function displayOf(p) {
  const d = typeof p.profile === "string" ? state.ui.profiles[p.profile] : undefined;
  return d && typeof d === "object" ? d : null;
}

function setText(node, text) {
  node.textContent = text;
}

// ---- the verdict panel ----

function outageKind() {
  if (state.conn !== "open") return state.conn === "reconnecting" || state.conn === "closed" ? "daemon" : "connecting";
  if (state.pcsc === "starting") return "starting";
  // no_service, denied (pcscd refuses this daemon) or a state this page
  // does not know: no reader can work.
  if (state.pcsc !== "running" && state.pcsc !== "simulated") return "pcsc";
  if (state.readers.size === 0) return "noreader";
  return "";
}

/** Draws the page from state. */
function render() {
  const outage = outageKind();
  if (outage) clearShown();
  el.last.dataset.outage = outage;
  document.body.dataset.outage = String(outage !== "");

  el.conn.dataset.state = outage && state.conn === "open" ? "outage" : state.conn;
  setText(el.connText, outage && state.conn === "open" ? t("conn.outage") : t("conn." + state.conn) || state.conn);

  renderReaders(outage);
  el.staffHint.hidden = outage !== "pcsc";
  setText(el.staffHint, outage === "pcsc" ? t("outage.pcsc.staff") : "");
  if (outage) showPanel({ verdict: "none", tone: "outage", icon: "i-alert", title: t(`outage.${outage}.title`), sub: t(`outage.${outage}.sub`) });
  else if (state.shown) showResult(state.shown);
  else showPanel({ verdict: "none", tone: "idle", icon: "i-tap", title: t("idle.title"), sub: t("idle.sub") });
}

/** Fills the verdict panel; fields not given are hidden. */
function showPanel({ verdict, tone, icon, title, sub, reason = "", display = null, tamper = "", remote = "", time = "" }) {
  el.last.dataset.verdict = verdict;
  el.last.dataset.tone = tone;
  el.lastIcon.setAttribute("href", "#" + icon);
  setText(el.lastTitle, title);
  setText(el.lastSub, sub);
  setText(el.lastReason, reason);
  el.lastReason.hidden = !reason;
  const name = display && typeof display.display_name === "string" ? display.display_name : "";
  const logo = display && typeof display.logo_url === "string" ? display.logo_url : "";
  el.product.hidden = !name && !logo;
  setText(el.productName, name);
  if (logo && el.productLogo.getAttribute("src") !== logo) el.productLogo.src = logo;
  el.productLogo.hidden = !logo;
  setText(el.tamper, tamper);
  el.tamper.hidden = !tamper;
  setText(el.remote, remote);
  el.remote.hidden = !remote;
  setText(el.lastTime, time);
}

function showResult(r) {
  const p = r.payload;
  const time = t("checked.at", { time: formatTime(parseTime(p.time)) });
  if (r.kind === "error") {
    const info = TAP_ERRORS[p.code];
    showPanel({ verdict: "error", tone: info.tone, icon: info.icon, title: t(`error.${p.code}.title`), sub: t(`error.${p.code}.sub`), time });
    return;
  }
  const info = verdictInfo(p.verdict);
  showPanel({
    verdict: info.key,
    tone: info.tone,
    icon: info.icon,
    title: t(`verdict.${info.key}.title`),
    sub: t(`verdict.${info.key}.sub`),
    reason: info.key === "authentic" ? "" : reasonText(p.reason),
    // The product is named only for a genuine tag: a failed tag is not
    // that product.
    display: info.key === "authentic" ? displayOf(p) : null,
    tamper: tamperText(p.tt_status),
    // The remote check's state (the signed "remote" member, {state}); "off"
    // and "none" show nothing.
    remote: typeof remoteState(p) === "string" && has("remote." + remoteState(p)) ? t("remote." + remoteState(p)) : "",
    time,
  });
}

function clearShown() {
  clearTimeout(state.shownTimer);
  state.shownTimer = null;
  state.shown = null;
}

/** Shows a result now, for the configured time. */
function show(kind, payload) {
  clearShown();
  state.shown = { kind, payload };
  state.detailsOf = state.shown;
  setReading(false);
  const ms = state.ui.verdict_timeout_ms;
  if (Number.isFinite(ms) && ms > 0) {
    state.shownTimer = setTimeout(() => {
      state.shown = null;
      render();
    }, ms);
  }
  render();
  if (!outageKind()) {
    const info = kind === "error" ? TAP_ERRORS[payload.code] : verdictInfo(payload.verdict);
    // data-last-sound tells tests (and curious staff) a sound was started.
    if (state.sounds.play(info.sound)) document.body.dataset.lastSound = info.sound;
  }
  // Restart the arrival animation.
  el.last.classList.remove("arrived");
  void el.last.offsetWidth;
  el.last.classList.add("arrived");
  if (!el.details.hidden) renderFacts();
}

let readingTimer = null;

function setReading(on) {
  clearTimeout(readingTimer);
  el.reading.hidden = !on;
  el.last.dataset.reading = String(on);
  // A card that never yields a tag.read (not an NTAG 424) must not leave
  // "Checking…" up forever.
  if (on) readingTimer = setTimeout(() => setReading(false), READING_TIMEOUT_MS);
}

// ---- readers ----

function renderReaders(outage) {
  el.readerCard.dataset.problem = outage;
  setText(el.readerProblem, outage ? t(`outage.${outage}.reader`) : "");
  el.readerProblem.hidden = !outage;
  el.readers.hidden = outage !== "" && outage !== "starting";
  const rows = [];
  for (const [name, r] of [...state.readers].sort(([a], [b]) => a.localeCompare(b))) {
    const li = document.createElement("li");
    li.className = "reader";
    li.dataset.testid = "reader-row";
    li.dataset.active = String(r.present);
    li.innerHTML = '<svg class="reader-icon" aria-hidden="true"><use href="#i-reader"/></svg><span class="reader-name"></span><span class="reader-state"></span>';
    setText($(".reader-name", li), name);
    setText($(".reader-state", li), r.present ? t("reader.present") : t("reader.ready"));
    rows.push(li);
  }
  el.readers.replaceChildren(...rows);
}

function setReaders(list) {
  state.readers.clear();
  for (const r of Array.isArray(list) ? list : []) {
    const name = typeof r === "string" ? r : r && typeof r.name === "string" ? r.name : "";
    if (name) state.readers.set(name, { present: Boolean(r && r.card_present) });
  }
}

function setService(pcsc) {
  // A daemon that does not report the service runs it.
  state.pcsc = pcsc && typeof pcsc.state === "string" ? pcsc.state : "running";
}

// ---- recent checks ----

// Keys of the taps in the list, so that history does not repeat a tap that
// also arrived live.
const tapKeys = new Set();
const tapKey = (p) => `${p.uid}|${p.ctr}|${p.verdict}|${p.reader}`;

function addTap(p, { live = true } = {}) {
  if (!live && tapKeys.has(tapKey(p))) return;
  tapKeys.add(tapKey(p));
  const info = verdictInfo(p.verdict);
  const row = el.tapTemplate.content.firstElementChild.cloneNode(true);
  row.dataset.verdict = info.key;
  row.dataset.tone = info.tone;
  $("use", row).setAttribute("href", "#" + info.icon);
  setText($(".tap-verdict", row), t(`verdict.${info.key}.short`));
  const display = info.key === "authentic" ? displayOf(p) : null;
  const second = info.key === "authentic" ? (display && display.display_name) || "" : reasonText(p.reason);
  setText($(".tap-reason", row), second);
  setText($(".tap-time", row), formatTime(parseTime(p.time)) + (live ? "" : " · " + t("taps.from_history")));
  row.title = [t(`verdict.${info.key}.title`), second].filter(Boolean).join("\n");
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

// ---- technical details ----

function renderFacts() {
  const r = state.detailsOf;
  const rows = [];
  const add = (key, value, mono = false) => {
    if (value === undefined || value === null || value === "") return;
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = t(key);
    dd.textContent = String(value);
    if (mono) dd.className = "mono";
    div.append(dt, dd);
    rows.push(div);
  };
  add("field.service", state.pcsc, true);
  if (!r) {
    add("field.verdict", t("details.none"));
  } else {
    const p = r.payload;
    add("field.verdict", r.kind === "error" ? "error " + p.code : p.verdict, true);
    if (r.kind !== "error") add("field.reason", p.reason, true);
    add("field.detail", p.detail);
    add("field.uid", r.kind === "error" ? "" : formatUID(p.uid), true);
    add("field.ctr", Number.isInteger(p.ctr) ? p.ctr : "", true);
    add("field.time", p.time ? `${formatTime(parseTime(p.time))} (${p.time})` : "");
    add("field.reader", p.reader);
    add("field.profile", p.profile, true);
    add("field.tamper", p.tt_status, true);
    add("field.originality", p.originality, true);
    add("field.remote", remoteState(p), true);
    add("field.fleet", checkState(p.fleet), true);
    const sig = p.signature;
    if (sig && typeof sig === "object") add("field.signature", `${sig.alg || "?"} ${sig.key_id || "?"}${p.signature_v2 ? " (v1, v2)" : ""}`, true);
    const total = p.timings && typeof p.timings.total_ms === "number" ? p.timings.total_ms : null;
    add("field.timing", total !== null ? `${total} ms` : "", true);
    add("field.url", p.url, true);
  }
  el.facts.replaceChildren(...rows);
}

function openDetails(open) {
  if (open) renderFacts();
  el.details.hidden = !open;
}

let logCount = 0;

function log(kind, text, seq) {
  const li = document.createElement("li");
  li.dataset.kind = kind;
  const tm = document.createElement("time");
  tm.textContent = timeFmt.format(new Date());
  const k = document.createElement("span");
  k.className = "log-kind";
  k.textContent = kind;
  const s = document.createElement("span");
  s.className = "log-seq";
  s.textContent = seq ? "#" + seq : "";
  const m = document.createElement("span");
  m.className = "log-msg";
  m.textContent = text.length > 400 ? text.slice(0, 400) + "…" : text;
  li.append(tm, k, s, m);
  el.log.prepend(li);
  while (el.log.children.length > MAX_LOG) el.log.lastElementChild.remove();
  logCount++;
  el.logCount.textContent = String(logCount);
}

// ---- wiring ----

/** The page's settings: the daemon's, then the URL's overrides. */
async function loadUI(params, demoUI) {
  let ui = { ...DEFAULT_UI };
  if (demoUI) {
    ui = { ...ui, ...demoUI };
  } else {
    try {
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), 3000);
      const r = await fetch("/v1/ui-config", { signal: ctl.signal, cache: "no-store" });
      clearTimeout(timer);
      if (r.ok) ui = { ...ui, ...(await r.json()) };
    } catch {
      // An older daemon or a page opened elsewhere: the defaults.
    }
  }
  const vt = Number(params.get("verdict_timeout"));
  if (params.has("verdict_timeout") && Number.isFinite(vt) && vt >= 0) ui.verdict_timeout_ms = vt;
  if (params.has("sound")) ui.sound = params.get("sound") === "1";
  if (!ui.profiles || typeof ui.profiles !== "object") ui.profiles = {};
  return ui;
}

async function clientOptions(params) {
  if (params.get("demo") === "1") {
    const { DemoSocket, configureDemo, demoUI } = await import("./demo.js");
    configureDemo(params);
    el.demoBadge.hidden = false;
    return { opts: { url: "ws://127.0.0.1:7424/v1/ws", token: "demo", WebSocketImpl: DemoSocket }, demoUI: demoUI() };
  }
  if (location.protocol !== "http:" && location.protocol !== "https:") {
    throw new Error("open this page from nfcd (http://127.0.0.1:7424/) or add ?demo=1");
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return {
    opts: {
      url: `${scheme}//${location.host}/v1/ws`,
      // Session tokens are single-use: fetch one for every (re)connection.
      getToken: () => fetchSessionToken(),
    },
    demoUI: null,
  };
}

async function loadHistory(client) {
  try {
    const entries = await client.history({ limit: HISTORY_LIMIT });
    for (const e of entries) if (e && typeof e === "object") addTap(e, { live: false });
    log("history", `${entries.length} earlier taps loaded`);
  } catch (err) {
    log("history", `history unavailable: ${err.code || "error"}`);
  }
}

async function refreshReaders(client) {
  try {
    const r = await client.request("readers.list");
    setReaders(r && r.readers);
    setService(r && r.pcsc);
    render();
  } catch (err) {
    log("readers", `readers.list failed: ${err.code || "error"}`);
  }
}

function initLanguage(params) {
  const nav = typeof navigator !== "undefined" ? navigator.languages || [navigator.language] : [];
  setLanguage([params.get("lang"), ...nav]);
  document.documentElement.lang = language();
  document.title = t("app.title");
  applyStrings(document);
  timeFmt = new Intl.DateTimeFormat(language(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  dateTimeFmt = new Intl.DateTimeFormat(language(), { dateStyle: "medium", timeStyle: "medium" });
}

async function main() {
  const params = new URLSearchParams(location.search);
  initLanguage(params);
  el.detailsButton.addEventListener("click", () => openDetails(true));
  el.detailsClose.addEventListener("click", () => openDetails(false));
  el.details.addEventListener("click", (e) => {
    if (e.target === el.details) openDetails(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") openDetails(false);
  });
  el.productLogo.addEventListener("error", () => {
    el.productLogo.hidden = true;
  });
  render();

  let conf;
  try {
    conf = await clientOptions(params);
  } catch (err) {
    state.conn = "closed";
    log("state", err.message);
    render();
    return;
  }
  state.ui = await loadUI(params, conf.demoUI);
  state.sounds = new Sounds(state.ui.sound);
  document.body.dataset.sound = String(state.sounds.enabled);

  const client = new NfcdClient({ ...conf.opts, backoff: { min: 250, max: 10000 } });
  let first = true;

  client.on("state", (s, info) => {
    state.conn = s === "idle" ? "connecting" : s;
    render();
    const why = info.error ? ` (${info.error.code})` : info.reason ? ` (${info.reason})` : "";
    log("state", s + (s === "reconnecting" ? ` in ${info.delay} ms, attempt ${info.attempt}` : "") + why);
  });
  client.on("hello", (h, meta) => {
    setReaders(h.readers);
    setService(h.pcsc);
    render();
    log("hello", `daemon ${h.server || "?"}, stream ${h.stream || "?"}, pcsc ${state.pcsc}, ${state.readers.size} reader(s)`, meta.seq);
    if (first) {
      first = false;
      loadHistory(client);
    }
  });
  client.on("pcsc.changed", (p, m) => {
    setService(p);
    log("pcsc.changed", state.pcsc, m.seq);
    // The reader list follows the service; ask rather than guess.
    refreshReaders(client);
    render();
  });
  client.on("reader.added", (p, m) => {
    if (typeof p.reader === "string" && p.reader) state.readers.set(p.reader, { present: false });
    if (state.pcsc === "starting") state.pcsc = "running";
    render();
    log("reader.added", p.reader || "", m.seq);
  });
  client.on("reader.removed", (p, m) => {
    state.readers.delete(p.reader);
    render();
    log("reader.removed", p.reader || "", m.seq);
  });
  client.on("card.present", (p, m) => {
    const r = state.readers.get(p.reader);
    if (r) r.present = true;
    renderReaders(outageKind());
    if (!m.replayed) setReading(true);
    log("card.present", `${p.reader || ""}${p.atr ? " ATR " + p.atr : ""}`, m.seq);
  });
  client.on("card.removed", (p, m) => {
    const r = state.readers.get(p.reader);
    if (r) r.present = false;
    renderReaders(outageKind());
    log("card.removed", p.reader || "", m.seq);
  });
  client.on("tag.read", (p, m) => {
    // A tap missed while offline goes to the list but does not take over
    // the big panel: the customer in front of it did not just tap it.
    if (!m.replayed) show("tap", p);
    addTap(p);
    log("tag.read", `${p.verdict || "?"} ${p.reason || ""} uid=${p.uid || "?"} ctr=${p.ctr ?? "null"}${p.detail ? " — " + p.detail : ""}${m.replayed ? " (replayed after reconnect)" : ""}`, m.seq);
  });
  client.on("verdict.updated", (p, m) => {
    // A later settlement of a tap (remote verification): it replaces the
    // tap on screen if that is still the one shown.
    const cur = state.shown && state.shown.kind === "tap" ? state.shown.payload : null;
    if (!m.replayed && cur && typeof p.tap === "string" && p.tap === cur.tap) show("tap", { ...cur, ...p });
    addTap(p);
    log("verdict.updated", `${p.verdict || "?"} ${p.reason || ""} tap=${p.tap || "?"}`, m.seq);
  });
  client.on("error", (p, m) => {
    if (!m.replayed && typeof p.reader === "string" && p.reader && Object.hasOwn(TAP_ERRORS, p.code)) show("error", p);
    else setReading(false);
    log("error", `${p.code || "error"}: ${p.message || ""}${p.detail ? " (" + p.detail + ")" : ""}`, m.seq);
  });
  client.on("gap", (g) => {
    log("gap", `missed events after #${g.since} are gone (oldest kept #${g.oldest ?? "?"}); reloading`);
    refreshReaders(client);
  });
  client.on("overflow", (o) => log("overflow", `daemon dropped events from #${o.seq}; resuming`));
  client.on("notice", (e) => log("notice", `${e.code}: ${e.message}`));

  // The authentication station (station.js) mounts in the side column and
  // hides itself unless the daemon has one configured; its flow takes the
  // whole screen (style.css).
  try {
    mountStation(client, { root: el.panels });
  } catch (err) {
    log("station", `not loaded: ${err.message}`);
  }

  client.connect().catch(() => {});
  // For POS developers poking around in the console.
  window.nfcd = client;
}

main();
