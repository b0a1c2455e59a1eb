package ws

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// tlsHandshakeRecord is the first byte of every TLS connection (a
// handshake record, RFC 8446 §5.1); no HTTP request starts with it.
const tlsHandshakeRecord = 0x16

// tlsListener serves TLS to every peer and, to loopback peers, plain HTTP
// as well: the first byte a loopback peer sends decides. A network peer
// always gets TLS, so a plain HTTP request from the network fails its
// handshake and nothing is ever read or written in the clear.
type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

// newTLSListener wraps ln. cfg is cloned and limited to TLS 1.2+ and
// HTTP/1.1 (WebSocket upgrades need HTTP/1.1).
func newTLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.NextProtos = []string{"http/1.1"}
	return &tlsListener{Listener: ln, cfg: c}
}

// Accept returns the next connection, undecided until its first read.
func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sc := &serverConn{Conn: c, cfg: l.cfg}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		sc.allowPlain = true
	}
	return sc, nil
}

// serverConn is an accepted connection that becomes TLS or plain on its
// first read. The embedded Conn is the raw socket: addresses and deadlines
// go to it directly.
type serverConn struct {
	net.Conn
	cfg        *tls.Config
	allowPlain bool

	once    sync.Once
	decided atomic.Bool
	c       net.Conn // the TLS or plain connection, once decided
	isTLS   bool
	err     error // the first read failed
}

// decide reads the first byte (loopback peers only) and picks TLS or
// plain. It runs once, on the connection's first Read or Write.
func (sc *serverConn) decide() {
	sc.once.Do(func() {
		defer sc.decided.Store(true)
		if !sc.allowPlain {
			sc.c, sc.isTLS = tls.Server(sc.Conn, sc.cfg), true
			return
		}
		var b [1]byte
		n, err := sc.Conn.Read(b[:])
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			sc.err = err
			return
		}
		pc := &prefixConn{Conn: sc.Conn, prefix: b[:1]}
		if b[0] == tlsHandshakeRecord {
			sc.c, sc.isTLS = tls.Server(pc, sc.cfg), true
			return
		}
		sc.c = pc
	})
}

func (sc *serverConn) Read(p []byte) (int, error) {
	sc.decide()
	if sc.err != nil {
		return 0, sc.err
	}
	return sc.c.Read(p)
}

func (sc *serverConn) Write(p []byte) (int, error) {
	sc.decide()
	if sc.err != nil {
		return 0, sc.err
	}
	return sc.c.Write(p)
}

// Close closes the TLS connection (sending close_notify) once decided,
// the raw socket otherwise.
func (sc *serverConn) Close() error {
	if sc.decided.Load() && sc.c != nil {
		return sc.c.Close()
	}
	return sc.Conn.Close()
}

// NetConn returns the raw socket.
func (sc *serverConn) NetConn() net.Conn { return sc.Conn }

// overTLS reports whether the connection speaks TLS; it is decided once
// the first byte has been read.
func (sc *serverConn) overTLS() bool { return sc.decided.Load() && sc.isTLS }

// prefixConn returns prefix before reading on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (pc *prefixConn) Read(p []byte) (int, error) {
	if len(pc.prefix) > 0 {
		n := copy(p, pc.prefix)
		pc.prefix = pc.prefix[n:]
		return n, nil
	}
	return pc.Conn.Read(p)
}

// connKey is the context key of the accepted connection.
type connKey struct{}

// withConn is http.Server.ConnContext: it keeps the connection, so that
// handlers can tell TLS from plain HTTP.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// overTLS reports whether r arrived over TLS: through Serve's listener, or
// through a TLS server that mounted Handler.
func overTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	sc, ok := r.Context().Value(connKey{}).(*serverConn)
	return ok && sc.overTLS()
}

// tcpConn returns the TCP socket under c's wrappers, or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for range 8 {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}
