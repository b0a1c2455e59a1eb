// Package station is the authentication station on the daemon's WebSocket
// API: after an authentic tap, a kiosk page asks Legitmark for expert
// authentication of the item (remote-apis.md §4.1). It registers the
// legitmark.* requests (taxonomy, SR create, photo requirements, binary
// image uploads, submit, status, list) on a ws.Server, publishes upload
// progress and SR status events, serves the photo guides (overlay and
// example images) through the daemon so the page needs no other origin, and
// resumes what a restart or a kill -9 interrupted.
//
// The work itself is internal/legitmark's Workflow, whose journal is the
// daemon's store: this package turns it into requests and events, and owns
// the parts of a station that are not the API's — which tap an SR is for,
// the references it gets ("<station_id>-<ULID>"), image bytes in flight and
// on disk, and which SRs are being watched.
//
// Secrets stay here: the browser never sees the API key, the actor token or
// a presigned URL. Errors reach it as a code (legitmark.ErrorCode or one of
// this package's) with a fixed message.
//
// Images and restarts: a photo is prepared (validated, metadata stripped,
// brought under 5 MB) as soon as its bytes are in, and the prepared image
// is spooled to the state directory (0600) until the SR is submitted. After
// a restart the station uploads the spooled sides again — with fresh
// presigned URLs; sides the journal and the server both have are skipped —
// so a photo taken once is never asked for again because the daemon
// restarted. The spool costs at most a few megabytes per side and is
// removed on submit.
package station
