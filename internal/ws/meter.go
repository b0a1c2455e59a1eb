package ws

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// Frame-overhead accounting. gorilla/websocket hides frames: a message
// reader skips empty continuation frames, and answers pings, inside one
// Read without returning, and its size limit counts payload bytes only. So
// a client that sends a text frame without FIN and then an endless stream
// of empty continuation frames (or pings) keeps the reader spinning while
// never finishing a message, at a few bytes per frame. The meter counts
// the raw bytes read from the socket against the payload bytes the reader
// delivers; framing overhead beyond maxOverhead within overheadWindow is a
// flood, and the connection is closed with 1008.
const (
	// maxOverhead is the non-payload bytes a client may send in one
	// overheadWindow: about 10,000 frame headers, or 500 full pings. An
	// ordinary client sends a few bytes of headers per message and a pong
	// a minute.
	maxOverhead = 64 << 10
	// overheadWindow is the period over which overhead is counted.
	overheadWindow = 10 * time.Second
	// readBufferSize is gorilla's read buffer; set explicitly so that
	// gorilla reads through the metered connection rather than reusing
	// the HTTP server's buffered reader.
	readBufferSize = 4096
)

// errFrameFlood is returned by frameMeter.Read once the overhead budget is
// spent; gorilla passes it up to the reader.
var errFrameFlood = errors.New("ws: frame flood")

// frameMeter wraps an upgraded connection. Only the connection's reader
// goroutine reads from it (gorilla reads the socket only inside NextReader
// and the message reader's Read), so its counters need no locking.
type frameMeter struct {
	net.Conn
	now     func() time.Time
	start   time.Time // beginning of the current window
	raw     int64     // bytes read from the socket in the window
	payload int64     // payload bytes delivered in the window
	flooded bool
}

// Read reads from the socket and checks the overhead budget.
func (m *frameMeter) Read(p []byte) (int, error) {
	if m.flooded {
		return 0, errFrameFlood
	}
	n, err := m.Conn.Read(p)
	now := m.now()
	if now.Sub(m.start) > overheadWindow {
		// A new window; what the buffer holds ahead was counted before.
		m.start, m.raw, m.payload = now, 0, 0
	}
	m.raw += int64(n)
	if m.raw-m.payload > maxOverhead+readBufferSize {
		m.flooded = true
		return n, errFrameFlood
	}
	return n, err
}

// isFlooded reports whether the budget was spent; false for a nil meter.
func (m *frameMeter) isFlooded() bool { return m != nil && m.flooded }

// delivered counts n payload bytes handed to the reader.
func (m *frameMeter) delivered(n int) { m.payload += int64(n) }

// messageDone starts a new window after a complete message: overhead is
// judged per message, and a busy client never accumulates it.
func (m *frameMeter) messageDone() { m.start, m.raw, m.payload = m.now(), 0, 0 }

// payloadReader counts what a message reader delivers.
type payloadReader struct {
	r io.Reader
	m *frameMeter
}

func (pr payloadReader) Read(p []byte) (int, error) {
	n, err := pr.r.Read(p)
	if pr.m != nil {
		pr.m.delivered(n)
	}
	return n, err
}

// meteredWriter lets serveWS wrap the hijacked connection in a frameMeter.
type meteredWriter struct {
	http.ResponseWriter
	now  func() time.Time
	conn *frameMeter // set by Hijack
}

// Hijack hijacks the underlying connection and wraps it.
func (w *meteredWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("ws: response does not implement http.Hijacker")
	}
	c, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &frameMeter{Conn: c, now: w.now, start: w.now()}
	return w.conn, brw, nil
}

// NetConn returns the connection the meter wraps.
func (m *frameMeter) NetConn() net.Conn { return m.Conn }
