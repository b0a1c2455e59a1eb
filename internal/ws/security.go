package ws

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// peerIP returns the IP address of the request's peer, or nil when
// RemoteAddr is not an IP address and port.
func peerIP(r *http.Request) net.IP {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// loopbackPeer reports whether the request comes from this machine: over
// a loopback address, or over a transport without IP addresses (net.Pipe,
// a Unix socket), which cannot cross a network. Only such peers may have
// session tokens, plain HTTP on a network listener, or a loopback name in
// their Host header.
func loopbackPeer(r *http.Request) bool {
	if _, _, err := net.SplitHostPort(r.RemoteAddr); err != nil {
		return true
	}
	ip := peerIP(r)
	return ip != nil && ip.IsLoopback()
}

// localAddr returns the address the request arrived on: the accepting
// socket's (http.LocalAddrContextKey), so the checks hold for a listener
// on port 0 or on every interface, or else the configured address.
func (s *Server) localAddr(r *http.Request) (ip net.IP, port string) {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := a.(*net.TCPAddr); ok {
			return ta.IP, strconv.Itoa(ta.Port)
		}
	}
	return s.defaultIP, s.defaultPort
}

// hostOK reports whether hostport names this daemon as the request
// reached it: the IP address the connection arrived on, "localhost" when
// that address is 127.0.0.1 or ::1, or one of Config.HostNames, each with the
// port the connection arrived on. A loopback name is accepted only from a
// loopback peer. So a DNS-rebinding page ("evil.example:7424") fails even
// though its packets reach the daemon, a listener on 127.0.0.2 accepts
// its own address, and a network client cannot pose as a local one.
func (s *Server) hostOK(r *http.Request, hostport string) bool {
	localIP, port := s.localAddr(r)
	host, p, err := net.SplitHostPort(hostport)
	if err != nil || p != port || host == "" {
		return false
	}
	host = strings.ToLower(host)
	loopPeer := loopbackPeer(r)
	if host == "localhost" {
		// What localhost resolves to: 127.0.0.1 or ::1, not the rest of
		// 127.0.0.0/8.
		return loopPeer && localIP != nil && (localIP.Equal(net.IPv4(127, 0, 0, 1)) || localIP.Equal(net.IPv6loopback))
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() && !loopPeer {
			return false
		}
		return localIP != nil && !localIP.IsUnspecified() && ip.Equal(localIP)
	}
	_, ok := s.hostNames[host]
	return ok
}

// hostAllowed applies hostOK to the Host header.
func (s *Server) hostAllowed(r *http.Request) bool { return s.hostOK(r, r.Host) }

// normalizeOrigin returns the canonical scheme://host[:port] form of a
// serialized origin, or ok false for anything else (paths, "null", other
// schemes, wildcards).
func normalizeOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || strings.Contains(u.Host, "*") ||
		u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	return scheme + "://" + strings.ToLower(u.Host), true
}

// ownOrigin reports whether origin is the daemon's own page as this
// request reached it: the scheme of the connection (https over TLS) and a
// host:port that passes hostOK.
func (s *Server) ownOrigin(r *http.Request, origin string) bool {
	n, ok := normalizeOrigin(origin)
	if !ok {
		return false
	}
	scheme, hostport, _ := strings.Cut(n, "://")
	want := "http"
	if overTLS(r) {
		want = "https"
	}
	if scheme != want {
		return false
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		// No port: the scheme's default, which the daemon never uses
		// unless it listens there.
		if scheme == "https" {
			hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), "443")
		} else {
			hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), "80")
		}
	}
	return s.hostOK(r, hostport)
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
	_, ok = (*s.origins.Load())[n]
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
// Logging is rate-limited per peer address (peerLog), so a client that
// retries thousands of times a second costs a line every few seconds, not
// one per attempt.
func (s *Server) reject(w http.ResponseWriter, r *http.Request, status int, code Code, reason string) {
	if ok, suppressed := s.peerLog.allow(peerKey(r)); ok {
		fields := []zap.Field{
			zap.String("reason", reason),
			zap.Int("status", status),
			zap.String("path", r.URL.Path),
			zap.String("remote", r.RemoteAddr),
			zap.String("host", r.Host),
			zap.String("origin", r.Header.Get("Origin")),
		}
		if suppressed > 0 {
			fields = append(fields, zap.Int("suppressed", suppressed))
		}
		s.log.Info("request rejected", fields...)
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="nfcd"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		// A client that keeps guessing over one keep-alive connection
		// has to make a new one for every guess.
		w.Header().Set("Connection", "close")
	}
	writeHTTPError(w, status, code, reason)
}

// guard runs before every handler: it refuses plain HTTP from the network
// when TLS is configured, enforces the Host check and answers CORS
// preflights, including Chrome's Private Network Access header.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.TLS != nil && !overTLS(r) && !loopbackPeer(r) {
			// Only reachable with a listener that was not wrapped by
			// Serve (Handler mounted elsewhere): never answer a network
			// client in the clear.
			s.reject(w, r, http.StatusForbidden, CodeForbidden, "TLS required")
			return
		}
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
		allowed = s.ownOrigin(r, origin) && loopbackPeer(r)
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

// credential is who a connection authenticated as.
type credential struct {
	// name names the client in logs: the API token's name, or "session".
	name string
	// session is set for a /v1/session token (single use, so each
	// session connection has a token of its own).
	session bool
	// digest is the SHA-256 of an API token, kept to re-check the
	// connection when tokens change (Reauthorize); never the token.
	digest [sha256.Size]byte
}

// Outcomes of authenticate besides success.
var (
	errNoCredential = errors.New("missing or invalid token")
	errThrottled    = errors.New("too many failed token attempts")
)

// authenticate checks the request's token: a live session token (consumed;
// accepted from loopback peers only, since sessions are for the daemon's
// own page on this machine), or a token accepted by Config.CheckToken.
//
// Failed attempts are counted per peer IP address (fails). A peer over
// its budget gets errThrottled without its token being looked at, so it
// learns nothing from further guesses until its budget refills. Session
// tokens are exempt: they are minted only for loopback peers and reveal
// nothing about API tokens, so a local process that floods the daemon with
// guesses cannot lock the kiosk page out.
func (s *Server) authenticate(r *http.Request) (credential, error) {
	token := requestToken(r)
	if token != "" && loopbackPeer(r) && s.sessions.redeem(token) {
		return credential{name: "session", session: true}, nil
	}
	peer := peerIPKey(r)
	if !s.fails.allowed(peer) {
		return credential{}, errThrottled
	}
	if token != "" && s.cfg.CheckToken != nil {
		if name, ok := s.cfg.CheckToken(token); ok {
			if name == "" {
				name = "token"
			}
			return credential{name: name, digest: sha256.Sum256([]byte(token))}, nil
		}
	}
	s.fails.fail(peer)
	return credential{}, errNoCredential
}

// session is an unredeemed session token.
type session struct {
	exp  time.Time
	peer string // the TCP connection (address:port) it was issued to
}

// sessionStore keeps short-lived, single-use tokens for the daemon's own
// page. Only SHA-256 digests are stored, so the map lookup leaks nothing
// useful through timing and a heap dump holds no redeemable token.
//
// Outstanding tokens are bounded per peer connection (maxSessionsPerPeer:
// a flood over one connection gets 429) and in total (maxSessions: the
// oldest token is dropped for a new one), never refused globally: 64
// requests from other connections cannot lock the kiosk page out.
type sessionStore struct {
	now  func() time.Time
	rand io.Reader
	ttl  time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]session
}

// issue mints a token for peer, or returns ok false when peer holds too
// many unredeemed ones.
func (ss *sessionStore) issue(peer string) (string, bool, error) {
	var b [32]byte
	if _, err := io.ReadFull(ss.rand, b[:]); err != nil {
		return "", false, err
	}
	// base64url characters are all valid in a Sec-WebSocket-Protocol token.
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	mine := 0
	var oldest [32]byte
	var oldestExp time.Time
	for k, se := range ss.tokens {
		switch {
		case !now.Before(se.exp):
			delete(ss.tokens, k)
			continue
		case se.peer == peer:
			mine++
		}
		if oldestExp.IsZero() || se.exp.Before(oldestExp) {
			oldest, oldestExp = k, se.exp
		}
	}
	if mine >= maxSessionsPerPeer {
		return "", false, nil
	}
	if len(ss.tokens) >= maxSessions {
		delete(ss.tokens, oldest)
	}
	ss.tokens[sha256.Sum256([]byte(tok))] = session{exp: now.Add(ss.ttl), peer: peer}
	return tok, true, nil
}

// redeem reports whether tok is a live session token and consumes it.
func (ss *sessionStore) redeem(tok string) bool {
	k := sha256.Sum256([]byte(tok))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	se, ok := ss.tokens[k]
	if !ok {
		return false
	}
	delete(ss.tokens, k)
	return ss.now().Before(se.exp)
}

// sessionResponse is the body of GET /v1/session.
type sessionResponse struct {
	Token     string `json:"token"`
	ExpiresIn int    `json:"expires_in"`
}

// serveSession mints a session token for the daemon's own page on this
// machine. The peer must be loopback: a network client needs an API token.
// The request must be same-origin: the Origin must be the daemon's own, or
// absent with Sec-Fetch-Site: same-origin (browsers omit Origin on
// same-origin GET). No CORS headers are ever sent, so other origins cannot
// read the body.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeHTTPError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method not allowed")
		return
	}
	if !loopbackPeer(r) {
		s.reject(w, r, http.StatusForbidden, CodeForbidden, "session tokens are only for this machine; use an API token")
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
	tok, ok, err := s.sessions.issue(r.RemoteAddr)
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

// serveWS checks Origin, subprotocol and token, admits the connection
// within the connection limits, then upgrades. The Host was checked by
// guard.
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
	cred, err := s.authenticate(r)
	switch {
	case errors.Is(err, errThrottled):
		s.reject(w, r, http.StatusTooManyRequests, CodeRateLimited, "too many failed token attempts; retry later")
		return
	case err != nil:
		s.reject(w, r, http.StatusUnauthorized, CodeUnauthorized, "missing or invalid token")
		return
	}
	release, refused := s.admit(cred)
	switch refused {
	case refusedClosing:
		writeHTTPError(w, http.StatusServiceUnavailable, CodeUnavailable, "shutting down")
		return
	case refusedToken:
		s.reject(w, r, http.StatusTooManyRequests, CodeRateLimited, "too many connections for this token")
		return
	case refusedTotal:
		s.reject(w, r, http.StatusServiceUnavailable, CodeUnavailable, "too many connections")
		return
	}
	meter := &meteredWriter{ResponseWriter: w, now: s.now}
	wsc, err := s.upgrader.Upgrade(meter, r, nil)
	if err != nil {
		release()
		s.log.Info("upgrade failed", zap.String("remote", r.RemoteAddr), zap.Error(err))
		return
	}
	s.serveConn(wsc, cred, meter.conn, release, r)
}

// refusal says why admit refused a connection.
type refusal int

const (
	notRefused     refusal = iota
	refusedClosing         // the server is shutting down
	refusedToken           // the token has MaxConnsPerToken connections
	refusedTotal           // the server has MaxConns connections
)

// admit reserves a connection for cred within Config.MaxConns and, for
// API tokens, Config.MaxConnsPerToken. It returns the function that gives
// the reservation back (only the first call counts), or why it refused.
func (s *Server) admit(cred credential) (release func(), why refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, refusedClosing
	case !cred.session && s.perToken[cred.name] >= s.cfg.MaxConnsPerToken:
		return nil, refusedToken
	case s.admitted >= s.cfg.MaxConns:
		return nil, refusedTotal
	}
	s.admitted++
	if !cred.session {
		s.perToken[cred.name]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.admitted--
			if !cred.session {
				if s.perToken[cred.name]--; s.perToken[cred.name] <= 0 {
					delete(s.perToken, cred.name)
				}
			}
		})
	}, notRefused
}

// CloseReasonTokenRevoked is the close reason (with code 1008) of the
// connections of a revoked token.
const CloseReasonTokenRevoked = "token_revoked"

// CloseToken closes every open connection that authenticated with the API
// token called name, with 1008 and the reason token_revoked, and returns
// how many it closed. Whatever revokes a token calls it (the daemon's
// token file watcher, an admin request), so that revocation ends live
// connections, not only new ones. Session connections are never matched.
func (s *Server) CloseToken(name string) int {
	s.mu.Lock()
	var victims []*conn
	for c := range s.conns {
		if !c.cred.session && c.cred.name == name {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	return closeRevoked(victims)
}

// Reauthorize re-checks every open connection that authenticated with an
// API token, and closes those whose token valid no longer accepts with
// 1008 token_revoked; it returns how many it closed. valid gets the
// token's name and the SHA-256 of the token the connection presented. The
// daemon calls it whenever the token file changes, so a token revoked by
// another process loses its live connections too.
func (s *Server) Reauthorize(valid func(name string, tokenSHA256 [sha256.Size]byte) bool) int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		if !c.cred.session {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	var victims []*conn
	for _, c := range conns {
		if !valid(c.cred.name, c.cred.digest) {
			victims = append(victims, c)
		}
	}
	return closeRevoked(victims)
}

func closeRevoked(victims []*conn) int {
	for _, c := range victims {
		c.log.Info("token revoked; closing")
		c.closeWith(ClosePolicyViolation, CloseReasonTokenRevoked)
	}
	return len(victims)
}
