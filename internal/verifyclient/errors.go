package verifyclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sentinels for the conditions callers branch on. An *APIError matches
// every one that applies (errors.Is); a *TransportError matches
// ErrNotSent or ErrAmbiguous.
var (
	// ErrExpired: the triple was already used ("has expired").
	ErrExpired = errors.New("verifyclient: cmac has expired")
	// ErrInvalidCMAC: the MAC does not verify ("is invalid").
	ErrInvalidCMAC = errors.New("verifyclient: cmac is invalid")
	// ErrTagNotFound: the service does not know the UID ("could not be
	// found", or a JSON 404 where the docs say 404 means an unknown tag).
	ErrTagNotFound = errors.New("verifyclient: tag not found")
	// ErrNotLatest: cmac/latest (or claim, recover) refused the triple
	// because it is not the most recent registered tap, or is invalid —
	// the service does not say which.
	ErrNotLatest = errors.New("verifyclient: not the latest verification")
	// ErrSessionExpired: claim or recover with a triple that is not the
	// latest verification ("Session expired…").
	ErrSessionExpired = errors.New("verifyclient: session expired")
	// ErrNotClaimable: "This tag has not been enabled for claiming."
	ErrNotClaimable = errors.New("verifyclient: tag not enabled for claiming")
	// ErrAlreadyClaimed: "This NFT has already been claimed…".
	ErrAlreadyClaimed = errors.New("verifyclient: already claimed")
	// ErrRecoverDisabled: "Ownership reset has not been enabled…".
	ErrRecoverDisabled = errors.New("verifyclient: ownership reset not enabled")
	// ErrTransactionFailed: "Transaction failed with message: …".
	ErrTransactionFailed = errors.New("verifyclient: transaction failed")
	// ErrUnauthorized: 401/403, or an "Unauthorized" error body.
	ErrUnauthorized = errors.New("verifyclient: unauthorized")
	// ErrBadParams: 406, parameters the service refuses (transfers).
	ErrBadParams = errors.New("verifyclient: unexpected or missing parameters")
	// ErrNoUser: marketing_consent found no user with the e-mail.
	ErrNoUser = errors.New("verifyclient: no user with that e-mail")
	// ErrRateLimited: 429.
	ErrRateLimited = errors.New("verifyclient: rate limited")
	// ErrUnavailable: 503, refused before processing.
	ErrUnavailable = errors.New("verifyclient: service unavailable")
	// ErrServer: any other 5xx (or 408): the request may have been
	// processed.
	ErrServer = errors.New("verifyclient: server error")
	// ErrRedirect: a 3xx answer; redirects are never followed.
	ErrRedirect = errors.New("verifyclient: unexpected redirect")
	// ErrMalformedResponse: a success status whose body is not the
	// documented JSON (wrong content type, truncated, invalid).
	ErrMalformedResponse = errors.New("verifyclient: malformed response")
	// ErrNotSent: the request certainly never reached the server.
	ErrNotSent = errors.New("verifyclient: request not sent")
	// ErrAmbiguous: the request may have reached the server and its answer
	// was lost.
	ErrAmbiguous = errors.New("verifyclient: outcome unknown")
)

// maxBody bounds every response body read (remote-apis.md §1.4: 64 KiB).
const maxBody = 64 << 10

// maxRawKept bounds the copy of an error body kept in APIError.Raw.
const maxRawKept = 512

// APIError is an HTTP answer that is not the documented success: an error
// status, or a success status with an error body or a malformed one. The
// error bodies' shapes (remote-apis.md §1.4) are flattened into Fields:
//
//	{"errors":{"cmac":"has expired","tag":["could not be found"]}}  → cmac:[has expired] tag:[could not be found]
//	{"error":{"tag":["could not be found"]}}                          → tag:[could not be found]
//	{"error":"This tag has not been enabled for claiming."}          → _:[This tag …]
//
// It never contains anything the client sent.
type APIError struct {
	Op          string              // "verify", "latest", "claim", …
	Status      int                 // HTTP status
	ContentType string              // media type of the body, without parameters
	Fields      map[string][]string // normalised error messages; "_" holds a bare message
	RetryAfter  time.Duration       // from Retry-After (429, 503), else 0
	Raw         []byte              // start of the body, for logs
	kinds       []error
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "verifyclient: %s: HTTP %d", e.Op, e.Status)
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "_" {
				fmt.Fprintf(&b, "; %s", strings.Join(e.Fields[k], ", "))
			} else {
				fmt.Fprintf(&b, "; %s %s", k, strings.Join(e.Fields[k], ", "))
			}
		}
	} else if len(e.kinds) > 0 {
		b.WriteString(strings.TrimPrefix(e.kinds[0].Error(), "verifyclient:"))
	}
	return b.String()
}

// Unwrap returns the sentinels that describe e.
func (e *APIError) Unwrap() []error { return e.kinds }

// Has reports whether e carries the sentinel kind.
func (e *APIError) Has(kind error) bool {
	for _, k := range e.kinds {
		if k == kind {
			return true
		}
	}
	return false
}

// TransportError is a request that got no HTTP answer, or whose answer was
// cut off. Written says whether request bytes may have reached the server:
// false means the request certainly was not processed (ErrNotSent), true
// that it may have been (ErrAmbiguous).
type TransportError struct {
	Op      string
	Written bool
	Err     error
}

func (e *TransportError) Error() string {
	state := "not sent"
	if e.Written {
		state = "outcome unknown"
	}
	return fmt.Sprintf("verifyclient: %s: %s: %v", e.Op, state, e.Err)
}

// Unwrap returns the cause and ErrNotSent or ErrAmbiguous.
func (e *TransportError) Unwrap() []error {
	if e.Written {
		return []error{e.Err, ErrAmbiguous}
	}
	return []error{e.Err, ErrNotSent}
}

// notFoundOn404 lists the operations whose docs say 404 means "tag not
// found" (remote-apis.md §1.3: cmac/*, transfers; verifications by
// inference, verify accepts 404 or 422).
var notFoundOn404 = map[string]bool{
	opVerify: true, opValidate: true, opLatest: true, opVerifications: true, opTransfers: true,
}

// newAPIError normalises a non-success answer. body is at most maxBody
// bytes; now anchors an HTTP-date Retry-After.
func newAPIError(op string, status int, contentType string, retryAfter string, body []byte, now time.Time) *APIError {
	e := &APIError{Op: op, Status: status, ContentType: mediaType(contentType)}
	if len(body) > maxRawKept {
		e.Raw = append([]byte(nil), body[:maxRawKept]...)
	} else if len(body) > 0 {
		e.Raw = append([]byte(nil), body...)
	}
	fields, isJSON := NormalizeErrorBody(body)
	e.Fields = fields
	e.RetryAfter = parseRetryAfter(retryAfter, now)
	add := func(k error) {
		if !e.Has(k) {
			e.kinds = append(e.kinds, k)
		}
	}
	// Classify by message first (case-insensitive substring, like the
	// official snippet's indexOf), then by status.
	for field, msgs := range fields {
		for _, m := range msgs {
			lm := strings.ToLower(m)
			switch {
			case field == "cmac" && strings.Contains(lm, "has expired"):
				add(ErrExpired)
			case field == "cmac" && strings.Contains(lm, "is invalid"):
				add(ErrInvalidCMAC)
			case field == "tag" && strings.Contains(lm, "could not be found"):
				add(ErrTagNotFound)
			case strings.Contains(lm, "session expired"):
				add(ErrSessionExpired)
			case strings.Contains(lm, "not been enabled for claiming"):
				add(ErrNotClaimable)
			case strings.Contains(lm, "already been claimed"):
				add(ErrAlreadyClaimed)
			case strings.Contains(lm, "ownership reset has not been enabled"):
				add(ErrRecoverDisabled)
			case strings.Contains(lm, "transaction failed"):
				add(ErrTransactionFailed)
			case lm == "unauthorized":
				add(ErrUnauthorized)
			}
		}
	}
	switch {
	case status == 429:
		add(ErrRateLimited)
	case status == 503:
		add(ErrUnavailable)
	case status == 408 || status >= 500:
		add(ErrServer)
	case status == 401 || status == 403:
		add(ErrUnauthorized)
	case status == 406:
		add(ErrBadParams)
	case status == 404 && op == opConsent && isJSON:
		add(ErrNoUser)
	case status == 404 && isJSON && notFoundOn404[op]:
		add(ErrTagNotFound)
	case status >= 300 && status < 400:
		add(ErrRedirect)
	}
	if (op == opLatest) && status == 422 {
		add(ErrNotLatest)
	}
	return e
}

// malformed returns the APIError for a success status whose body does not
// decode.
func malformed(op string, status int, contentType string, body []byte) *APIError {
	e := newAPIError(op, status, contentType, "", body, time.Time{})
	e.kinds = append([]error{ErrMalformedResponse}, e.kinds...)
	return e
}

// NormalizeErrorBody flattens an error body (remote-apis.md §1.4) into
// field → messages: it takes "errors", falling back to "error"; a string
// value is stored under "_", an array of strings as is, an object's values
// (string or array of strings) under their keys. isJSON reports whether
// the body was a JSON object at all; a body that is not is no error in
// itself (gateways answer in HTML) and yields no fields.
func NormalizeErrorBody(body []byte) (fields map[string][]string, isJSON bool) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, false
	}
	raw, ok := top["errors"]
	if !ok {
		raw, ok = top["error"]
	}
	if !ok {
		// A bare {"message": "..."} is the other shape gateways use.
		if m, ok := top["message"]; ok {
			raw = m
		} else {
			return nil, true
		}
	}
	fields = map[string][]string{}
	if msgs, ok := stringOrList(raw); ok {
		if len(msgs) > 0 {
			fields["_"] = msgs
		}
		return fields, true
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err == nil {
		for k, v := range obj {
			if msgs, ok := stringOrList(v); ok && len(msgs) > 0 {
				fields[k] = msgs
			}
		}
	}
	return fields, true
}

// stringOrList decodes a JSON string or an array of strings.
func stringOrList(raw json.RawMessage) ([]string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		return []string{s}, true
	case '[':
		var l []json.RawMessage
		if json.Unmarshal(raw, &l) != nil {
			return nil, false
		}
		out := make([]string, 0, len(l))
		for _, r := range l {
			var s string
			if json.Unmarshal(r, &s) == nil {
				out = append(out, s)
			}
		}
		return out, true
	}
	return nil, false
}

// maxRetryAfterParsed bounds a parsed Retry-After so that arithmetic on it
// cannot overflow; the client applies its own, smaller limit.
const maxRetryAfterParsed = 24 * time.Hour

// parseRetryAfter parses Retry-After as delay-seconds or an HTTP-date (RFC
// 9110 §10.2.3). Anything else, or a date in the past, is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		if n > uint64(maxRetryAfterParsed/time.Second) {
			return maxRetryAfterParsed
		}
		return time.Duration(n) * time.Second
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil && !now.IsZero() {
		d := t.Sub(now)
		if d <= 0 {
			return 0
		}
		return min(d, maxRetryAfterParsed)
	}
	return 0
}

// mediaType returns the media type of a Content-Type value, lower-case,
// without parameters ("" if absent or unparsable).
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}

// isJSONType reports whether a Content-Type value says JSON.
func isJSONType(ct string) bool {
	mt := mediaType(ct)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
