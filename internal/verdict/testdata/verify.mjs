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
//	  "payload": {reader,uid,ctr,url,verdict,reason,time,signature:{alg,key_id,sig}}}]
//
// It prints one line per case and exits 1 if any check fails.
import { readFileSync } from "node:fs";
import { createPublicKey, verify as nodeVerify } from "node:crypto";

// canonical is the snippet from docs/signed-verdicts.md.
function canonical(p) {
  return new TextEncoder().encode(JSON.stringify({
    v: 1,
    key_id: p.signature.key_id,
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
  const want = new Uint8Array(Buffer.from(c.canonical, "base64"));
  const got = canonical(c.payload);
  if (!equalBytes(got, want)) {
    failed++;
    console.log(`FAIL ${c.name}: canonical bytes differ\n  js: ${Buffer.from(got).toString("hex")}\n  go: ${Buffer.from(want).toString("hex")}`);
    continue;
  }
  const sig = b64urlDecode(c.payload.signature.sig);
  const good = await verifyEd25519(pub, sig, got);
  if (c.payload.signature.alg !== "Ed25519" || !good.ok) {
    failed++;
    console.log(`FAIL ${c.name}: signature rejected (${good.via})`);
    continue;
  }
  // Every field is covered: changing any one must break the signature.
  for (const field of ["reader", "uid", "ctr", "url", "verdict", "reason", "time", "key_id"]) {
    const t = structuredClone(c.payload);
    if (field === "key_id") t.signature.key_id += "0";
    else if (field === "ctr") t.ctr = t.ctr === null ? 0 : null;
    else t[field] += "x";
    const bad = await verifyEd25519(pub, sig, canonical(t));
    if (bad.ok) {
      failed++;
      console.log(`FAIL ${c.name}: tampered ${field} still verifies`);
    }
  }
  console.log(`ok ${c.name} (${good.via}, ${got.length} bytes)`);
}
process.exit(failed ? 1 : 0);
