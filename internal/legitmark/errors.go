package legitmark

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Conditions callers branch on with errors.Is. An *APIError unwraps to the
// one matching its status (and, for some, its code).
var (
	ErrValidation     = errors.New("legitmark: validation failed")              // 400, 422
	ErrUnauthorized   = errors.New("legitmark: authentication required")        // 401
	ErrForbidden      = errors.New("legitmark: forbidden")                      // 403
	ErrNotFound       = errors.New("legitmark: not found")                      // 404
	ErrConflict       = errors.New("legitmark: conflict")                       // 409
	ErrRateLimited    = errors.New("legitmark: rate limited")                   // 429, or the local budget
	ErrServer         = errors.New("legitmark: server error")                   // 5xx
	ErrNotImplemented = errors.New("legitmark: not implemented")                // 501
	ErrNotMet         = errors.New("legitmark: image requirements not met")     // submit before progress met
	ErrAmbiguous      = errors.New("legitmark: outcome unknown")                // written, no answer, not settled
	ErrURLExpired     = errors.New("legitmark: presigned URL expired")          // S3 403 on a presigned PUT
	ErrDecode         = errors.New("legitmark: unexpected response")            // 2xx whose body did not decode
	ErrNoUserToken    = errors.New("legitmark: no actor token")                 // x-api-key auth without a token
	ErrBadInput       = errors.New("legitmark: invalid argument")               // rejected before any request
	ErrAlreadyFinal   = errors.New("legitmark: service request is final")       // workflow on a finished SR
	ErrUnknownSide    = errors.New("legitmark: side is not required by the SR") // upload to a side not listed
)

// FieldError is one entry of an error body's "errors" array, e.g.
// {"code":"validation/missing-user_id","message":"user_id is required."}.
type FieldError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// APIError is a non-2xx answer of the Legitmark API (remote-apis.md §2.9):
//
//	{"success":false,"error":{"code":400,"timestamp":"…","message":"Validation failed",
//	 "errors":[{"code":"validation/missing-user_id","message":"user_id is required."}]}}
//	{"success":false,"error":{"code":401,…,"message":"Authentication required","details":"authorization/missing_token"}}
//
// Text from the server is scrubbed of credentials before it is stored.
type APIError struct {
	Op         string        // client operation, e.g. "create sr"
	Status     int           // HTTP status
	Message    string        // error.message (or the status text)
	Details    string        // error.details, e.g. "error/rate_limit_exceeded"
	Errors     []FieldError  // error.errors
	RetryAfter time.Duration // from Retry-After, a reset header or the message; 0 if none
	RequestID  string        // x-request-id / x-amzn-requestid
}

// Error describes the failure without secrets.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("legitmark: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Status))
	if e.Message != "" {
		b.WriteString(" ")
		b.WriteString(e.Message)
	}
	if e.Details != "" {
		b.WriteString(" (" + e.Details + ")")
	}
	for i, f := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; +%d more", len(e.Errors)-i)
			break
		}
		b.WriteString("; ")
		if f.Code != "" {
			b.WriteString(f.Code + ": ")
		}
		b.WriteString(f.Message)
	}
	return b.String()
}

// Unwrap maps the status (and well-known codes) to the package sentinels.
func (e *APIError) Unwrap() []error {
	var errs []error
	switch {
	case e.Status == 400 || e.Status == 422:
		errs = append(errs, ErrValidation)
	case e.Status == 401:
		errs = append(errs, ErrUnauthorized)
	case e.Status == 403:
		errs = append(errs, ErrForbidden)
	case e.Status == 404:
		errs = append(errs, ErrNotFound)
	case e.Status == 409:
		errs = append(errs, ErrConflict)
	case e.Status == 429:
		errs = append(errs, ErrRateLimited)
	case e.Status == 501:
		errs = append(errs, ErrNotImplemented, ErrServer)
	case e.Status >= 500:
		errs = append(errs, ErrServer)
	}
	if e.HasCode("validation/requirements-not-met") {
		errs = append(errs, ErrNotMet)
	}
	return errs
}

// HasCode reports whether the error carries code in details or errors[].
func (e *APIError) HasCode(code string) bool {
	if e.Details == code {
		return true
	}
	for _, f := range e.Errors {
		if f.Code == code {
			return true
		}
	}
	return false
}

// S3Error is a failed presigned PUT; S3 answers in XML:
// <Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>.
// A 403 unwraps to ErrURLExpired: the remedy is the same whether the URL
// expired or its signature no longer matches — ask for a new intent.
type S3Error struct {
	Status  int
	Code    string
	Message string
}

// Error describes the failure without secrets.
func (e *S3Error) Error() string {
	s := "legitmark: upload: s3 " + strconv.Itoa(e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap maps the status to the package sentinels.
func (e *S3Error) Unwrap() []error {
	switch {
	case e.Status == 403:
		return []error{ErrURLExpired, ErrForbidden}
	case e.Status == 400:
		return []error{ErrValidation}
	case e.Status == 429 || e.Code == "SlowDown":
		return []error{ErrRateLimited}
	case e.Status >= 500:
		return []error{ErrServer}
	}
	return nil
}

// TransportError is a request that got no HTTP answer: DNS, dial, TLS, reset,
// timeout. Written reports whether the request had been written to the
// connection, i.e. whether the server may have acted on it.
type TransportError struct {
	Op      string
	Written bool
	Err     error // scrubbed: never carries a URL query
}

// Error describes the failure without secrets.
func (e *TransportError) Error() string {
	w := "not sent"
	if e.Written {
		w = "sent, no answer"
	}
	return "legitmark: " + e.Op + ": " + w + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// AmbiguousError is a create or submit whose outcome could not be settled by
// reading state: the server may or may not have acted. Callers show "could
// not confirm" and settle later (Workflow.Settle), never resend blindly.
type AmbiguousError struct {
	Op  string
	Err error // the last failure
}

// Error describes the failure without secrets.
func (e *AmbiguousError) Error() string {
	return "legitmark: " + e.Op + ": outcome unknown: " + e.Err.Error()
}

// Unwrap returns ErrAmbiguous and the cause.
func (e *AmbiguousError) Unwrap() []error { return []error{ErrAmbiguous, e.Err} }

// LimitError is a request held back by the client's own budget because the
// wait would outlast the context's deadline.
type LimitError struct {
	Budget string    // "app", "user" or "sr"
	Until  time.Time // when the budget allows the request
}

// Error describes the failure without secrets.
func (e *LimitError) Error() string {
	return "legitmark: " + e.Budget + " request budget exhausted until " + e.Until.UTC().Format(time.RFC3339)
}

// Unwrap returns ErrRateLimited.
func (e *LimitError) Unwrap() error { return ErrRateLimited }

// DecodeError is a 2xx answer whose body does not have the documented shape.
type DecodeError struct {
	Op  string
	Err error
}

// Error describes the failure without secrets.
func (e *DecodeError) Error() string {
	return "legitmark: " + e.Op + ": decode response: " + e.Err.Error()
}

// Unwrap returns ErrDecode and the cause.
func (e *DecodeError) Unwrap() []error { return []error{ErrDecode, e.Err} }

// NotMetError is a submit refused locally because progress is not met; it
// lists the required sides that have no image.
type NotMetError struct {
	SR       string
	Progress Progress
	Missing  []Side
}

// Error describes the failure without secrets.
func (e *NotMetError) Error() string {
	names := make([]string, len(e.Missing))
	for i, s := range e.Missing {
		names[i] = s.Name
	}
	return fmt.Sprintf("legitmark: submit %s: %d of %d required images uploaded; missing: %s",
		e.SR, e.Progress.CurrentRequired, e.Progress.TotalRequired, strings.Join(names, ", "))
}

// Unwrap returns ErrNotMet.
func (e *NotMetError) Unwrap() error { return ErrNotMet }

// SideError is the failure of one side's upload (image or transfer).
type SideError struct {
	Side     string // side UUID ("" if the input named no known side)
	SideName string
	Err      error
}

// Error describes the failure without secrets.
func (e *SideError) Error() string {
	name := e.SideName
	if name == "" {
		name = e.Side
	}
	return "legitmark: side " + strconv.Quote(name) + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *SideError) Unwrap() error { return e.Err }

// Code returns a stable code for the failure, for WebSocket and CLI output:
// an ImageError's code, or a transfer code.
func (e *SideError) Code() string { return ErrorCode(e.Err) }

// ErrorCode maps an error of this package to a stable, secret-free code for
// browsers and CLI output (never err.Error()).
func ErrorCode(err error) string {
	var ie *ImageError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ie):
		return ie.Code()
	case errors.Is(err, ErrNotMet):
		return "requirements_not_met"
	case errors.Is(err, ErrAmbiguous):
		return "outcome_unknown"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, ErrURLExpired):
		return "upload_url_expired"
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrForbidden):
		return "remote_auth_failed"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrUnknownSide):
		return "unknown_side"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrAlreadyFinal):
		return "already_final"
	case errors.Is(err, ErrValidation), errors.Is(err, ErrBadInput):
		return "rejected"
	case errors.Is(err, ErrConfig):
		return "not_configured"
	}
	return "remote_unavailable"
}
