// client.mjs checks verifyVerdict of web/nfcd-client.js against payloads
// that Go signed. TestNodeClientVerify (verdict_test.go) runs it as
//
//	node client.mjs <cases.json>
//
// where cases.json is [{"name", "public_key" (base64url), "payload"}], and
// prints one JSON line per case: {"name", "ok", "version", "key_id"}.
import { readFileSync } from "node:fs";
import { verifyVerdict } from "../../../web/nfcd-client.js";

const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const c of cases) {
  const r = await verifyVerdict(c.payload, c.public_key);
  console.log(JSON.stringify({ name: c.name, ok: r.ok, version: r.version, key_id: r.keyId }));
}
