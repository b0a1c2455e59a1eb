// strings.js: every text the kiosk page shows, in one place, so that a
// store can translate the page. English is the reference; a language
// without a key falls back to English, so a partial translation is safe.
//
// The page picks the language from ?lang=de, else from the browser's
// preferred languages, else English. To add a language, add a table here
// (or call addStrings("fr", {...}) from a module the page imports); a
// feature that brings its own panel registers its keys the same way, with
// a prefix of its own (e.g. "auth.").
//
// Keys are grouped by what they describe: verdict.<verdict>.*, the
// daemon's verdict names (internal/verdict/names.go); reason.<code>, its
// reason codes, as sentences a store employee understands; outage.*, why
// no tag can be checked right now. Codes themselves are never shown
// outside the technical details.
//
// {name} in a string is replaced by the value given to t().

const TABLES = {
  en: {
    "app.title": "Tag check",
    "demo.badge": "Demo",
    "noscript": "This page needs JavaScript to show tag results.",

    "conn.connecting": "Connecting…",
    "conn.open": "Ready",
    "conn.reconnecting": "Reconnecting…",
    "conn.closed": "Offline",
    "conn.outage": "Not ready",

    "idle.title": "Hold the tag to the reader",
    "idle.sub": "Place the product's tag flat on the reader to check that it is genuine.",
    "reading": "Checking…",
    "checked.at": "Checked at {time}",
    "product.label": "Product",

    "verdict.authentic.title": "Authentic",
    "verdict.authentic.short": "Authentic",
    "verdict.authentic.sub": "This tag is genuine.",
    "verdict.counterfeit.title": "Not genuine",
    "verdict.counterfeit.short": "Not genuine",
    "verdict.counterfeit.sub": "Do not accept the product. Please call a member of staff.",
    "verdict.replayed.title": "Copied tag — call staff",
    "verdict.replayed.short": "Copied tag",
    "verdict.replayed.sub":
      "This tag has been cloned, or a phone or another device is imitating it. Do not accept the product. Please call a member of staff.",
    "verdict.malformed.title": "The tag could not be checked",
    "verdict.malformed.short": "Not checked",
    "verdict.malformed.sub": "Hold the tag flat and still on the reader and try again. If this keeps happening, please call a member of staff.",
    "verdict.unknown_profile.title": "Unknown tag",
    "verdict.unknown_profile.short": "Unknown tag",
    "verdict.unknown_profile.sub": "This tag does not belong to a product this station can check.",
    "verdict.other.title": "Unexpected result",
    "verdict.other.short": "Unexpected",
    "verdict.other.sub": "Please call a member of staff.",

    "verdict.pending.title": "Checking with the brand…",
    "verdict.pending.short": "Checking",
    "verdict.pending.sub": "Please wait a moment.",
    "verdict.unverified.title": "Could not be confirmed",
    "verdict.unverified.short": "Not confirmed",
    "verdict.unverified.sub": "The brand's check could not be completed. Please call a member of staff.",
    "verdict.unknown_tag.title": "Tag not known to the brand",
    "verdict.unknown_tag.short": "Unknown to brand",
    "verdict.unknown_tag.sub": "Do not accept the product. Please call a member of staff.",

    "reason.ok": "",
    "reason.bad_mac": "Its security code does not match: the tag was not made by the brand, or it was altered.",
    "reason.bad_picc_data": "Its encrypted data does not belong to this brand's tags.",
    "reason.bad_format": "Its data is incomplete or damaged.",
    "reason.unknown_profile": "Its web address belongs to no product range set up on this station.",
    "reason.replayed_counter": "It repeated a code that was already used, which a genuine tag never does.",
    "reason.bad_input": "The station received data it cannot check.",
    "reason.fleet_replay": "Another station of this store already accepted this code, which a genuine tag never repeats.",
    "reason.remote_pending": "The brand's service is checking the tag.",
    "reason.remote_verified": "The brand's service confirmed the tag.",
    "reason.remote_replay": "The brand's service says this code was already used: the tag's data has been copied.",
    "reason.remote_invalid": "The brand's service says the tag's security code is wrong.",
    "reason.remote_unknown_tag": "The brand's service does not know this tag.",
    "reason.remote_rejected": "The brand's service refused the check.",
    "reason.remote_unreachable": "The brand's service could not be reached.",

    "reason.other": "The check failed for a technical reason.",

    "error.read_failed.title": "The tag could not be read",
    "error.read_failed.sub": "Hold the tag flat and still on the reader until the result appears.",
    "error.store_unavailable.title": "The check could not be completed",
    "error.store_unavailable.sub": "Please try again. If this keeps happening, please call a member of staff.",

    "remote.pending": "Brand check pending",
    "remote.authentic": "Brand check: verified",
    "remote.expired": "Brand check: already used",
    "remote.invalid": "Brand check: invalid",
    "remote.unknown_tag": "Brand check: unknown tag",
    "remote.rejected": "Brand check refused",
    "remote.gave_up": "Brand check unavailable",

    "tamper.closed": "Tamper seal intact",
    "tamper.opened": "Tamper seal has been opened",
    "tamper.invalid": "Tamper seal could not be read",

    "outage.connecting.title": "Connecting…",
    "outage.connecting.sub": "Connecting to the tag checking service.",
    "outage.connecting.reader": "Connecting…",
    "outage.daemon.title": "Tag check is not available",
    "outage.daemon.sub": "This screen cannot reach the tag checking service. Please call a member of staff.",
    "outage.daemon.reader": "Tag checking service not reachable",
    "outage.pcsc.title": "The card reader is not working",
    "outage.pcsc.sub": "The service that runs the card reader has stopped. Please call a member of staff.",
    "outage.pcsc.reader": "Card reader service stopped",
    "outage.pcsc.staff":
      "Staff: start the PC/SC service — on Linux: sudo systemctl start pcscd.socket; on Windows: start the Smart Card service (SCardSvr).",
    "outage.starting.title": "Starting the card reader…",
    "outage.starting.sub": "This takes a few seconds.",
    "outage.starting.reader": "Waiting for the card reader service",
    "outage.noreader.title": "No card reader connected",
    "outage.noreader.sub": "Connect the card reader. If it is connected, please call a member of staff.",
    "outage.noreader.reader": "No card reader connected",

    "readers.title": "Card reader",
    "reader.ready": "Ready",
    "reader.present": "Tag on the reader",

    "taps.title": "Recent checks",
    "taps.empty": "No tags checked yet",
    "taps.from_history": "earlier",

    "details.button": "Details",
    "details.title": "Technical details",
    "details.close": "Close",
    "details.none": "No tag checked yet.",
    "field.verdict": "Verdict",
    "field.reason": "Reason code",
    "field.detail": "Detail",
    "field.uid": "Tag ID",
    "field.ctr": "Tap counter",
    "field.time": "Time",
    "field.reader": "Reader",
    "field.profile": "Profile",
    "field.tamper": "TagTamper status",
    "field.originality": "NXP originality",
    "field.remote": "Remote check",
    "field.fleet": "Fleet check",
    "field.signature": "Signature key",
    "field.timing": "Check time",
    "field.url": "Tag URL",
    "field.service": "Reader service",
    "log.title": "Event log",
  },

  de: {
    "app.title": "Etikettenprüfung",
    "demo.badge": "Demo",
    "noscript": "Diese Seite braucht JavaScript, um Prüfergebnisse anzuzeigen.",

    "conn.connecting": "Verbinde…",
    "conn.open": "Bereit",
    "conn.reconnecting": "Verbinde neu…",
    "conn.closed": "Offline",
    "conn.outage": "Nicht bereit",

    "idle.title": "Etikett an das Lesegerät halten",
    "idle.sub": "Legen Sie das Etikett des Produkts flach auf das Lesegerät, um seine Echtheit zu prüfen.",
    "reading": "Prüfe…",
    "checked.at": "Geprüft um {time}",
    "product.label": "Produkt",

    "verdict.authentic.title": "Echt",
    "verdict.authentic.short": "Echt",
    "verdict.authentic.sub": "Dieses Etikett ist echt.",
    "verdict.counterfeit.title": "Nicht echt",
    "verdict.counterfeit.short": "Nicht echt",
    "verdict.counterfeit.sub": "Nehmen Sie das Produkt nicht an. Bitte rufen Sie eine Mitarbeiterin oder einen Mitarbeiter.",
    "verdict.replayed.title": "Kopiertes Etikett — Personal rufen",
    "verdict.replayed.short": "Kopiert",
    "verdict.replayed.sub":
      "Dieses Etikett wurde kopiert, oder ein Telefon bzw. ein anderes Gerät ahmt es nach. Nehmen Sie das Produkt nicht an. Bitte rufen Sie eine Mitarbeiterin oder einen Mitarbeiter.",
    "verdict.malformed.title": "Das Etikett konnte nicht geprüft werden",
    "verdict.malformed.short": "Nicht geprüft",
    "verdict.malformed.sub":
      "Halten Sie das Etikett flach und ruhig an das Lesegerät und versuchen Sie es noch einmal. Wenn es wieder nicht klappt, rufen Sie bitte das Personal.",
    "verdict.unknown_profile.title": "Unbekanntes Etikett",
    "verdict.unknown_profile.short": "Unbekannt",
    "verdict.unknown_profile.sub": "Dieses Etikett gehört zu keinem Produkt, das diese Station prüfen kann.",
    "verdict.other.title": "Unerwartetes Ergebnis",
    "verdict.other.short": "Unerwartet",
    "verdict.other.sub": "Bitte rufen Sie eine Mitarbeiterin oder einen Mitarbeiter.",

    "verdict.pending.title": "Prüfung bei der Marke läuft…",
    "verdict.pending.short": "Wird geprüft",
    "verdict.pending.sub": "Bitte einen Moment warten.",
    "verdict.unverified.title": "Nicht bestätigt",
    "verdict.unverified.short": "Nicht bestätigt",
    "verdict.unverified.sub": "Die Prüfung bei der Marke konnte nicht abgeschlossen werden. Bitte rufen Sie das Personal.",
    "verdict.unknown_tag.title": "Der Marke unbekanntes Etikett",
    "verdict.unknown_tag.short": "Marke unbekannt",
    "verdict.unknown_tag.sub": "Nehmen Sie das Produkt nicht an. Bitte rufen Sie das Personal.",

    "reason.ok": "",
    "reason.bad_mac": "Sein Sicherheitscode stimmt nicht: Das Etikett stammt nicht von der Marke oder wurde verändert.",
    "reason.bad_picc_data": "Seine verschlüsselten Daten gehören nicht zu den Etiketten dieser Marke.",
    "reason.bad_format": "Seine Daten sind unvollständig oder beschädigt.",
    "reason.unknown_profile": "Seine Webadresse gehört zu keiner Produktreihe, die an dieser Station eingerichtet ist.",
    "reason.replayed_counter": "Es hat einen bereits benutzten Code wiederholt. Ein echtes Etikett tut das nie.",
    "reason.bad_input": "Die Station hat Daten erhalten, die sie nicht prüfen kann.",
    "reason.fleet_replay": "Eine andere Station dieses Geschäfts hat diesen Code schon angenommen. Ein echtes Etikett wiederholt ihn nie.",
    "reason.remote_pending": "Der Dienst der Marke prüft das Etikett.",
    "reason.remote_verified": "Der Dienst der Marke hat das Etikett bestätigt.",
    "reason.remote_replay": "Laut dem Dienst der Marke wurde dieser Code schon benutzt: Die Daten des Etiketts wurden kopiert.",
    "reason.remote_invalid": "Laut dem Dienst der Marke ist der Sicherheitscode des Etiketts falsch.",
    "reason.remote_unknown_tag": "Der Dienst der Marke kennt dieses Etikett nicht.",
    "reason.remote_rejected": "Der Dienst der Marke hat die Prüfung abgelehnt.",
    "reason.remote_unreachable": "Der Dienst der Marke war nicht erreichbar.",

    "reason.other": "Die Prüfung ist aus technischen Gründen fehlgeschlagen.",

    "error.read_failed.title": "Das Etikett konnte nicht gelesen werden",
    "error.read_failed.sub": "Halten Sie das Etikett flach und ruhig an das Lesegerät, bis das Ergebnis erscheint.",
    "error.store_unavailable.title": "Die Prüfung konnte nicht abgeschlossen werden",
    "error.store_unavailable.sub": "Bitte versuchen Sie es noch einmal. Wenn es wieder nicht klappt, rufen Sie bitte das Personal.",

    "remote.pending": "Prüfung bei der Marke läuft",
    "remote.authentic": "Prüfung bei der Marke: bestätigt",
    "remote.expired": "Prüfung bei der Marke: schon benutzt",
    "remote.invalid": "Prüfung bei der Marke: ungültig",
    "remote.unknown_tag": "Prüfung bei der Marke: unbekanntes Etikett",
    "remote.rejected": "Prüfung bei der Marke abgelehnt",
    "remote.gave_up": "Prüfung bei der Marke nicht verfügbar",

    "tamper.closed": "Manipulationssiegel unversehrt",
    "tamper.opened": "Manipulationssiegel wurde geöffnet",
    "tamper.invalid": "Manipulationssiegel nicht lesbar",

    "outage.connecting.title": "Verbinde…",
    "outage.connecting.sub": "Verbindung zum Prüfdienst wird aufgebaut.",
    "outage.connecting.reader": "Verbinde…",
    "outage.daemon.title": "Die Prüfung ist nicht verfügbar",
    "outage.daemon.sub": "Dieser Bildschirm erreicht den Prüfdienst nicht. Bitte rufen Sie das Personal.",
    "outage.daemon.reader": "Prüfdienst nicht erreichbar",
    "outage.pcsc.title": "Das Lesegerät funktioniert nicht",
    "outage.pcsc.sub": "Der Dienst, der das Lesegerät betreibt, ist angehalten. Bitte rufen Sie das Personal.",
    "outage.pcsc.reader": "Lesegerätedienst angehalten",
    "outage.pcsc.staff":
      "Personal: PC/SC-Dienst starten — unter Linux: sudo systemctl start pcscd.socket; unter Windows: den Dienst „Smartcard“ (SCardSvr) starten.",
    "outage.starting.title": "Lesegerät wird gestartet…",
    "outage.starting.sub": "Das dauert einige Sekunden.",
    "outage.starting.reader": "Warte auf den Lesegerätedienst",
    "outage.noreader.title": "Kein Lesegerät angeschlossen",
    "outage.noreader.sub": "Schließen Sie das Lesegerät an. Ist es angeschlossen, rufen Sie bitte das Personal.",
    "outage.noreader.reader": "Kein Lesegerät angeschlossen",

    "readers.title": "Lesegerät",
    "reader.ready": "Bereit",
    "reader.present": "Etikett liegt auf",

    "taps.title": "Letzte Prüfungen",
    "taps.empty": "Noch keine Etiketten geprüft",
    "taps.from_history": "früher",

    "details.button": "Details",
    "details.title": "Technische Details",
    "details.close": "Schließen",
    "details.none": "Noch kein Etikett geprüft.",
    "field.verdict": "Ergebnis",
    "field.reason": "Grund (Code)",
    "field.detail": "Detail",
    "field.uid": "Etikett-ID",
    "field.ctr": "Zähler",
    "field.time": "Zeit",
    "field.reader": "Lesegerät",
    "field.profile": "Profil",
    "field.tamper": "TagTamper-Status",
    "field.originality": "NXP-Originalität",
    "field.remote": "Prüfung bei der Marke",
    "field.fleet": "Filialübergreifende Prüfung",
    "field.signature": "Signaturschlüssel",
    "field.timing": "Prüfdauer",
    "field.url": "Etikett-URL",
    "field.service": "Lesegerätedienst",
    "log.title": "Ereignisprotokoll",
  },
};

const FALLBACK = "en";
let lang = FALLBACK;

/**
 * Adds or overrides strings of a language, e.g. a new language or the
 * keys of a panel a feature brings.
 * @param {string} language BCP 47 primary tag, e.g. "fr"
 * @param {Record<string, string>} table
 */
export function addStrings(language, table) {
  TABLES[language] = { ...(TABLES[language] || {}), ...table };
}

/** @returns {string[]} the languages with a table. */
export function languages() {
  return Object.keys(TABLES);
}

/**
 * Chooses the language: the first of wanted whose primary tag has a
 * table, else English. Returns the choice.
 * @param {Iterable<string | null | undefined>} wanted e.g. [?lang, ...navigator.languages]
 */
export function setLanguage(wanted) {
  lang = FALLBACK;
  for (const w of wanted) {
    if (typeof w !== "string" || w === "") continue;
    const primary = w.toLowerCase().split(/[-_]/)[0];
    if (Object.hasOwn(TABLES, primary)) {
      lang = primary;
      break;
    }
  }
  return lang;
}

/** @returns {string} the language in use. */
export function language() {
  return lang;
}

/**
 * Returns the string for key in the current language (English if it has
 * none), with {name} replaced from vars. An unknown key returns "" so
 * that no key name ever reaches the screen.
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 */
export function t(key, vars) {
  let s = TABLES[lang][key];
  if (typeof s !== "string") s = TABLES[FALLBACK][key];
  if (typeof s !== "string") return "";
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, name) => (Object.hasOwn(vars, name) ? String(vars[name]) : m));
  return s;
}

/** @returns {boolean} whether key has a string. */
export function has(key) {
  return typeof TABLES[FALLBACK][key] === "string" || typeof TABLES[lang][key] === "string";
}

/**
 * Sets the text of every element under root that has data-i18n="key".
 * @param {ParentNode} root
 */
export function applyStrings(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
}
