// Package legitmark is the client of the Legitmark expert-authentication
// API and the station workflow built on it: taxonomy, service requests (SRs),
// guided photo requirements, image preparation, presigned uploads, submit and
// status polling.
//
// The API is documented in two generations (remote-apis.md §2.1): the older
// one authenticates with `x-api-key` plus a per-actor `x-user-token` from
// POST /api/actor/users and publishes rate limits (1000/min per app, 60/min
// per actor token, 100 new SRs/hour); the current one sends the same key as
// `Authorization: Bearer` and only says limits "may be applied". Config.Auth
// picks the scheme; the client limits itself to the older numbers either way
// (they are configurable) and reads the X-RateLimit-* headers when present.
//
// Retries follow remote-apis.md §3.4: reads and presigned PUTs are retried
// with jittered backoff; SR create and submit are not idempotent, so an
// ambiguous attempt (the request was written but no answer came back) is
// settled by reading state (GET /api/sr/find/{reference} after a create,
// GET /api/v2/sr/{uuid} after a submit) before anything is sent again.
//
// Secrets (the API key, the actor token, presigned URL signatures) never
// appear in errors or logs: they travel as secret.String values, which print as
// "[redacted]", and server-supplied text is scrubbed before it is kept.
//
// The package has no state of its own on disk: the actor token lives behind
// TokenStore and the workflow's progress behind Journal, both implemented by
// the daemon's store.
package legitmark
