package ws

import (
	"encoding/json"
	"errors"
)

// Wire constants of protocol version 1. docs/protocol.md is the
// specification; keep the two in step.
const (
	// ProtocolVersion is the value of the envelope's "v" field.
	ProtocolVersion = 1

	// Subprotocol is the Sec-WebSocket-Protocol value a client must offer
	// and the only one the server ever selects.
	Subprotocol = "nfcd.v1"

	// TokenSubprotocolPrefix prefixes the token when a browser sends it as
	// a second Sec-WebSocket-Protocol value: "nfcd-token.<TOKEN>". The
	// server never selects or echoes it.
	TokenSubprotocolPrefix = "nfcd-token."

	// DefaultPort is the TCP port the daemon listens on unless configured
	// otherwise.
	DefaultPort = 7424

	// DefaultAddr is the default listen address: loopback only.
	DefaultAddr = "127.0.0.1:7424"

	// MaxFrameBytes is the largest text frame the server processes. Larger
	// frames are skipped and answered with error code "too_large".
	MaxFrameBytes = 64 << 10

	// hardFrameLimit is gorilla's read limit. Frames between MaxFrameBytes
	// and this are drained and answered; beyond it gorilla closes the
	// connection with 1009 (message too big) so that a client cannot make
	// the server read without bound.
	hardFrameLimit = 1 << 20

	// maxIDLen bounds the request id echoed back in replies.
	maxIDLen = 128
	// maxTypeLen bounds event type names in subscribe filters.
	maxTypeLen = 64
	// maxFilterItems bounds the number of readers or types in a filter.
	maxFilterItems = 64
)

// Server event types. Every event carries a seq; hello carries the seq of
// the newest event published before the connection was accepted.
const (
	TypeHello         = "hello"
	TypeReaderAdded   = "reader.added"
	TypeReaderRemoved = "reader.removed"
	TypeCardPresent   = "card.present"
	TypeCardRemoved   = "card.removed"
	TypeTagRead       = "tag.read"
	TypeError         = "error"
	TypePCSCChanged   = "pcsc.changed"
	// TypeResult answers a request; it carries the request's id, no seq.
	TypeResult = "result"
)

// Built-in request types. Each request must carry an id. The daemon's
// other requests are registered with Server.Handle.
const (
	TypeSubscribe = "subscribe"
	TypeResume    = "resume"
	TypePing      = "ping"
)

// Close codes the server sends (RFC 6455 §7.4.1).
const (
	CloseGoingAway       = 1001 // the daemon is shutting down
	ClosePolicyViolation = 1008 // repeated bad frames, a frame flood, a revoked token
	CloseMessageTooBig   = 1009 // a frame above the hard limit (1 MiB)
	CloseTryAgainLater   = 1013 // the client could not keep up (send queue full)
)

// Code is a stable error code sent to clients in an error payload or an
// HTTP error body. Clients branch on the code; the message is for humans.
type Code string

// Error codes. docs/protocol.md lists when each is sent.
const (
	CodeBadJSON           Code = "bad_json"           // frame is not a JSON object envelope
	CodeUnknownType       Code = "unknown_type"       // request type is not known
	CodeBadRequest        Code = "bad_request"        // envelope or payload is invalid
	CodeTooLarge          Code = "too_large"          // text frame above MaxFrameBytes
	CodeBinaryUnsupported Code = "binary_unsupported" // binary frame
	CodeGap               Code = "gap"                // resume: events since "since" are gone
	CodeOverflow          Code = "overflow"           // send queue full, events dropped
	CodeInternal          Code = "internal"           // the daemon failed; details are logged
	CodeRateLimited       Code = "rate_limited"       // too many requests or session tokens
	CodeUnauthorized      Code = "unauthorized"       // HTTP 401: missing or unknown token
	CodeForbidden         Code = "forbidden"          // HTTP 403: Host or Origin not allowed
	CodeUnavailable       Code = "unavailable"        // the daemon is shutting down
	CodeTimeout           Code = "timeout"            // a request took longer than its limit
)

// envelope is the frame shape in both directions.
type envelope struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
	Payload json.RawMessage `json:"payload"`
}

// errorPayload is the payload of an error frame.
type errorPayload struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Seq is set by overflow (the first dropped event).
	Seq uint64 `json:"seq,omitempty"`
	// Oldest and Last are set by gap: the oldest seq still replayable and
	// the newest seq published.
	Oldest *uint64 `json:"oldest,omitempty"`
	Last   *uint64 `json:"last,omitempty"`
	// Details is a handler's Error.Details.
	Details json.RawMessage `json:"details,omitempty"`
}

var emptyObject = json.RawMessage("{}")

// marshalFrame encodes an envelope. The inputs are all server-built, so an
// encoding failure is a programmer error.
func marshalFrame(typ, id string, seq uint64, payload json.RawMessage) []byte {
	if len(payload) == 0 {
		payload = emptyObject
	}
	b, err := json.Marshal(envelope{V: ProtocolVersion, Type: typ, ID: id, Seq: seq, Payload: payload})
	if err != nil {
		panic("ws: marshal envelope: " + err.Error())
	}
	return b
}

// resultFrame encodes a result for request id. The envelope is written
// around the encoded payload, in envelope's field order, rather than
// encoded again: a large result (a history page) is then copied once.
func resultFrame(id string, v any) ([]byte, error) {
	p, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 || string(p) == "null" {
		p = emptyObject
	}
	idJSON, _ := json.Marshal(id)
	f := make([]byte, 0, len(p)+len(idJSON)+40)
	f = append(f, `{"v":1,"type":"result"`...)
	if id != "" {
		f = append(f, `,"id":`...)
		f = append(f, idJSON...)
	}
	f = append(f, `,"payload":`...)
	f = append(f, p...)
	return append(f, '}'), nil
}

// errorFrame encodes an error reply (id set) or notice (id empty).
func errorFrame(id string, p errorPayload) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic("ws: marshal error payload: " + err.Error())
	}
	return marshalFrame(TypeError, id, 0, b)
}

// request is a parsed client frame.
type request struct {
	Type    string
	ID      string
	Payload json.RawMessage
	// Data is the body of a binary frame; binary marks one.
	Data   []byte
	binary bool
}

// parseRequest decodes and validates one client text frame; known reports
// whether a request type exists. On error it returns the id when one could
// be recovered, so the reply can carry it.
func parseRequest(frame []byte, known func(typ string) bool) (request, *Error) {
	var env struct {
		V       *int            `json:"v"`
		Type    string          `json:"type"`
		ID      string          `json:"id"`
		Seq     json.RawMessage `json:"seq"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(frame, &env); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return request{}, &Error{Code: CodeBadRequest, Message: "envelope field " + te.Field + " has the wrong type"}
		}
		return request{}, &Error{Code: CodeBadJSON, Message: "frame is not a JSON object"}
	}
	if len(env.ID) > maxIDLen {
		return request{}, &Error{Code: CodeBadRequest, Message: "id is longer than 128 bytes"}
	}
	req := request{Type: env.Type, ID: env.ID}
	switch {
	case env.V == nil:
		return req, &Error{Code: CodeBadRequest, Message: `missing "v"`}
	case *env.V != ProtocolVersion:
		return req, &Error{Code: CodeBadRequest, Message: "unsupported protocol version"}
	case env.Type == "":
		return req, &Error{Code: CodeBadRequest, Message: `missing "type"`}
	}
	if !known(env.Type) {
		return req, &Error{Code: CodeUnknownType, Message: "unknown request type"}
	}
	if env.ID == "" {
		return req, &Error{Code: CodeBadRequest, Message: `requests need an "id"`}
	}
	switch p := env.Payload; {
	case len(p) == 0 || string(p) == "null":
		req.Payload = emptyObject
	case p[0] != '{':
		return req, &Error{Code: CodeBadRequest, Message: "payload must be an object"}
	default:
		req.Payload = p
	}
	return req, nil
}

// subscribeParams is the payload of subscribe and resume.
type subscribeParams struct {
	Readers []string `json:"readers"`
	Types   []string `json:"types"`
	// Since and Stream are used by resume only.
	Since  *uint64 `json:"since"`
	Stream string  `json:"stream"`
}

// filter selects the events a client receives. A nil set matches all.
type filter struct {
	readers map[string]struct{}
	types   map[string]struct{}
}

// matches reports whether an event of type typ about reader passes f.
// Events that name no reader (hasReader false) pass any reader filter.
func (f *filter) matches(typ, reader string, hasReader bool) bool {
	if f.types != nil {
		if _, ok := f.types[typ]; !ok {
			return false
		}
	}
	if f.readers != nil && hasReader {
		if _, ok := f.readers[reader]; !ok {
			return false
		}
	}
	return true
}

// parseSubscribe decodes a subscribe or resume payload.
func parseSubscribe(p json.RawMessage, resume bool) (subscribeParams, filter, *Error) {
	var sp subscribeParams
	if err := json.Unmarshal(p, &sp); err != nil {
		return sp, filter{}, &Error{Code: CodeBadRequest, Message: "invalid subscribe payload"}
	}
	if resume && sp.Since == nil {
		return sp, filter{}, &Error{Code: CodeBadRequest, Message: `resume needs "since"`}
	}
	if len(sp.Readers) > maxFilterItems || len(sp.Types) > maxFilterItems {
		return sp, filter{}, &Error{Code: CodeBadRequest, Message: "filter has too many entries"}
	}
	var f filter
	if len(sp.Readers) > 0 {
		f.readers = make(map[string]struct{}, len(sp.Readers))
		for _, r := range sp.Readers {
			f.readers[r] = struct{}{}
		}
	}
	if len(sp.Types) > 0 {
		f.types = make(map[string]struct{}, len(sp.Types))
		for _, t := range sp.Types {
			if t == "" || len(t) > maxTypeLen || t == TypeHello || t == TypeResult {
				return sp, filter{}, &Error{Code: CodeBadRequest, Message: "invalid event type in filter"}
			}
			f.types[t] = struct{}{}
		}
	}
	return sp, f, nil
}
