// station.js: the authentication station on the kiosk page. After an
// authentic tap the operator can ask Legitmark for expert authentication of
// the item: pick its category, type and brand, photograph each side the
// service asks for (camera or file, with the service's overlay guide), watch
// the photos upload, submit, and follow the status to the verdict and its
// certificate.
//
// It talks to the daemon only (docs/protocol.md, "Authentication station"):
// the daemon holds the API key and the presigned upload URLs, and serves the
// guide images itself. Photos go up as binary requests in 256 KiB chunks, at
// most four in flight. The module stays hidden when the daemon has no
// station configured (legitmark.taxonomy answers unknown_type).
//
// mountStation(client) is the page's only hook; everything here lives in
// its own section, with its own styles (station.css) and strings.
//
// All service-provided text is inserted with textContent, never as HTML.

const STRINGS = {
  title: "Expert authentication",
  intro: "Tap an authentic tag to request an expert authentication of the item.",
  start: "Request authentication",
  tagged: (uid) => `Item with tag ${uid}`,
  pick: "What is the item?",
  category: "Category",
  type: "Type",
  brand: "Brand",
  choose: "Choose…",
  create: "Create request",
  creating: "Creating…",
  cancel: "Close",
  photos: "Photograph each side",
  photosHint: "Hold the item inside the guide. Photos must be sharp and well lit, at least 600 × 600 pixels.",
  required: "Required",
  optional: "Optional",
  camera: "Use camera",
  capture: "Take photo",
  file: "Choose photo",
  retake: "Replace photo",
  example: "Example",
  submit: "Submit for authentication",
  submitting: "Submitting…",
  missing: (n) => `${n} required ${n === 1 ? "photo" : "photos"} still missing`,
  request: (id) => `Request ${id}`,
  stage: {
    empty: "No photo yet",
    sending: "Sending to the station…",
    receiving: "Sending to the station…",
    preparing: "Checking the photo…",
    uploading: "Uploading…",
    done: "Uploaded",
    failed: "Failed",
  },
  status: {
    waiting: "Submitted — waiting for the experts",
    in_progress: "Being authenticated",
    authentic: "Authentic — confirmed by the experts",
    not_authentic: "Not authentic",
    resubmit: "Some photos were rejected — please take them again",
    cancelled: "Cancelled",
    complete: "Completed",
  },
  certificate: "Open the certificate",
  tooLarge: "The photo file is too large.",
  newRequest: "New request",
  errors: {
    no_authentic_tap: "Tap an authentic tag first.",
    requirements_not_met: "Some required photos are missing.",
    rate_limited: "The service is busy. Try again in a minute.",
    remote_unavailable: "The authentication service is not reachable. Try again.",
    remote_auth_failed: "The station is not authorised by the authentication service.",
    outcome_unknown: "The service did not confirm. The station checks again; do not resubmit.",
    timeout: "The station did not answer in time.",
    disconnected: "The connection to the station dropped.",
  },
};

const CHUNK_WINDOW = 4;
const MAX_FILE_BYTES = 32 << 20;

const TYPES = {
  taxonomy: "legitmark.taxonomy",
  create: "legitmark.sr.create",
  requirements: "legitmark.sr.requirements",
  begin: "legitmark.upload.begin",
  chunk: "legitmark.upload.chunk",
  submit: "legitmark.sr.submit",
  status: "legitmark.sr.status",
  list: "legitmark.sr.list",
  progress: "legitmark.upload.progress",
};

// h builds an element: h("button", {class: "x", "data-testid": "y"}, "text", child).
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function errorText(err) {
  const code = err && typeof err.code === "string" ? err.code : "";
  if (STRINGS.errors[code]) return STRINGS.errors[code];
  // The daemon's messages are fixed texts chosen for people.
  return err && typeof err.message === "string" && err.message ? err.message : "Something went wrong.";
}

function formatUID(uid) {
  return typeof uid === "string" && /^[0-9A-Fa-f]+$/.test(uid) && uid.length % 2 === 0 ? uid.toUpperCase().match(/../g).join(" ") : "";
}

/**
 * Mounts the station under the page's main layout.
 * @param {import("./nfcd-client.js").NfcdClient} client
 * @param {{root?: Element}} [opts]
 */
export function mountStation(client, opts = {}) {
  const css = h("link", { rel: "stylesheet", href: "station.css" });
  document.head.append(css);
  const st = new Station(client);
  const anchor = opts.root || document.querySelector(".app") || document.body;
  const log = anchor.querySelector(".log");
  if (log) log.before(st.el);
  else anchor.append(st.el);
  return st;
}

class Station {
  constructor(client) {
    this.client = client;
    this.available = false;
    this.taxonomy = null;
    this.tag = null; // {uid} of the last authentic tap
    this.sr = null; // the SR record being worked on
    this.cards = new Map(); // side uuid → card
    this.statusView = null;
    this.build();
    client.on("hello", () => this.probe());
    client.on("tag.read", (p, m) => this.onTap(p, m));
    client.on(TYPES.progress, (p) => this.onProgress(p));
    client.on(TYPES.status, (p) => this.onStatus(p));
    // Mounted after the hello came: probe now.
    if (client.hello) this.probe();
  }

  build() {
    this.startBtn = h("button", { class: "st-primary", type: "button", "data-testid": "station-start", hidden: true, onclick: () => this.openPicker() }, STRINGS.start);
    this.introText = h("p", { class: "st-muted", "data-testid": "station-intro" }, STRINGS.intro);
    this.body = h("div", { class: "st-body", "data-testid": "station-body" });
    this.err = h("p", { class: "st-error", role: "alert", "data-testid": "station-error", hidden: true });
    this.el = h(
      "section",
      { class: "station card", "data-testid": "station", "aria-labelledby": "station-h", hidden: true, "data-step": "idle" },
      h("div", { class: "st-head" }, h("h2", { id: "station-h" }, STRINGS.title), this.startBtn),
      this.introText,
      this.err,
      this.body,
    );
  }

  setStep(step) {
    this.el.dataset.step = step;
  }

  showError(err) {
    if (!err) {
      this.err.hidden = true;
      this.err.textContent = "";
      return;
    }
    this.err.textContent = errorText(err);
    this.err.dataset.code = (err && err.code) || "";
    this.err.hidden = false;
  }

  // probe finds out whether the daemon has a station and loads its taxonomy.
  async probe() {
    try {
      this.taxonomy = await this.client.request(TYPES.taxonomy, {}, { timeout: 60000 });
      this.available = true;
      this.el.hidden = false;
    } catch (err) {
      if (err && err.code === "unknown_type") {
        this.available = false;
        this.el.hidden = true;
        return;
      }
      // Configured, but the service is unreachable for now: show why.
      this.available = true;
      this.el.hidden = false;
      this.showError(err);
    }
  }

  onTap(p, meta) {
    if (!this.available || meta.replayed) return;
    if (p.verdict === "authentic" && typeof p.uid === "string") {
      this.tag = { uid: p.uid };
      if (this.el.dataset.step === "idle" || this.el.dataset.step === "final") {
        this.startBtn.hidden = false;
        this.introText.textContent = STRINGS.tagged(formatUID(p.uid));
      }
    } else if (this.el.dataset.step === "idle") {
      this.tag = null;
      this.startBtn.hidden = true;
      this.introText.textContent = STRINGS.intro;
    }
  }

  // ---- step 1: what is the item ----

  async openPicker() {
    this.showError(null);
    this.startBtn.hidden = true;
    this.setStep("pick");
    this.cards.clear();
    if (!this.taxonomy) {
      await this.probe();
      if (!this.taxonomy) return;
    }
    const cats = Array.isArray(this.taxonomy.categories) ? this.taxonomy.categories : [];
    const catSel = h("select", { "data-testid": "station-category", required: true });
    const typeSel = h("select", { "data-testid": "station-type", required: true, disabled: true });
    const brandSel = h("select", { "data-testid": "station-brand", disabled: true });
    const fill = (sel, items) => {
      sel.replaceChildren(h("option", { value: "" }, STRINGS.choose), ...items.map((x) => h("option", { value: x.uuid }, x.name)));
      sel.disabled = items.length === 0;
    };
    fill(catSel, cats);
    const typesOf = () => (cats.find((c) => c.uuid === catSel.value) || { types: [] }).types || [];
    const brandsOf = () => (typesOf().find((t) => t.uuid === typeSel.value) || { brands: [] }).brands || [];
    const createBtn = h("button", { class: "st-primary", type: "submit", "data-testid": "station-create", disabled: true }, STRINGS.create);
    const update = () => {
      createBtn.disabled = !(catSel.value && typeSel.value);
    };
    catSel.addEventListener("change", () => {
      fill(typeSel, typesOf());
      fill(brandSel, []);
      update();
    });
    typeSel.addEventListener("change", () => {
      fill(brandSel, brandsOf());
      update();
    });
    const form = h(
      "form",
      { class: "st-pick", "data-testid": "station-pick" },
      h("h3", {}, STRINGS.pick),
      h("label", {}, h("span", {}, STRINGS.category), catSel),
      h("label", {}, h("span", {}, STRINGS.type), typeSel),
      h("label", {}, h("span", {}, STRINGS.brand), brandSel),
      h("div", { class: "st-actions" }, createBtn, h("button", { type: "button", class: "st-quiet", onclick: () => this.reset() }, STRINGS.cancel)),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      createBtn.disabled = true;
      createBtn.textContent = STRINGS.creating;
      this.showError(null);
      try {
        const payload = { category: catSel.value, type: typeSel.value };
        if (brandSel.value) payload.brand = brandSel.value;
        this.sr = await this.client.request(TYPES.create, payload, { timeout: 130000 });
        await this.openCapture();
      } catch (err) {
        this.showError(err);
        createBtn.disabled = false;
        createBtn.textContent = STRINGS.create;
      }
    });
    this.body.replaceChildren(form);
  }

  reset() {
    this.stopCamera();
    this.sr = null;
    this.cards.clear();
    this.body.replaceChildren();
    this.showError(null);
    this.setStep("idle");
    this.startBtn.hidden = !this.tag;
    this.introText.textContent = this.tag ? STRINGS.tagged(formatUID(this.tag.uid)) : STRINGS.intro;
  }

  // ---- step 2: photographs ----

  async openCapture() {
    this.setStep("capture");
    const req = await this.client.request(TYPES.requirements, { uuid: this.sr.uuid }, { timeout: 130000 });
    this.cards.clear();
    const grid = h("div", { class: "st-cards", "data-testid": "station-cards" });
    for (const side of req.required || []) grid.append(this.card(side, true).el);
    const optional = req.optional || [];
    let opt = null;
    if (optional.length > 0) {
      const og = h("div", { class: "st-cards" });
      for (const side of optional) og.append(this.card(side, false).el);
      opt = h("details", { class: "st-optional" }, h("summary", {}, `${STRINGS.optional} (${optional.length})`), og);
    }
    this.submitBtn = h("button", { class: "st-primary", type: "button", "data-testid": "station-submit", disabled: true, onclick: () => this.submit() }, STRINGS.submit);
    this.missingText = h("span", { class: "st-muted", "data-testid": "station-missing" });
    this.camera = h("div", { class: "st-camera", "data-testid": "station-camera", hidden: true });
    this.body.replaceChildren(
      h("div", { class: "st-sr" }, h("strong", {}, STRINGS.request(this.sr.micro_id || this.sr.reference)), h("span", { class: "st-muted mono" }, this.sr.reference || "")),
      h("h3", {}, STRINGS.photos),
      h("p", { class: "st-muted" }, STRINGS.photosHint),
      this.camera,
      grid,
      opt,
      h("div", { class: "st-actions" }, this.submitBtn, this.missingText, h("button", { type: "button", class: "st-quiet", onclick: () => this.reset() }, STRINGS.cancel)),
    );
    this.refreshSubmit();
  }

  card(side, required) {
    const bar = h("progress", { max: 1, value: 0, "data-testid": "card-progress" });
    const stage = h("span", { class: "st-stage", "data-testid": "card-stage" }, STRINGS.stage.empty);
    const preview = h("img", { class: "st-preview", alt: "", hidden: true });
    const overlay = side.overlay_url ? h("img", { class: "st-overlay", alt: "", src: side.overlay_url }) : null;
    const frame = h("div", { class: "st-frame" }, preview, overlay);
    const input = h("input", { type: "file", accept: "image/jpeg,image/png", "data-testid": "card-file", class: "st-file" });
    input.addEventListener("change", () => {
      const f = input.files && input.files[0];
      if (f) this.send(card, f);
      input.value = "";
    });
    const fileBtn = h("button", { type: "button", class: "st-secondary", onclick: () => input.click() }, STRINGS.file);
    const camBtn =
      navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === "function"
        ? h("button", { type: "button", class: "st-secondary", "data-testid": "card-camera", onclick: () => this.openCamera(card) }, STRINGS.camera)
        : null;
    const example = side.example_url ? h("img", { class: "st-example", alt: STRINGS.example, src: side.example_url }) : null;
    const el = h(
      "article",
      { class: "st-card", "data-testid": "capture-card", "data-side": side.uuid, "data-key": side.key || "", "data-state": side.uploaded ? "done" : "empty", "data-required": String(required) },
      h("header", {}, h("h4", {}, side.name || ""), h("span", { class: "st-tag" }, required ? STRINGS.required : STRINGS.optional)),
      side.description ? h("p", { class: "st-muted" }, side.description) : null,
      h("div", { class: "st-visuals" }, frame, example),
      h("div", { class: "st-status" }, stage, bar),
      h("div", { class: "st-buttons" }, camBtn, fileBtn, input),
    );
    const card = { side, required, el, bar, stage, preview, input, uploadID: null, state: el.dataset.state };
    if (side.uploaded) this.setCard(card, "done", 1, 1);
    this.cards.set(side.uuid, card);
    return card;
  }

  setCard(card, state, done, total, message) {
    card.state = state;
    card.el.dataset.state = state;
    card.stage.textContent = message || STRINGS.stage[state] || state;
    if (state === "preparing") card.bar.removeAttribute("value");
    else {
      card.bar.max = total > 0 ? total : 1;
      card.bar.value = total > 0 ? Math.min(done, total) : 0;
    }
    this.refreshSubmit();
  }

  refreshSubmit() {
    if (!this.submitBtn) return;
    let missing = 0;
    let busy = false;
    for (const c of this.cards.values()) {
      if (c.required && c.state !== "done") missing++;
      if (["sending", "receiving", "preparing", "uploading"].includes(c.state)) busy = true;
    }
    this.submitBtn.disabled = missing > 0 || busy;
    this.missingText.textContent = missing > 0 ? STRINGS.missing(missing) : "";
  }

  // send uploads a photo (File or Blob) for a card: upload.begin, then
  // chunks with at most CHUNK_WINDOW in flight.
  async send(card, blob) {
    this.showError(null);
    if (blob.size > MAX_FILE_BYTES) {
      this.setCard(card, "failed", 0, 1, STRINGS.tooLarge);
      return;
    }
    showPreview(card, blob);
    this.setCard(card, "sending", 0, blob.size);
    try {
      const data = new Uint8Array(await blob.arrayBuffer());
      const b = await this.client.request(TYPES.begin, { uuid: this.sr.uuid, side: card.side.uuid, size: data.length }, { timeout: 130000 });
      card.uploadID = b.upload_id;
      const size = b.chunk_size;
      let acked = 0;
      const inflight = [];
      for (let seq = 0; seq < b.chunks; seq++) {
        if (card.uploadID !== b.upload_id) return; // replaced by a newer photo
        const part = data.subarray(seq * size, Math.min(data.length, (seq + 1) * size));
        const p = this.client
          .requestBinary(TYPES.chunk, { upload_id: b.upload_id, seq, final: seq === b.chunks - 1 }, part, { timeout: 30000 })
          .then((r) => {
            acked = Math.max(acked, r.received || 0);
            if (card.state === "sending") this.setCard(card, "sending", acked, data.length);
          });
        inflight.push(p);
        if (inflight.length >= CHUNK_WINDOW) await inflight.shift();
      }
      await Promise.all(inflight);
    } catch (err) {
      this.setCard(card, "failed", 0, 1, errorText(err));
    }
  }

  onProgress(p) {
    if (!this.sr || !p || p.uuid !== this.sr.uuid) return;
    const card = this.cards.get(p.side);
    if (!card) return;
    // A resumed upload has no id; a stale one of a replaced photo is ignored.
    if (p.upload_id && card.uploadID && p.upload_id !== card.uploadID) return;
    switch (p.stage) {
      case "receiving":
        if (card.state === "sending") this.setCard(card, "sending", p.bytes, p.total);
        break;
      case "preparing":
        this.setCard(card, "preparing", 0, 1);
        break;
      case "uploading":
        this.setCard(card, "uploading", p.bytes, p.total);
        break;
      case "done":
        this.setCard(card, "done", 1, 1);
        break;
      case "failed":
        this.setCard(card, "failed", 0, 1, `${STRINGS.stage.failed}: ${p.message || p.code || ""}`);
        card.el.dataset.code = p.code || "";
        break;
    }
  }

  // ---- the camera ----

  async openCamera(card) {
    this.stopCamera();
    const video = h("video", { autoplay: true, playsinline: true, muted: true });
    const overlay = card.side.overlay_url ? h("img", { class: "st-overlay", alt: "", src: card.side.overlay_url }) : null;
    const shoot = h("button", { type: "button", class: "st-primary", "data-testid": "camera-capture" }, STRINGS.capture);
    const close = h("button", { type: "button", class: "st-quiet", onclick: () => this.stopCamera() }, STRINGS.cancel);
    this.camera.replaceChildren(h("div", { class: "st-viewfinder" }, video, overlay), h("div", { class: "st-actions" }, h("strong", {}, card.side.name || ""), shoot, close));
    this.camera.hidden = false;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment", width: { ideal: 1920 }, height: { ideal: 1920 } }, audio: false });
      video.srcObject = this.stream;
    } catch (err) {
      this.stopCamera();
      this.showError({ code: "camera", message: "The camera is not available; choose a photo instead." });
      return;
    }
    shoot.addEventListener("click", () => {
      const w = video.videoWidth;
      const ht = video.videoHeight;
      if (!w || !ht) return;
      const canvas = document.createElement("canvas");
      canvas.width = w;
      canvas.height = ht;
      canvas.getContext("2d").drawImage(video, 0, 0, w, ht);
      canvas.toBlob((blob) => {
        if (blob) this.send(card, blob);
        this.stopCamera();
      }, "image/jpeg", 0.92);
    });
  }

  stopCamera() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    if (this.camera) {
      this.camera.hidden = true;
      this.camera.replaceChildren();
    }
  }

  // ---- step 3: submit and follow ----

  async submit() {
    this.showError(null);
    this.submitBtn.disabled = true;
    this.submitBtn.textContent = STRINGS.submitting;
    try {
      this.sr = await this.client.request(TYPES.submit, { uuid: this.sr.uuid }, { timeout: 130000 });
      this.openStatus();
    } catch (err) {
      this.showError(err);
      const missing = err && err.details && err.details.details && Array.isArray(err.details.details.missing) ? err.details.details.missing : [];
      for (const m of missing) {
        const c = this.cards.get(m.uuid);
        if (c && c.state === "done") this.setCard(c, "empty", 0, 1);
      }
      this.submitBtn.textContent = STRINGS.submit;
      this.refreshSubmit();
    }
  }

  openStatus() {
    this.stopCamera();
    this.setStep("status");
    this.statusTitle = h("p", { class: "st-state", "data-testid": "station-status", "data-status": "waiting" }, STRINGS.status.waiting);
    this.statusDetail = h("p", { class: "st-muted mono", "data-testid": "station-state" }, (this.sr.state && this.sr.state.text) || "");
    this.certLink = h("a", { class: "st-primary st-link", "data-testid": "station-certificate", target: "_blank", rel: "noopener noreferrer", hidden: true }, STRINGS.certificate);
    this.body.replaceChildren(
      h("div", { class: "st-sr" }, h("strong", {}, STRINGS.request(this.sr.micro_id || this.sr.reference))),
      this.statusTitle,
      this.statusDetail,
      h("div", { class: "st-actions" }, this.certLink, h("button", { type: "button", class: "st-quiet", "data-testid": "station-new", onclick: () => this.reset() }, STRINGS.newRequest)),
    );
    // The status event may have come before the page got here.
    this.client.request(TYPES.status, { uuid: this.sr.uuid }, { timeout: 130000 }).then((s) => this.onStatus(s), () => {});
  }

  onStatus(s) {
    if (!this.sr || !s || s.uuid !== this.sr.uuid || !this.statusTitle) return;
    let key = "in_progress";
    if (s.authentic) key = "authentic";
    else if (s.needs_resubmission) key = "resubmit";
    else if (s.final && s.state && s.state.primary === "CANCELLED") key = "cancelled";
    else if (s.final && s.state && s.state.supplement === "REJECTED") key = "not_authentic";
    else if (s.final) key = "complete";
    else if (s.state && s.state.primary === "QC") key = "waiting";
    this.statusTitle.textContent = STRINGS.status[key];
    this.statusTitle.dataset.status = key;
    this.statusDetail.textContent = (s.state && s.state.text) || "";
    if (s.final) this.setStep("final");
    if (typeof s.certificate_url === "string" && /^https:\/\//.test(s.certificate_url)) {
      this.certLink.href = s.certificate_url;
      this.certLink.hidden = false;
    }
    if (s.needs_resubmission) {
      // Back to the photographs: the rejected sides show as missing.
      this.openCapture().catch((err) => this.showError(err));
    }
  }
}

// showPreview shows a small copy of the photo on its card, as a data: URL
// (the page's Content-Security-Policy allows data: images, not blob: ones).
async function showPreview(card, blob) {
  if (typeof createImageBitmap !== "function") return;
  try {
    const bmp = await createImageBitmap(blob);
    const scale = Math.min(1, 320 / Math.max(bmp.width, bmp.height));
    const c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(bmp.width * scale));
    c.height = Math.max(1, Math.round(bmp.height * scale));
    c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
    bmp.close();
    card.preview.src = c.toDataURL("image/jpeg", 0.8);
    card.preview.hidden = false;
  } catch {
    // Not an image the browser can decode: the daemon says what is wrong.
  }
}
