package ws

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// isLoopbackName reports whether host (without port) is a loopback name or
// literal: localhost, 127.0.0.0/8 or ::1.
func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localPort returns the port the request arrived on. It prefers the
// accepting socket (http.LocalAddrContextKey), so the check also holds for a
// listener on port 0, and falls back to the configured port.
func (s *Server) localPort(r *http.Request) (ip net.IP, port string) {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		return a.IP, strconv.Itoa(a.Port)
	}
	return nil, s.defaultPort
}

// hostAllowed reports whether the Host header names this daemon: a loopback
// name with the port the request arrived on. A DNS-rebinding page sends its
// own name ("evil.example:7424") and fails here even though its packets reach
// 127.0.0.1. With AllowNonLoopback, the listening IP itself is also allowed.
// See tailscale's ipn/localapi validHost.
func (s *Server) hostAllowed(r *http.Request) bool {
	localIP, port := s.localPort(r)
	host, p, err := net.SplitHostPort(r.Host)
	if err != nil || p != port {
		return false
	}
	switch strings.ToLower(host) {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	if s.cfg.AllowNonLoopback && localIP != nil && !localIP.IsUnspecified() {
		if ip := net.ParseIP(host); ip != nil && ip.Equal(localIP) {
			return true
		}
	}
	return false
}

// normalizeOrigin returns the canonical scheme://host[:port] form of a
// serialized origin, or ok false for anything else (paths, "null", other
// schemes).
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || strings.Contains(u.Host, "*") || u.RawQuery != "" || u.Fragment != "" ||
		(u.Path != "" && u.Path != "/") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	return scheme + "://" + strings.ToLower(u.Host), true
}

// ownOrigin reports whether origin is the daemon's own: http on a loopback
// name with the port the request arrived on.
func (s *Server) ownOrigin(r *http.Request, origin string) bool {
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	_, port := s.localPort(r)
	switch n {
	case "http://127.0.0.1:" + port, "http://localhost:" + port, "http://[::1]:" + port:
		return true
	}
	return false
}

// originAllowed reports whether a browser Origin may open a WebSocket: the
// daemon's own origins plus Config.AllowedOrigins. See caddy's admin.go
// checkOrigin.
func (s *Server) originAllowed(r *http.Request, origin string) bool {
	if s.ownOrigin(r, origin) {
		return true
	}
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	_, ok = s.origins[n]
	return ok
}

// httpError is the JSON body of HTTP error responses.
type httpError struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func writeHTTPError(w http.ResponseWriter, status int, code Code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(httpError{Code: code, Message: msg})
}

// reject logs a refused request without any credential and answers it.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, code Code, reason string) {
	s.log.Info("request rejected",
		zap.String("reason", reason),
		zap.Int("status", status),
		zap.String("path", r.URL.Path),
		zap.String("remote", r.RemoteAddr),
		zap.String("host", r.Host),
		zap.String("origin", r.Header.Get("Origin")))
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="nfcd"`)
	}
	writeHTTPError(w, status, code, reason)
}

// guard runs before every handler: it enforces the Host check and answers
// CORS preflights, including Chrome's Private Network Access header.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r) {
			s.reject(w, r, http.StatusForbidden, CodeForbidden, "host not allowed")
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			s.preflight(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight. An allow-listed Origin gets the CORS
// headers and, when Chrome asks with Access-Control-Request-Private-Network
// (Private Network Access, now superseded by the Local Network Access
// permission prompt but still sent by some versions), the
// Access-Control-Allow-Private-Network header. Other origins get 403.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	allowed := s.originAllowed(r, origin)
	if r.URL.Path == "/v1/session" {
		allowed = s.ownOrigin(r, origin)
	}
	if origin == "" || !allowed {
		s.reject(w, r, http.StatusForbidden, CodeForbidden, "origin not allowed")
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "GET")
	h.Set("Access-Control-Allow-Headers", "Authorization")
	h.Set("Access-Control-Max-Age", "600")
	if strings.EqualFold(r.Header.Get("Access-Control-Request-Private-Network"), "true") {
		h.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// requestToken extracts the client token: a "nfcd-token.<TOKEN>" subprotocol
// value (browsers) or an "Authorization: Bearer <TOKEN>" header.
func requestToken(r *http.Request) string {
	for _, p := range websocket.Subprotocols(r) {
		if t, ok := strings.CutPrefix(p, TokenSubprotocolPrefix); ok {
			return t
		}
	}
	scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return ""
}

// authenticate reports whether token is a live session token (consumed) or
// accepted by Config.CheckToken, and names the client.
func (s *Server) authenticate(token string) (string, bool) {
	if token == "" {
		return "", false
	}
	if s.sessions.redeem(token) {
		return "session", true
	}
	if s.cfg.CheckToken != nil {
		if name, ok := s.cfg.CheckToken(token); ok {
			if name == "" {
				name = "token"
			}
			return name, true
		}
	}
	return "", false
}

// sessionStore keeps short-lived, single-use tokens for the daemon's own
// page. Only SHA-256 digests are stored, so the map lookup leaks nothing
// useful through timing and a heap dump holds no redeemable token.
type sessionStore struct {
	now  func() time.Time
	rand io.Reader
	ttl  time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]time.Time // digest → expiry
}

// issue mints a token, or returns ok false when too many are outstanding.
func (ss *sessionStore) issue() (string, bool, error) {
	var b [32]byte
	if _, err := io.ReadFull(ss.rand, b[:]); err != nil {
		return "", false, err
	}
	// base64url characters are all valid in a Sec-WebSocket-Protocol token.
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, exp := range ss.tokens {
		if !now.Before(exp) {
			delete(ss.tokens, k)
		}
	}
	if len(ss.tokens) >= maxSessions {
		return "", false, nil
	}
	ss.tokens[sha256.Sum256([]byte(tok))] = now.Add(ss.ttl)
	return tok, true, nil
}

// redeem reports whether tok is a live session token and consumes it.
func (ss *sessionStore) redeem(tok string) bool {
	k := sha256.Sum256([]byte(tok))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.tokens[k]
	if !ok {
		return false
	}
	delete(ss.tokens, k)
	return ss.now().Before(exp)
}

// sessionResponse is the body of GET /v1/session.
type sessionResponse struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

// serveSession mints a session token for the daemon's own page. It is
// same-origin only: the Origin must be the daemon's own, or absent with
// Sec-Fetch-Site: same-origin (browsers omit Origin on same-origin GET).
// No CORS headers are ever sent, so other origins cannot read the body.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeHTTPError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method not allowed")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !s.ownOrigin(r, origin) {
			s.reject(w, r, http.StatusForbidden, CodeForbidden, "origin not allowed")
			return
		}
	} else if r.Header.Get("Sec-Fetch-Site") != "same-origin" {
		s.reject(w, r, http.StatusForbidden, CodeForbidden, "not a same-origin request")
		return
	}
	tok, ok, err := s.sessions.issue()
	if err != nil {
		s.log.Error("issue session token", zap.Error(err))
		writeHTTPError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	if !ok {
		s.reject(w, r, http.StatusTooManyRequests, CodeRateLimited, "too many outstanding session tokens")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	json.NewEncoder(w).Encode(sessionResponse{Token: tok, ExpiresIn: int(s.cfg.SessionTTL / time.Second)})
}

// serveWS checks Origin, subprotocol and token, then upgrades. The Host was
// checked by guard.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(r, origin) {
		s.reject(w, r, http.StatusForbidden, CodeForbidden, "origin not allowed")
		return
	}
	offered := false
	for _, p := range websocket.Subprotocols(r) {
		if p == Subprotocol {
			offered = true
		}
	}
	if !offered {
		s.reject(w, r, http.StatusBadRequest, CodeBadRequest, "subprotocol nfcd.v1 required")
		return
	}
	if !websocket.IsWebSocketUpgrade(r) || r.Method != http.MethodGet {
		s.reject(w, r, http.StatusBadRequest, CodeBadRequest, "not a websocket upgrade")
		return
	}
	name, ok := s.authenticate(requestToken(r))
	if !ok {
		s.reject(w, r, http.StatusUnauthorized, CodeUnauthorized, "missing or invalid token")
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		writeHTTPError(w, http.StatusServiceUnavailable, CodeUnavailable, "shutting down")
		return
	}
	wsc, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Info("upgrade failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return
	}
	s.serveConn(wsc, name, r)
}
