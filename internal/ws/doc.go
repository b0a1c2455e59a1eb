// Package ws implements nfcd's local WebSocket API, protocol version 1.
//
// A Server listens on a loopback address (127.0.0.1:7424 by default) and
// upgrades GET /v1/ws with the subprotocol "nfcd.v1". Every frame is a JSON
// envelope {"v":1,"type":…,"id":…,"seq":…,"payload":{…}}. The daemon calls
// Publish for each reader, card and tag event; the server numbers events
// with a monotonic seq, keeps the most recent ones in a bounded ring so a
// client that reconnects can resume without missing a verdict, and fans them
// out to subscribed clients through per-client bounded send queues. Publish
// never blocks on a slow client: the client is told once (error code
// "overflow") and closed with 1013 if it stays behind.
//
// The door is guarded before the upgrade, the way local APIs such as
// tailscale's localapi (validHost) and caddy's admin endpoint (checkHost,
// checkOrigin) do it:
//
//   - the Host header must name the address the request arrived on
//     (127.0.0.1:PORT, localhost:PORT on 127.0.0.1 or ::1, the LAN address,
//     or a configured host name), and a loopback name only from a loopback
//     peer, which defeats DNS rebinding;
//   - a browser Origin must be allow-listed, which defeats cross-site
//     WebSocket hijacking;
//   - every connection needs a token, sent as a second Sec-WebSocket-Protocol
//     value "nfcd-token.<TOKEN>" (browsers cannot set other headers) or as
//     "Authorization: Bearer <TOKEN>", or minted for the daemon's own page by
//     GET /v1/session, for loopback peers only.
//
// Beyond loopback the listener speaks TLS to the network (Config.TLS) and
// plain HTTP only to loopback peers. Abusive clients are bounded: bytes
// queued per connection, connections per token and in total, failed token
// attempts per address, framing overhead, and large requests across
// connections (HandlerOptions.MaxConcurrentTotal). CloseToken and
// Reauthorize end the connections of a revoked token.
//
// Tokens never appear in frames or logs. docs/protocol.md describes the wire
// protocol for client authors.
package ws
