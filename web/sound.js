// sound.js: one short sound per verdict, made with Web Audio (no files to
// load). Off unless the daemon's configuration says `[kiosk] sound = true`
// (or the page is opened with ?sound=1).
//
// Browsers start audio only after a user gesture unless the kiosk browser
// allows autoplay (Chromium: --autoplay-policy=no-user-gesture-required).
// Without it the first tap on the screen unlocks the sound.

// Each tone is [frequency Hz, start s, duration s].
const TONES = {
  // Two rising notes: fine.
  ok: [
    [880, 0, 0.12],
    [1320, 0.14, 0.18],
  ],
  // Three low notes: stop and call staff.
  bad: [
    [220, 0, 0.16],
    [220, 0.22, 0.16],
    [220, 0.44, 0.16],
  ],
  // One middle note: try again.
  neutral: [[523, 0, 0.2]],
};

/** Plays the verdict sounds. */
export class Sounds {
  #enabled;
  #ctx = null;

  /** @param {boolean} enabled */
  constructor(enabled) {
    this.#enabled = Boolean(enabled);
    if (this.#enabled && typeof document !== "undefined") {
      const unlock = () => {
        this.#context();
        document.removeEventListener("pointerdown", unlock);
      };
      document.addEventListener("pointerdown", unlock);
    }
  }

  /** @returns {boolean} */
  get enabled() {
    return this.#enabled;
  }

  #context() {
    const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!AC) return null;
    if (!this.#ctx) this.#ctx = new AC();
    if (this.#ctx.state === "suspended") this.#ctx.resume().catch(() => {});
    return this.#ctx;
  }

  /**
   * Plays the sound of a tone ("ok", "bad", "neutral"). Returns whether a
   * sound was started.
   * @param {string} tone
   */
  play(tone) {
    if (!this.#enabled || !Object.hasOwn(TONES, tone)) return false;
    const ctx = this.#context();
    if (!ctx) return false;
    const t0 = ctx.currentTime + 0.01;
    for (const [freq, start, dur] of TONES[tone]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = tone === "bad" ? "square" : "sine";
      osc.frequency.value = freq;
      // A short attack and release: no clicks.
      gain.gain.setValueAtTime(0, t0 + start);
      gain.gain.linearRampToValueAtTime(0.18, t0 + start + 0.01);
      gain.gain.setValueAtTime(0.18, t0 + start + dur - 0.03);
      gain.gain.linearRampToValueAtTime(0, t0 + start + dur);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + start);
      osc.stop(t0 + start + dur + 0.02);
    }
    return true;
  }
}
