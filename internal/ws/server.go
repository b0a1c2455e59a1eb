package ws

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// Defaults for the zero values of Config. The keepalive timings follow
// gorilla's examples/chat/client.go.
const (
	DefaultHistorySize    = 1024
	DefaultSendQueue      = 256
	DefaultPongWait       = 60 * time.Second
	DefaultPingPeriod     = DefaultPongWait * 9 / 10 // must be less than the pong wait
	DefaultWriteWait      = 10 * time.Second
	DefaultMaxBadFrames   = 20
	DefaultBadFrameWindow = 10 * time.Second
	DefaultRequestRate    = 50 // requests per second, sustained
	DefaultRequestBurst   = 100
	DefaultSessionTTL     = 60 * time.Second
	// DefaultMaxQueuedBytes bounds the bytes queued for one client or
	// being written to it: a few large replies (a history.query of 1,000
	// entries is about 140 KB) and thousands of events.
	DefaultMaxQueuedBytes = 512 << 10
	// DefaultMaxConns bounds the open WebSocket connections: a kiosk page
	// and a few POS clients need a handful, and 32 clients that never read
	// hold at most 32 × DefaultMaxQueuedBytes.
	DefaultMaxConns = 32
	// DefaultMaxConnsPerToken bounds the connections of one API token.
	DefaultMaxConnsPerToken = 8

	// ShutdownTimeout bounds Serve's shutdown after its context is done.
	ShutdownTimeout = 5 * time.Second

	// closeGrace is how long the server waits for the client's close frame
	// after sending its own, before dropping the TCP connection.
	closeGrace = time.Second
	// forceCloseMargin is kept of ShutdownTimeout for dropping sockets that
	// did not close in time.
	forceCloseMargin = 500 * time.Millisecond
	// sendBufferBytes caps the kernel send buffer per client so that a
	// stalled client holds a bounded amount of data and is detected after
	// roughly SendQueue events instead of megabytes of autotuned buffer.
	sendBufferBytes = 64 << 10
	// maxSessions bounds the unredeemed session tokens kept in memory;
	// past it the oldest is dropped.
	maxSessions = 64
	// maxSessionsPerPeer bounds the unredeemed session tokens of one
	// peer connection; past it the peer gets 429.
	maxSessionsPerPeer = 4
)

// Sentinel errors returned by NewServer and Serve.
var (
	// ErrNonLoopback reports a listen address that is not loopback while
	// Config.AllowNonLoopback is false.
	ErrNonLoopback = errors.New("ws: listen address is not loopback")

	// ErrNoTLS reports a listen address beyond loopback without
	// Config.TLS: API tokens must not cross a network in the clear.
	ErrNoTLS = errors.New("ws: a listen address beyond loopback needs TLS")
)

// HelloInfo is what the daemon reports in each connection's hello event.
type HelloInfo struct {
	// ServerVersion is the daemon's version, e.g. "0.3.0".
	ServerVersion string
	// Readers is the daemon's current reader list; it is sent as JSON.
	Readers any
	// PCSC, if set, is the state of the service behind the readers, sent
	// as JSON under "pcsc".
	PCSC any
	// VerdictKeyID identifies the key that signs verdicts.
	VerdictKeyID string
}

// Config configures a Server. The zero value of every optional field means
// its documented default.
type Config struct {
	// Addr is the address the server listens on (its port is the one the
	// Host and Origin checks expect when the request does not say);
	// DefaultAddr if empty.
	Addr string
	// AllowNonLoopback permits a listen address that is not loopback.
	// The server logs a warning when it is used. Such a listener needs
	// TLS, network clients need an API token (session tokens are for
	// loopback peers only), and only loopback peers may speak plain HTTP.
	AllowNonLoopback bool
	// TLS, if set, is the server's TLS configuration (with a
	// certificate). Serve then speaks TLS to every peer, and also plain
	// HTTP to loopback peers, so the daemon's own page on this machine
	// keeps working at http://127.0.0.1:PORT/. Required beyond loopback.
	TLS *tls.Config
	// HostNames are DNS names, besides the listening IP address (and
	// "localhost" on loopback), that clients may use in the Host header,
	// e.g. the kiosk's name on the LAN. Lower case, no port.
	HostNames []string
	// AllowedOrigins are browser origins (scheme://host[:port]) allowed to
	// open a WebSocket, in addition to the daemon's own origins
	// http://127.0.0.1:PORT, http://localhost:PORT and http://[::1]:PORT.
	AllowedOrigins []string
	// CheckToken reports whether token is valid and names its holder for
	// the log. It must compare in constant time (crypto/subtle). If nil,
	// only session tokens from GET /v1/session are accepted.
	CheckToken func(token string) (name string, ok bool)
	// Hello describes the daemon for each new connection's hello event;
	// nil sends an empty description.
	Hello func() HelloInfo
	// Static, if set, serves every path other than /v1/ws and /v1/session
	// (the daemon's own pages). GET /v1/session exists only when Static is
	// set, since the daemon's own page is its only user.
	Static http.Handler

	// HistorySize is the number of events kept for resume (1024).
	HistorySize int
	// SendQueue is the per-client send queue length (256).
	SendQueue int
	// PongWait, PingPeriod and WriteWait are the keepalive timings
	// (60 s, 54 s, 10 s). PingPeriod must be less than PongWait.
	PongWait, PingPeriod, WriteWait time.Duration
	// MaxBadFrames bad frames within BadFrameWindow are tolerated; one
	// more closes the connection with 1008 (20 in 10 s).
	MaxBadFrames   int
	BadFrameWindow time.Duration
	// RequestRate and RequestBurst bound requests per connection (a token
	// bucket, 50/s with bursts of 100). Excess requests get rate_limited.
	RequestRate  float64
	RequestBurst int
	// SessionTTL is how long a /v1/session token may be redeemed (60 s).
	SessionTTL time.Duration
	// MaxQueuedBytes bounds the bytes queued for one client or being
	// written to it (512 KiB). A client past it is told once with an
	// overflow notice and closed with 1013 the next time.
	MaxQueuedBytes int
	// MaxConns bounds the open WebSocket connections (32); more are
	// refused with 503.
	MaxConns int
	// MaxConnsPerToken bounds the connections of one API token (8); more
	// are refused with 429. Session tokens are single-use, one
	// connection each.
	MaxConnsPerToken int

	// Metrics counts clients, dropped messages and slow clients closed;
	// nil counts nothing.
	Metrics Metrics

	// Now and Rand are injected by tests; time.Now and crypto/rand.Reader
	// by default.
	Now  func() time.Time
	Rand io.Reader
}

// event is one published event as kept in the ring.
type event struct {
	seq       uint64
	typ       string
	reader    string
	hasReader bool
	frame     []byte
}

// Server is the WebSocket API server. Create it with NewServer.
type Server struct {
	cfg         Config
	log         *zap.Logger
	now         func() time.Time
	origins     atomic.Pointer[map[string]struct{}] // normalized allowed origins; SetAllowedOrigins swaps them
	hostNames   map[string]struct{}                 // lower-cased Config.HostNames
	defaultIP   net.IP                              // IP of Config.Addr, if it is one
	defaultPort string                              // port of Config.Addr
	stream      string                              // random id of this event stream
	upgrader    websocket.Upgrader
	handler     http.Handler
	sessions    sessionStore
	fails       failThrottle
	peerLog     logLimiter

	baseCtx    context.Context // canceled when shutdown begins
	cancelBase context.CancelFunc

	shutdownReq chan context.Context // Shutdown → Serve

	handlers map[string]*handler // request types; fixed once Serve starts
	maxFrame int                 // the largest MaxFrameBytes of any handler
	binary   map[string]*handler // binary request types (HandleBinary)
	maxBin   int                 // the largest MaxFrameBytes of any binary handler
	serving  atomic.Bool

	// enc encodes Publish's payloads into encBuf, both reused (encMu).
	encMu  sync.Mutex
	encBuf bytes.Buffer
	enc    *json.Encoder

	mu       sync.Mutex
	seq      uint64
	ring     []event // circular, len == cap == HistorySize once full
	ringPos  int     // index of the oldest event once the ring is full
	conns    map[*conn]struct{}
	admitted int            // connections admitted: upgrading or open
	perToken map[string]int // admitted connections by API token name
	closing  bool
}

// NewServer validates cfg, fills in defaults and returns a Server. It does
// not listen; register request handlers with Handle, then call Serve, or
// mount Handler yourself.
func NewServer(cfg Config, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ws: parse listen address: %w", err)
	}
	if !isLoopbackName(host) {
		if !cfg.AllowNonLoopback {
			return nil, fmt.Errorf("%w: %q (set AllowNonLoopback to override)", ErrNonLoopback, cfg.Addr)
		}
		if cfg.TLS == nil {
			return nil, fmt.Errorf("%w: %q", ErrNoTLS, cfg.Addr)
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&cfg.HistorySize, DefaultHistorySize)
	defInt(&cfg.SendQueue, DefaultSendQueue)
	defDur(&cfg.PongWait, DefaultPongWait)
	defDur(&cfg.PingPeriod, cfg.PongWait*9/10)
	defDur(&cfg.WriteWait, DefaultWriteWait)
	defInt(&cfg.MaxBadFrames, DefaultMaxBadFrames)
	defDur(&cfg.BadFrameWindow, DefaultBadFrameWindow)
	defInt(&cfg.RequestBurst, DefaultRequestBurst)
	defDur(&cfg.SessionTTL, DefaultSessionTTL)
	defInt(&cfg.MaxQueuedBytes, DefaultMaxQueuedBytes)
	defInt(&cfg.MaxConns, DefaultMaxConns)
	defInt(&cfg.MaxConnsPerToken, DefaultMaxConnsPerToken)
	if cfg.RequestRate <= 0 {
		cfg.RequestRate = DefaultRequestRate
	}
	if cfg.PingPeriod >= cfg.PongWait {
		return nil, fmt.Errorf("ws: ping period %v must be less than pong wait %v", cfg.PingPeriod, cfg.PongWait)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	origins, err := originSet(cfg.AllowedOrigins)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	hostNames := make(map[string]struct{}, len(cfg.HostNames))
	for _, h := range cfg.HostNames {
		if h == "" || strings.ContainsAny(h, ":/[]* ") || net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
			return nil, fmt.Errorf("ws: invalid host name %q: want a DNS name without port", h)
		}
		hostNames[strings.ToLower(h)] = struct{}{}
	}
	var id [8]byte
	if _, err := io.ReadFull(cfg.Rand, id[:]); err != nil {
		return nil, fmt.Errorf("ws: read stream id: %w", err)
	}

	s := &Server{
		cfg:         cfg,
		log:         log.Named("ws"),
		handlers:    make(map[string]*handler),
		binary:      make(map[string]*handler),
		shutdownReq: make(chan context.Context, 1),
		maxFrame:    MaxFrameBytes,
		now:         cfg.Now,
		hostNames:   hostNames,
		defaultIP:   net.ParseIP(host),
		defaultPort: port,
		perToken:    make(map[string]int),
		stream:      hex.EncodeToString(id[:]),
		conns:       make(map[*conn]struct{}),
		ring:        make([]event, 0, cfg.HistorySize),
	}
	s.origins.Store(&origins)
	s.sessions = sessionStore{now: cfg.Now, rand: cfg.Rand, ttl: cfg.SessionTTL, tokens: make(map[[32]byte]session)}
	s.fails = failThrottle{now: cfg.Now, peers: make(map[string]*bucket)}
	s.peerLog = logLimiter{now: cfg.Now, peers: make(map[string]*logState)}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{Subprotocol},
		ReadBufferSize:   readBufferSize,
		// Origin, Host and token are checked by guard before Upgrade;
		// gorilla's same-host default would reject allow-listed origins.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, _ error) {
			writeHTTPError(w, status, CodeBadRequest, "websocket handshake failed")
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/ws", s.serveWS)
	if cfg.Static != nil {
		mux.HandleFunc("/v1/session", s.serveSession)
		mux.Handle("/", cfg.Static)
	}
	s.handler = s.guard(mux)
	return s, nil
}

// Handler returns the HTTP handler: /v1/ws, /v1/session and Config.Static,
// all behind the Host check, with CORS/Private Network Access preflights
// answered.
func (s *Server) Handler() http.Handler { return s.handler }

// Stream returns the random id of this server's event stream. seq values are
// only comparable within one stream; a daemon restart starts a new one.
func (s *Server) Stream() string { return s.stream }

// Serve serves HTTP on ln until ctx is done, then closes every WebSocket
// with 1001 (going away) and returns within ShutdownTimeout. Cancellation is
// not an error: Serve then returns nil. Serve closes ln. A Server serves at
// most once; after Serve returns, new connections are refused.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.serving.Store(true)
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		switch {
		case !s.cfg.AllowNonLoopback:
			ln.Close()
			return fmt.Errorf("%w: %s", ErrNonLoopback, ta)
		case s.cfg.TLS == nil:
			ln.Close()
			return fmt.Errorf("%w: %s", ErrNoTLS, ta)
		}
		s.log.Warn("listening on a non-loopback address: TLS and API tokens for network clients", zap.Stringer("addr", ta))
	}
	if s.cfg.TLS != nil {
		ln = newTLSListener(ln, s.cfg.TLS)
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(s.log.Named("http")),
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ConnContext:       withConn,
	}
	s.log.Info("serving", zap.Stringer("addr", ln.Addr()))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	var serveErr error
	var sctx context.Context
	select {
	case <-ctx.Done():
	case sctx = <-s.shutdownReq:
	case serveErr = <-errc:
		errc <- serveErr
	}
	if sctx == nil {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
	}
	s.shutdown(sctx)
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; serveErr == nil && !errors.Is(err, http.ErrServerClosed) {
		serveErr = err
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("ws: serve: %w", serveErr)
	}
	return nil
}

// Shutdown makes Serve shut down as if its context were done, bounded by
// ctx instead of ShutdownTimeout: every socket gets 1001, and those still
// open shortly before ctx's deadline are dropped. It does not wait for
// Serve to return. It has no effect after Serve has begun to shut down.
func (s *Server) Shutdown(ctx context.Context) {
	select {
	case s.shutdownReq <- ctx:
	default:
	}
}

// shutdown closes every connection with 1001 and waits for them until ctx
// is done, then drops the rest.
func (s *Server) shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancelBase()
	for _, c := range conns {
		c.closeWith(CloseGoingAway, "server shutting down")
	}
	// Clients get until shortly before ctx's deadline to answer the close
	// frame; then their sockets are dropped, which unblocks any writer.
	graceCtx, cancel := ctx, context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		graceCtx, cancel = context.WithDeadline(ctx, dl.Add(-forceCloseMargin))
	}
	defer cancel()
	for _, c := range conns {
		select {
		case <-c.done:
		case <-graceCtx.Done():
			c.ws.Close()
		}
	}
	left := 0
	for _, c := range conns {
		select {
		case <-c.done:
		case <-ctx.Done():
			// Only a request handler that ignores its context can hold a
			// reader this long.
			left++
		}
	}
	if left > 0 {
		s.log.Warn("connections still closing at shutdown deadline", zap.Int("clients", left))
	}
	s.log.Info("shut down", zap.Int("clients", len(conns)))
}

// ReaderNamer is implemented by an event payload that names its reader
// itself, so that Publish need not decode the encoded payload to find it:
// EventReader returns the top-level "reader" string of the payload's JSON
// encoding, ok false when the encoding has no such string member.
type ReaderNamer interface {
	EventReader() (name string, ok bool)
}

// Publish assigns the next seq to an event, keeps it for resume and queues
// it for every subscribed client whose filter matches. payload must encode
// to a JSON object; its top-level "reader" string, if any, is what reader
// filters match (a ReaderNamer says which it is). Publish never blocks on
// clients. It returns the event's seq, or 0 if the event was rejected
// (the reason is logged).
func (s *Server) Publish(typ string, payload any) uint64 {
	e, ok := s.prepare(typ, payload)
	if !ok {
		return 0
	}
	return s.publish(e)
}

// Prepare encodes an event ahead of its publication, as Publish would;
// the result's Publish assigns its seq and queues it as Publish does, and
// must be called at most once. The verdict stage prepares a batch's
// events while its durable write runs, so that publishing them after the
// write is only the seq and the queues. An event Publish would reject
// gives a result whose Publish returns 0.
//
// The result is declared as an interface so that the verdict stage's
// optional publisher interface (judge.Preparer) can name the same method
// without importing this package.
func (s *Server) Prepare(typ string, payload any) interface{ Publish() uint64 } {
	e, ok := s.prepare(typ, payload)
	if !ok {
		return rejected{}
	}
	return &prepared{s: s, e: e}
}

// prepared is an event of Prepare.
type prepared struct {
	s *Server
	e encoded
}

func (p *prepared) Publish() uint64 {
	if p.s == nil {
		return 0
	}
	seq := p.s.publish(p.e)
	p.s, p.e = nil, encoded{}
	return seq
}

// rejected is the Prepare of an event that cannot be published.
type rejected struct{}

func (rejected) Publish() uint64 { return 0 }

// encoded is an event's frame before its seq: {"v":1,"type":T,"seq": then
// the payload from seqAt, with room for the seq and the payload's key.
type encoded struct {
	typ       string
	reader    string
	hasReader bool
	frame     []byte
	seqAt     int
}

// prepare encodes typ and payload; ok is false (and the reason logged) for
// an event that cannot be published.
func (s *Server) prepare(typ string, payload any) (e encoded, ok bool) {
	if typ == "" || len(typ) > maxTypeLen || typ == TypeHello || typ == TypeResult {
		s.log.Error("publish: invalid event type", zap.String("type", typ))
		return e, false
	}
	// The frame, {"v":1,"type":T,"seq":N,"payload":P} in the field order
	// of envelope, is built in one allocation; the seq is added by publish.
	s.encMu.Lock()
	defer s.encMu.Unlock()
	if s.enc == nil {
		s.enc = json.NewEncoder(&s.encBuf)
	}
	s.encBuf.Reset()
	err := s.enc.Encode(payload)
	raw := bytes.TrimSuffix(s.encBuf.Bytes(), []byte{'\n'})
	if err != nil || len(raw) == 0 || raw[0] != '{' {
		if err != nil {
			s.log.Error("publish: encode payload", zap.String("type", typ), zap.Error(err))
		} else {
			s.log.Error("publish: payload is not a JSON object", zap.String("type", typ))
		}
		return e, false
	}
	e.typ = typ
	if rn, ok := payload.(ReaderNamer); ok {
		e.reader, e.hasReader = rn.EventReader()
	} else {
		// Only a top-level string "reader" names the event's reader.
		var r struct {
			Reader json.RawMessage `json:"reader"`
		}
		var name string // not &e.reader: e would escape
		e.hasReader = json.Unmarshal(raw, &r) == nil && len(r.Reader) > 0 && r.Reader[0] == '"' &&
			json.Unmarshal(r.Reader, &name) == nil
		e.reader = name
	}
	f := make([]byte, 0, len(raw)+len(typ)+64)
	f = append(f, `{"v":1,"type":`...)
	f = appendTypeJSON(f, typ)
	f = append(f, `,"seq":`...)
	e.seqAt = len(f)
	e.frame = append(f, raw...)
	return e, true
}

// publish gives e the next seq, keeps it for resume and queues it for the
// subscribed clients whose filter matches.
func (s *Server) publish(e encoded) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	ev := event{seq: s.seq, typ: e.typ, reader: e.reader, hasReader: e.hasReader}
	// Insert the seq and the payload's key before the payload.
	var num [24]byte
	ins := append(strconv.AppendUint(num[:0], ev.seq, 10), `,"payload":`...)
	f, seqAt := e.frame, e.seqAt
	f = append(f, ins...) // grow by len(ins); capacity was reserved
	copy(f[seqAt+len(ins):], f[seqAt:len(f)-len(ins)])
	copy(f[seqAt:], ins)
	f = append(f, '}')
	ev.frame = f

	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, ev)
	} else {
		s.ring[s.ringPos] = ev
		s.ringPos = (s.ringPos + 1) % len(s.ring)
	}
	for c := range s.conns {
		if c.subscribed && c.filter.matches(ev.typ, ev.reader, ev.hasReader) {
			c.enqueue(outMsg{frame: ev.frame}, ev.seq)
		}
	}
	return ev.seq
}

// appendTypeJSON appends typ as a JSON string: as it is when it needs no
// escaping (event types are dotted lower-case names), else as
// encoding/json writes it.
func appendTypeJSON(b []byte, typ string) []byte {
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(typ)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, typ...)
	return append(b, '"')
}

// since returns the frames of events after seq that match f, oldest first,
// or ok false if some of them are no longer kept. s.mu must be held.
func (s *Server) since(seq uint64, f *filter) (frames [][]byte, oldest uint64, ok bool) {
	oldest = s.seq + 1
	if n := len(s.ring); n > 0 {
		oldest = s.ring[s.ringPos%n].seq
	}
	if seq > s.seq || seq+1 < oldest {
		return nil, oldest, false
	}
	n := len(s.ring)
	for i := 0; i < n; i++ {
		ev := &s.ring[(s.ringPos+i)%n]
		if ev.seq > seq && f.matches(ev.typ, ev.reader, ev.hasReader) {
			frames = append(frames, ev.frame)
		}
	}
	return frames, oldest, true
}
