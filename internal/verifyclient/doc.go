// Package verifyclient talks to the Legitimate external tag API
// (https://api.legitimate.tech/external/v1): verify a tap remotely, settle a
// verify whose answer was lost, and the read and operator endpoints around
// it (cmac/validate, cmac/latest, claim, recover, verifications, transfers,
// marketing_consent).
//
// The one constraint that shapes the package is that tags/verify is
// one-shot: only the first verify of a (uid, ctr, cmac) triple succeeds and
// any later one answers 422 "has expired". A blind resend after a lost
// response would turn a genuine item into a replay, so Client.Verify
// resends a triple only when the request certainly never reached the server
// (dial or TLS failure, nothing written) or was refused unprocessed (429,
// 503). Anything that may have been processed (a timeout or reset after the
// request was written, a truncated or malformed success body, a gateway
// 5xx) is settled with the read-only cmac/latest, never by sending the
// triple again; what cannot be settled is reported as StatusAmbiguous so
// that a caller with durable state (the outbox) can settle it later with
// Client.Settle.
//
// Error bodies come in several documented shapes ({"errors":{field:…}},
// {"error":{field:[…]}}, {"error":"text"}, none at all); they are normalised
// into *APIError, which matches the sentinels below with errors.Is.
//
// The reference for every rule here is ../shared/reference/remote-apis.md §1
// (endpoints, error shapes, one-time semantics) and §3 (client model, retry
// policy, net/http pitfalls).
package verifyclient
