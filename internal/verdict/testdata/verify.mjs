// verify.mjs checks signed verdicts the way a browser or POS backend would:
// it rebuilds the canonical bytes with JSON.stringify of an object literal in
// the fixed key order and verifies the Ed25519 signature with WebCrypto.
// TestNodeCrossCheck (verdict_test.go) runs it as
//
//	node verify.mjs <cases.json>
//
// where cases.json, written by the Go test with encoding/json, is
//
//	[{"name":..., "public_key": base64url(32 bytes),
//	  "canonical": base64(Go's Canonical bytes),
//	  "canonical_v2": base64(Go's CanonicalV2 bytes),
//	  "payload": {reader,uid,ctr,url,verdict,reason,time,tap,profile,tt_status,
//	              originality,remote,fleet,signature:{alg,key_id,sig},
//	              signature_v2:{alg,key_id,sig,v:2}}}]
//
// It prints one line per case and exits 1 if any check fails.
import { readFileSync } from "node:fs";
import { createPublicKey, verify as nodeVerify } from "node:crypto";

// canonical is the snippet from docs/signed-verdicts.md: the bytes that
// signature s (signature or signature_v2) of payload p covers.
function canonical(p, s) {
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
    v: 1,
    key_id: s.key_id,
    reader: p.reader,
    uid: p.uid,
    ctr: p.ctr,
    url: p.url,
    verdict: p.verdict,
    reason: p.reason,
    time: p.time,
  }));
}

function b64urlDecode(s) {
  return new Uint8Array(Buffer.from(s, "base64url"));
}

const subtle = globalThis.crypto?.subtle;

// verifyEd25519 uses WebCrypto; if this Node lacks Ed25519 there, it falls
// back to node:crypto with the raw key wrapped in an SPKI DER header
// (RFC 8410: 302a300506032b6570032100 || key).
async function verifyEd25519(rawPub, sig, msg) {
  try {
    const key = await subtle.importKey("raw", rawPub, { name: "Ed25519" }, false, ["verify"]);
    return { ok: await subtle.verify({ name: "Ed25519" }, key, sig, msg), via: "webcrypto" };
  } catch (e) {
    if (e?.name !== "NotSupportedError" && !(e instanceof TypeError)) throw e;
    const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(rawPub)]);
    const key = createPublicKey({ key: der, format: "der", type: "spki" });
    return { ok: nodeVerify(null, msg, key, sig), via: "node:crypto" };
  }
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failed = 0;
for (const c of cases) {
  const pub = b64urlDecode(c.public_key);
  for (const [which, field, want64, fields] of [
    ["v1", "signature", c.canonical, ["reader", "uid", "ctr", "url", "verdict", "reason", "time", "key_id"]],
    ["v2", "signature_v2", c.canonical_v2, ["reader", "uid", "ctr", "url", "verdict", "reason", "time", "key_id",
      "tap", "profile", "tt_status", "originality", "remote", "fleet"]],
  ]) {
    const s = c.payload[field];
    const want = new Uint8Array(Buffer.from(want64, "base64"));
    const got = canonical(c.payload, s);
    if (!equalBytes(got, want)) {
      failed++;
      console.log(`FAIL ${c.name} ${which}: canonical bytes differ\n  js: ${Buffer.from(got).toString("hex")}\n  go: ${Buffer.from(want).toString("hex")}`);
      continue;
    }
    const sig = b64urlDecode(s.sig);
    const good = await verifyEd25519(pub, sig, got);
    if (s.alg !== "Ed25519" || !good.ok) {
      failed++;
      console.log(`FAIL ${c.name} ${which}: signature rejected (${good.via})`);
      continue;
    }
    // Every field is covered: changing any one must break the signature.
    for (const f of fields) {
      const t = structuredClone(c.payload);
      if (f === "key_id") t[field].key_id += "0";
      else if (f === "ctr") t.ctr = t.ctr === null ? 0 : null;
      else t[f] += "x";
      const bad = await verifyEd25519(pub, sig, canonical(t, t[field]));
      if (bad.ok) {
        failed++;
        console.log(`FAIL ${c.name} ${which}: tampered ${f} still verifies`);
      }
    }
    console.log(`ok ${c.name} ${which} (${good.via}, ${got.length} bytes)`);
  }
}
process.exit(failed ? 1 : 0);
