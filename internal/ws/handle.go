package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Request is one client request as a handler sees it.
type Request struct {
	// Type is the request type the handler was registered for.
	Type string
	// ID is the client's request id, echoed in the reply.
	ID string
	// Payload is the request's payload, a JSON object ("{}" when the
	// client sent none). The handler may keep it.
	Payload json.RawMessage
	// Client is the name of the connection's token, for logs.
	Client string
	// Data is the body of a binary request (HandleBinary): the bytes after
	// the frame's header. The handler may keep it. Nil for text requests.
	Data []byte
}

// HandlerFunc answers a request. Its result is sent as the "result"
// payload (it must encode to a JSON object). An *Error return sends its
// code and message; any other error is logged and sent as "internal" with
// a fixed message, never its text. ctx is canceled when the client goes
// away or the handler's timeout passes.
type HandlerFunc func(ctx context.Context, r *Request) (any, error)

// HandlerOptions are the per-type limits of a request type. The zero value
// means the defaults.
type HandlerOptions struct {
	// MaxConcurrent bounds how many requests of this type one connection
	// may have in flight; more are answered with rate_limited
	// (DefaultMaxConcurrent).
	MaxConcurrent int
	// MaxConcurrentTotal bounds the calls of this type in flight across
	// all connections, reply encoding included; more wait for a slot
	// within their Timeout. Zero means no bound. A request whose reply is
	// large (history.query) sets it, so that many clients cannot hold many
	// large replies in the making at once.
	MaxConcurrentTotal int
	// MaxFrameBytes bounds the frame of one request of this type; larger
	// ones are answered with too_large (MaxFrameBytes, at most 1 MiB).
	MaxFrameBytes int
	// Timeout bounds one call of the handler (DefaultHandlerTimeout).
	Timeout time.Duration
}

// Defaults of HandlerOptions and per-connection request limits.
const (
	DefaultMaxConcurrent  = 4
	DefaultHandlerTimeout = 5 * time.Second
	// maxInFlight bounds the requests of one connection whose replies are
	// not yet sent; the reader waits beyond it (handlers are bounded by
	// their timeouts, so the wait is too).
	maxInFlight = 32
)

// handler is a registered request type.
type handler struct {
	fn   HandlerFunc
	opts HandlerOptions
	// slots holds a token per call in flight when MaxConcurrentTotal is
	// set; nil otherwise.
	slots chan struct{}
}

func newHandler(fn HandlerFunc, opts HandlerOptions) *handler {
	h := &handler{fn: fn, opts: opts}
	if opts.MaxConcurrentTotal > 0 {
		h.slots = make(chan struct{}, opts.MaxConcurrentTotal)
	}
	return h
}

// Handle registers fn for requests of type typ, as tailscale's local API
// registers its handlers by name. It must be called before Serve; it
// panics on a type that is reserved (the built-in subscribe, resume, ping,
// and the server's hello, result, error) or already registered, or after
// Serve started: all programmer errors.
//
// Handlers run on goroutines of their own, concurrently with the
// connection's other requests, and the replies keep request order: a reply
// is sent only after the replies to every earlier request of that
// connection.
func (s *Server) Handle(typ string, fn HandlerFunc, opts HandlerOptions) {
	if s.serving.Load() {
		panic("ws: Handle called after Serve")
	}
	if typ == "" || len(typ) > maxTypeLen || reserved[typ] {
		panic(fmt.Sprintf("ws: cannot register request type %q", typ))
	}
	if _, dup := s.handlers[typ]; dup || s.binary[typ] != nil {
		panic(fmt.Sprintf("ws: request type %q registered twice", typ))
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = MaxFrameBytes
	}
	opts.MaxFrameBytes = min(opts.MaxFrameBytes, hardFrameLimit)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultHandlerTimeout
	}
	s.handlers[typ] = newHandler(fn, opts)
	s.maxFrame = max(s.maxFrame, opts.MaxFrameBytes)
}

// reserved are the types Handle refuses: the built-in requests and the
// server's own frames.
var reserved = map[string]bool{
	TypeSubscribe: true, TypeResume: true, TypePing: true,
	TypeHello: true, TypeResult: true, TypeError: true,
}

// Error is a request error as the client sees it: a stable Code and a
// short fixed message. A handler returns one for a request the client got
// wrong; its Message must never hold secrets or internal error text.
type Error struct {
	Code    Code
	Message string
	// Details, if not nil, is sent as the error payload's "details"
	// (it must encode to a JSON object): structured, secret-free facts
	// the client may act on, such as the sides still missing.
	Details any
}

func (e *Error) Error() string { return fmt.Sprintf("ws: %s: %s", e.Code, e.Message) }

// ErrBadRequest may be returned (wrapped) by a handler whose client sent an
// invalid request. The client gets code "bad_request" with a generic
// message; the error text is logged, never sent.
var ErrBadRequest = errors.New("ws: bad request")

// clientError returns what the client is told about a handler's error, and
// whether the error is the client's fault.
func clientError(typ string, err error) (e *Error, clientFault bool) {
	if errors.As(err, &e) {
		return e, e.Code != CodeInternal && e.Code != CodeUnavailable
	}
	switch {
	case errors.Is(err, ErrBadRequest):
		return &Error{Code: CodeBadRequest, Message: "invalid " + typ + " request"}, true
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: "the request took too long"}, false
	}
	return &Error{Code: CodeInternal, Message: "internal error"}, false
}
