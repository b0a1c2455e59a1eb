// Package admin is the running daemon's local admin API: the door through
// which `nfcd history`, `nfcd key show`, `nfcd token …`, `nfcd config
// reload` (and later commands such as `nfcd outbox …`) reach a daemon that
// holds the state directory, instead of opening the store themselves.
//
// It is HTTP/1.1 over a channel that only the machine's administrators and
// the service account can open, which is its authentication:
//
//   - Unix: a socket in the state directory (Path), mode 0600 inside the
//     0700 directory, and on Linux the peer's user ID checked on every
//     connection (root or the daemon's own user);
//   - Windows: a named pipe derived from the state directory, whose ACL
//     grants LocalSystem (the service) and Administrators only.
//
// A call is POST /v1/METHOD with a JSON body; the answer is
// {"result": …} or {"error": {"code": …, "message": …}}. The daemon
// registers methods with Server.Handle; a command calls them with
// Client.Call and, when Call returns ErrNotRunning, does the work itself.
// Messages go to administrators of the machine, but never carry secrets.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Error codes.
const (
	CodeUnknownMethod = "unknown_method" // the daemon has no such method (an older nfcd)
	CodeBadRequest    = "bad_request"    // the request does not decode or is invalid
	CodeFailed        = "failed"         // the daemon tried and failed
	CodeForbidden     = "forbidden"      // the caller is neither root nor the service account
)

// Error is a call's failure as the daemon reports it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with code; handlers return it for failures the
// caller should see as they are.
func Errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// ErrNotRunning is returned by Client.Call when no daemon answers at the
// path: the caller may open the state itself.
var ErrNotRunning = errors.New("admin: no daemon answers")

// ErrInUse is returned by Listen when a daemon already answers at the path.
var ErrInUse = errors.New("admin: another daemon serves this state directory")

// Handler answers one method. req is the request body (JSON, possibly
// empty). A returned *Error reaches the caller as it is; any other error
// as CodeFailed with its text.
type Handler func(ctx context.Context, req json.RawMessage) (any, error)

// Server serves the admin API.
type Server struct {
	log *zap.Logger

	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewServer returns a server without methods.
func NewServer(log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{log: log.Named("admin"), handlers: map[string]Handler{}}
}

// Handle registers h for method (e.g. "history.query"), replacing any
// earlier handler.
func (s *Server) Handle(method string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[method] = h
}

// Methods returns the registered methods.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.handlers))
	for m := range s.handlers {
		out = append(out, m)
	}
	return out
}

// maxRequest bounds a request body.
const maxRequest = 1 << 20

// peerKey holds, in a connection's context, why its peer may not call
// (nil when it may).
type peerKey struct{}

// ServeHTTP answers one call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err, _ := r.Context().Value(peerKey{}).(error); err != nil {
		s.log.Warn("admin call refused", zap.Error(err))
		writeReply(w, http.StatusForbidden, reply{Error: Errorf(CodeForbidden, "only root and the service account may use the admin API")})
		return
	}
	method, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok || r.Method != http.MethodPost {
		writeReply(w, http.StatusNotFound, reply{Error: &Error{Code: CodeUnknownMethod, Message: "POST /v1/METHOD"}})
		return
	}
	s.mu.RLock()
	h := s.handlers[method]
	s.mu.RUnlock()
	if h == nil {
		writeReply(w, http.StatusNotFound, reply{Error: Errorf(CodeUnknownMethod, "this nfcd has no admin method %q", method)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		writeReply(w, http.StatusBadRequest, reply{Error: Errorf(CodeBadRequest, "request too large or unreadable")})
		return
	}
	start := time.Now()
	res, err := h(r.Context(), body)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			ae = &Error{Code: CodeFailed, Message: err.Error()}
		}
		s.log.Info("admin call failed", zap.String("method", method), zap.String("code", ae.Code), zap.Error(err))
		status := http.StatusInternalServerError
		if ae.Code == CodeBadRequest {
			status = http.StatusBadRequest
		}
		writeReply(w, status, reply{Error: ae})
		return
	}
	raw, err := json.Marshal(res)
	if err != nil {
		writeReply(w, http.StatusInternalServerError, reply{Error: Errorf(CodeFailed, "cannot encode the result")})
		return
	}
	s.log.Debug("admin call", zap.String("method", method), zap.Duration("took", time.Since(start)))
	writeReply(w, http.StatusOK, reply{Result: raw})
}

type reply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *Error          `json:"error,omitempty"`
}

func writeReply(w http.ResponseWriter, status int, r reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(r)
}

// Serve serves calls on ln until ctx is done, then closes ln and returns
// nil once the calls in flight have finished (bounded by ctx's own end:
// Serve waits at most one second more).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, authorize(c))
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("admin: serve: %w", err)
	}
	sd, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := hs.Shutdown(sd); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

// Client calls the admin API of the daemon at a path.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the daemon whose admin API is at path
// (Path of its state directory).
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, path)
		},
		DisableKeepAlives: true,
	}
	return &Client{path: path, hc: &http.Client{Transport: tr}}
}

// DialTimeout bounds connecting to the daemon.
const DialTimeout = 2 * time.Second

// Call calls method with req (encoded as JSON; nil for none) and decodes
// the result into resp (nil to ignore it). It returns ErrNotRunning when
// no daemon answers at the path, an *Error when the daemon refused or
// failed, and an error saying so when the caller may not open the path.
func (c *Client) Call(ctx context.Context, method string, req, resp any) error {
	body := []byte("{}")
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return err
		}
	}
	// Connecting first keeps "no daemon" apart from a daemon that fails.
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	conn, err := dial(dctx, c.path)
	cancel()
	if err != nil {
		return classifyDial(c.path, err)
	}
	conn.Close()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://nfcd/v1/"+method, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		if cerr := classifyDial(c.path, err); errors.Is(cerr, ErrNotRunning) {
			return cerr
		}
		return fmt.Errorf("admin: %s: %w", method, err)
	}
	defer hresp.Body.Close()
	var r reply
	if err := json.NewDecoder(io.LimitReader(hresp.Body, 64<<20)).Decode(&r); err != nil {
		return fmt.Errorf("admin: %s: unreadable answer (HTTP %d)", method, hresp.StatusCode)
	}
	if r.Error != nil {
		if r.Error.Code == CodeForbidden {
			return &PermissionError{Path: c.path}
		}
		return r.Error
	}
	if resp != nil && len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, resp); err != nil {
			return fmt.Errorf("admin: %s: unexpected result: %w", method, err)
		}
	}
	return nil
}

// PermissionError is returned when the caller may not open the admin
// channel: it is not root (an administrator) or the service account.
type PermissionError struct{ Path string }

func (e *PermissionError) Error() string {
	return "the running nfcd's admin channel " + e.Path + " refuses this user: run the command as root (an administrator) or as the service account"
}
