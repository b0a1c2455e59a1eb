// End-to-end driver for TestClientAgainstServer (web_test.go): runs
// NfcdClient under Node's WebSocket against a real ws.Server. The Go test
// sends commands on stdin and reads one JSON object per line from stdout.

import readline from "node:readline";
import { NfcdClient, NfcdError, fetchSessionToken } from "../nfcd-client.js";

const base = process.env.NFCD_HTTP; // http://127.0.0.1:PORT
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const command = async () => (await lines.next()).value;

// Node's fetch is no browser: add the header a browser sends on a
// same-origin GET, which /v1/session requires.
const realFetch = globalThis.fetch;
globalThis.fetch = (u, init = {}) => realFetch(u, { ...init, headers: { ...init.headers, "Sec-Fetch-Site": "same-origin" } });

const sockets = [];
class TrackedWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    sockets.push(this);
  }
}

let gate = null; // while set, getToken waits: the Go side publishes meanwhile
const client = new NfcdClient({
  url: base.replace(/^http/, "ws") + "/v1/ws",
  getToken: async () => {
    if (gate) await gate.promise;
    return fetchSessionToken(base);
  },
  WebSocketImpl: TrackedWebSocket,
  backoff: { min: 20, max: 100 },
  requestTimeout: 3000,
  pingInterval: 0,
});
client.on("tag.read", (p, m) => out({ ev: "tag.read", uid: p.uid, seq: m.seq, replayed: m.replayed }));
client.on("gap", (g) => out({ ev: "gap", ...g }));
client.on("notice", (e) => out({ ev: "notice", code: e.code }));

const hello = await client.connect();
out({ ev: "open", stream: hello.stream, readers: hello.readers, protocol: sockets[0].protocol });

for (;;) {
  const cmd = await command();
  if (cmd === undefined || cmd === "quit") break;
  if (cmd === "drop") {
    let release;
    gate = { promise: new Promise((r) => (release = r)) };
    gate.release = release;
    const waiting = new Promise((r) => {
      const off = client.on("state", (s) => s === "reconnecting" && (off(), r()));
    });
    sockets.at(-1).close(); // not via client.close(): the client must reconnect
    await waiting;
    out({ ev: "dropped" });
  } else if (cmd === "go") {
    const g = gate;
    gate = null;
    const open = new Promise((r) => {
      const off = client.on("state", (s) => s === "open" && (off(), r()));
    });
    g.release();
    await open;
    out({ ev: "reopened", sockets: sockets.length });
  } else if (cmd === "requests") {
    const res = { ev: "requests" };
    res.readers = await client.readers();
    res.history = await client.history({ limit: 2 });
    try {
      await client.history({ limit: -1 });
      res.bad = "no error";
    } catch (e) {
      res.bad = e instanceof NfcdError ? e.code : String(e);
    }
    res.ping = (await client.ping()).seq;
    out(res);
  }
}
client.close();
out({ ev: "closed", state: client.state });
process.exit(0);
