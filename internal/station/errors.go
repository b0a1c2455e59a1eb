package station

import (
	"errors"
	"strings"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/ws"
)

// Error codes of the station's own, beside legitmark.ErrorCode's.
const (
	CodeNoAuthenticTap = "no_authentic_tap" // sr.create without a recent authentic tap
	CodeUploadUnknown  = "upload_unknown"   // chunk for an unknown, finished or expired upload
	CodeUploadBusy     = "upload_busy"      // too many image bytes in flight
	CodeUploadTooBig   = "upload_too_big"   // declared size above MaxRawImageBytes
	CodeUploadExpired  = "upload_expired"   // an upload stalled and was dropped
	CodeUploadChunk    = "upload_chunk"     // a chunk out of range or of the wrong size
	CodeReplaced       = "replaced"         // a newer upload for the same side took over
)

// messages are the fixed texts sent with each code. A code without an entry
// gets the text of remote_unavailable.
var messages = map[string]string{
	"requirements_not_met": "some required photos are missing",
	"outcome_unknown":      "the authentication service did not confirm; the station checks again",
	"rate_limited":         "too many requests to the authentication service; try again shortly",
	"upload_url_expired":   "the upload link expired; try again",
	"remote_auth_failed":   "the station is not authorised by the authentication service",
	"not_found":            "service request not found",
	"unknown_side":         "that photo is not part of this service request",
	"conflict":             "the service request changed meanwhile; reload it",
	"already_final":        "this service request is finished",
	"rejected":             "the authentication service refused the request",
	"not_configured":       "the authentication station is not configured",
	"remote_unavailable":   "the authentication service is not reachable; try again",

	legitmark.ImageFormat:   "the photo is not a JPEG or PNG image",
	legitmark.ImageCorrupt:  "the photo could not be read",
	legitmark.ImageTooSmall: "the photo is smaller than 600 × 600 pixels",
	legitmark.ImageTooLarge: "the photo has too many pixels",
	legitmark.ImageTooBig:   "the photo cannot be brought under 5 MB",

	CodeNoAuthenticTap: "tap an authentic tag first",
	CodeUploadUnknown:  "unknown or finished upload",
	CodeUploadBusy:     "too many photos in flight; wait for one to finish",
	CodeUploadTooBig:   "the photo file is too large",
	CodeUploadExpired:  "the photo upload stalled and was dropped",
	CodeUploadChunk:    "a part of the photo does not fit the upload",
	CodeReplaced:       "a newer photo for this side replaced this one",
	"internal":         "internal error",
}

// Message returns the fixed text of a code.
func Message(code string) string {
	if m, ok := messages[code]; ok {
		return m
	}
	return messages["remote_unavailable"]
}

// codeOf maps an error to a code: the station's own (*ws.Error), else
// legitmark.ErrorCode.
func codeOf(err error) string {
	var we *ws.Error
	if errors.As(err, &we) {
		return string(we.Code)
	}
	if errors.Is(err, errInternal) {
		return "internal"
	}
	return legitmark.ErrorCode(err)
}

// errInternal marks a failure of the station itself (its journal, its
// disk): "internal" to the client.
var errInternal = errors.New("station: internal failure")

// wsError turns an error into what the browser is told: a code and its
// fixed text, never the error's own text.
func wsError(err error) error {
	var we *ws.Error
	if errors.As(err, &we) {
		return we
	}
	var nm *legitmark.NotMetError
	if errors.As(err, &nm) {
		return &ws.Error{Code: "requirements_not_met", Message: Message("requirements_not_met"),
			Details: notMetDetails{Missing: sideViews(nm.Missing, nil), Progress: nm.Progress}}
	}
	code := codeOf(err)
	if code == "internal" {
		return err // ws logs it and sends "internal"
	}
	return &ws.Error{Code: ws.Code(code), Message: Message(code)}
}

// notMetDetails are the details of requirements_not_met.
type notMetDetails struct {
	Missing  []sideView         `json:"missing"`
	Progress legitmark.Progress `json:"progress"`
}

// stationErr is a station error with its fixed message.
func stationErr(code string) *ws.Error {
	return &ws.Error{Code: ws.Code(code), Message: Message(code)}
}

// badRequest is a payload the station cannot use.
func badRequest(what string) *ws.Error {
	return &ws.Error{Code: ws.CodeBadRequest, Message: "invalid " + strings.TrimSpace(what)}
}
