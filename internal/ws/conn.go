package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

// outMsg is one item of a client's send queue: a frame, optionally followed
// by a batch (a resume result and its replayed events travel together so
// that a replay never overflows the queue and is never interleaved).
type outMsg struct {
	frame []byte
	batch [][]byte
}

// conn is one WebSocket client. Exactly two goroutines use it: the reader
// (the HTTP handler goroutine, readLoop) and the writer (writeLoop), as in
// gorilla's examples/chat/client.go.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	log    *zap.Logger
	ctx    context.Context // for Backend calls; canceled on close
	cancel context.CancelFunc

	send       chan outMsg   // bounded; never blocks the sender
	notice     chan []byte   // capacity 1: the overflow notice jumps the queue
	quit       chan struct{} // closed by closeWith
	writerDone chan struct{}
	done       chan struct{} // closed when the connection is torn down

	closeOnce   sync.Once
	closeCode   int
	closeReason string
	lagging     atomic.Bool // told about an overflow, not yet caught up

	dlMu    sync.Mutex // orders read-deadline updates with closing
	closing bool

	// Guarded by s.mu.
	subscribed bool
	filter     filter

	// Reader goroutine only.
	badCount int
	badStart time.Time
	tokens   float64
	tokensAt time.Time
}

// helloPayload is the payload of the hello event.
type helloPayload struct {
	Server        string `json:"server"`
	Protocols     []int  `json:"protocols"`
	Stream        string `json:"stream"`
	Readers       any    `json:"readers"`
	VerdictKeyID  string `json:"verdict_key_id"`
	MaxFrameBytes int    `json:"max_frame_bytes"`
	HistorySize   int    `json:"history_size"`
}

// Result payloads.
type (
	seqResult struct {
		Seq uint64 `json:"seq"`
	}
	resumeResult struct {
		Replayed int    `json:"replayed"`
		Seq      uint64 `json:"seq"`
	}
	readersResult struct {
		Readers any `json:"readers"`
	}
	historyResult struct {
		Entries any `json:"entries"`
	}
)

// serveConn runs an upgraded connection until it closes. The calling HTTP
// handler goroutine becomes the connection's reader.
func (s *Server) serveConn(wsc *websocket.Conn, name string, r *http.Request) {
	c := &conn{
		s:          s,
		ws:         wsc,
		log:        s.log.With(zap.String("client", name), zap.String("remote", r.RemoteAddr)),
		send:       make(chan outMsg, s.cfg.SendQueue),
		notice:     make(chan []byte, 1),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(s.baseCtx)
	defer c.cancel()
	wsc.SetReadLimit(hardFrameLimit)
	if tc, ok := wsc.NetConn().(*net.TCPConn); ok {
		tc.SetWriteBuffer(sendBufferBytes)
	}

	info := s.cfg.Backend.Hello()
	hp := helloPayload{
		Server:        info.ServerVersion,
		Protocols:     []int{ProtocolVersion},
		Stream:        s.stream,
		Readers:       info.Readers,
		VerdictKeyID:  info.VerdictKeyID,
		MaxFrameBytes: MaxFrameBytes,
		HistorySize:   s.cfg.HistorySize,
	}
	if hp.Readers == nil {
		hp.Readers = []any{}
	}
	hb, err := json.Marshal(hp)
	if err != nil {
		c.log.Error("encode hello", zap.Error(err))
		hp.Readers = []any{}
		hb, _ = json.Marshal(hp)
	}

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		wsc.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), time.Now().Add(s.cfg.WriteWait))
		wsc.Close()
		return
	}
	s.conns[c] = struct{}{}
	// The hello is first in the fresh queue; its seq is the newest event
	// so far, so the client knows where the stream stands.
	c.send <- outMsg{frame: marshalFrame(TypeHello, "", s.seq, hb)}
	s.mu.Unlock()
	c.log.Info("client connected", zap.String("origin", r.Header.Get("Origin")))

	go c.writeLoop()
	c.readLoop()

	c.closeWith(websocket.CloseNormalClosure, "")
	wsc.Close()
	<-c.writerDone
	// Log before leaving s.conns: Serve may return as soon as the
	// connection is gone from there, and nothing may run after that.
	c.log.Info("client disconnected", zap.Int("code", c.closeCode))
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	close(c.done)
}

// closeWith asks the writer to send a close frame with code and end the
// connection. Only the first call has an effect. It never blocks.
func (c *conn) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		close(c.quit)
		c.cancel()
	})
}

func (c *conn) stopping() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// enqueue queues m without blocking. When the queue is full the client is
// told once with an overflow notice (seq is the first dropped event, 0 for
// a reply) and the message is dropped; if it is still full the next time,
// the client is closed with 1013.
func (c *conn) enqueue(m outMsg, seq uint64) {
	if c.stopping() {
		return
	}
	select {
	case c.send <- m:
		return
	default:
	}
	if c.lagging.CompareAndSwap(false, true) {
		n := errorFrame("", errorPayload{Code: CodeOverflow, Message: "send queue full; events dropped", Seq: seq})
		select {
		case c.notice <- n:
		default:
		}
		c.log.Warn("client send queue full", zap.Uint64("dropped_seq", seq))
		return
	}
	c.log.Warn("client too slow; closing")
	c.closeWith(CloseTryAgainLater, "client too slow")
}

// writeLoop is the connection's only writer of data frames and pings.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	ping := time.NewTicker(c.s.cfg.PingPeriod)
	defer ping.Stop()
	for {
		// A pending close wins over queued frames.
		if c.stopping() {
			c.writeClose()
			return
		}
		select {
		case <-c.quit:
			c.writeClose()
			return
		case f := <-c.notice:
			if !c.write(f) {
				return
			}
		case m := <-c.send:
			if m.frame != nil && !c.write(m.frame) {
				return
			}
			for _, f := range m.batch {
				if !c.write(f) {
					return
				}
			}
			if len(c.send) == 0 {
				c.lagging.Store(false)
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteWait)); err != nil {
				c.drop("ping", err)
				return
			}
		}
	}
}

func (c *conn) write(f []byte) bool {
	c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteWait))
	if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
		c.drop("write", err)
		return false
	}
	return true
}

// drop closes the socket after a failed write; the reader then returns.
func (c *conn) drop(step string, err error) {
	if !errors.Is(err, websocket.ErrCloseSent) && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("connection dropped", zap.String("step", step), zap.Error(err))
	}
	c.ws.Close()
}

// writeClose sends the close frame and gives the client closeGrace to
// answer it (the reader drains until then), per RFC 6455 §7.1.1.
func (c *conn) writeClose() {
	// A slow client is told why before it is closed, if the notice is
	// still pending.
	if c.closeCode == CloseTryAgainLater {
		select {
		case f := <-c.notice:
			if !c.write(f) {
				return
			}
		default:
		}
	}
	msg := websocket.FormatCloseMessage(c.closeCode, c.closeReason)
	err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.s.cfg.WriteWait))
	if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		c.drop("close", err)
		return
	}
	c.dlMu.Lock()
	c.closing = true
	c.ws.SetReadDeadline(time.Now().Add(closeGrace))
	c.dlMu.Unlock()
}

// extendReadDeadline is the pong handler: a live client keeps its read
// deadline PongWait ahead, unless the connection is closing.
func (c *conn) extendReadDeadline(string) error {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	if !c.closing {
		c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.PongWait))
	}
	return nil
}

// readLoop reads frames until the connection fails or closes.
//
// Oversize text frames: gorilla's SetReadLimit closes the connection (1009)
// instead of letting us answer. So the hard limit is set to 1 MiB and each
// frame is read through an io.LimitReader of MaxFrameBytes+1: a frame over
// 64 KiB is drained to its end and answered with too_large, and the
// connection stays usable. Only a frame over 1 MiB is fatal, which bounds
// the work a client can make the server do per frame.
func (c *conn) readLoop() {
	c.extendReadDeadline("")
	c.ws.SetPongHandler(c.extendReadDeadline)
	var buf bytes.Buffer
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			if !c.stopping() && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				c.log.Debug("read ended", zap.Error(err))
			}
			return
		}
		if c.stopping() || mt == websocket.BinaryMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			if !c.stopping() {
				c.fail("", &wireError{Code: CodeBinaryUnsupported, Message: "binary frames are not supported"})
			}
			continue
		}
		buf.Reset()
		n, err := buf.ReadFrom(io.LimitReader(r, MaxFrameBytes+1))
		if err != nil {
			return
		}
		if n > MaxFrameBytes {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.fail("", &wireError{Code: CodeTooLarge, Message: "frame exceeds 65536 bytes"})
			continue
		}
		c.handle(buf.Bytes())
	}
}

// fail answers a bad frame and closes the connection with 1008 once the
// client exceeds MaxBadFrames within BadFrameWindow.
func (c *conn) fail(id string, e *wireError) {
	now := c.s.now()
	if c.badStart.IsZero() || now.Sub(c.badStart) > c.s.cfg.BadFrameWindow {
		c.badStart, c.badCount = now, 0
	}
	c.badCount++
	if c.badCount > c.s.cfg.MaxBadFrames {
		c.log.Warn("too many bad frames; closing", zap.Int("count", c.badCount), zap.String("last_code", string(e.Code)))
		c.closeWith(ClosePolicyViolation, "too many bad frames")
		return
	}
	c.replyError(id, e)
}

func (c *conn) replyError(id string, e *wireError) {
	c.enqueue(outMsg{frame: errorFrame(id, errorPayload{Code: e.Code, Message: e.Message})}, 0)
}

func (c *conn) reply(id string, v any) {
	f, err := resultFrame(id, v)
	if err != nil {
		c.log.Error("encode result", zap.Error(err))
		c.replyError(id, &wireError{Code: CodeInternal, Message: "internal error"})
		return
	}
	c.enqueue(outMsg{frame: f}, 0)
}

// allow takes one request from the connection's token bucket.
func (c *conn) allow() bool {
	now := c.s.now()
	burst := float64(c.s.cfg.RequestBurst)
	if c.tokensAt.IsZero() {
		c.tokens = burst
	} else if d := now.Sub(c.tokensAt); d > 0 {
		c.tokens = min(burst, c.tokens+d.Seconds()*c.s.cfg.RequestRate)
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// handle processes one text frame of at most MaxFrameBytes.
func (c *conn) handle(frame []byte) {
	req, perr := parseRequest(frame)
	if perr != nil {
		c.fail(req.ID, perr)
		return
	}
	if !c.allow() {
		c.fail(req.ID, &wireError{Code: CodeRateLimited, Message: "too many requests"})
		return
	}
	s := c.s
	switch req.Type {
	case TypePing:
		s.mu.Lock()
		seq := s.seq
		s.mu.Unlock()
		c.reply(req.ID, seqResult{Seq: seq})

	case TypeSubscribe:
		_, f, perr := parseSubscribe(req.Payload, false)
		if perr != nil {
			c.fail(req.ID, perr)
			return
		}
		// Under s.mu, so the result precedes every event it lets through.
		s.mu.Lock()
		c.subscribed, c.filter = true, f
		res, _ := resultFrame(req.ID, seqResult{Seq: s.seq})
		c.enqueue(outMsg{frame: res}, 0)
		s.mu.Unlock()

	case TypeResume:
		sp, f, perr := parseSubscribe(req.Payload, true)
		if perr != nil {
			c.fail(req.ID, perr)
			return
		}
		s.mu.Lock()
		if c.subscribed {
			s.mu.Unlock()
			c.fail(req.ID, &wireError{Code: CodeBadRequest, Message: "resume must come before subscribe; reconnect to resume"})
			return
		}
		frames, oldest, ok := s.since(*sp.Since, &f)
		if !ok || (sp.Stream != "" && sp.Stream != s.stream) {
			last := s.seq
			s.mu.Unlock()
			c.enqueue(outMsg{frame: errorFrame(req.ID, errorPayload{
				Code: CodeGap, Message: "events since the given seq are no longer available",
				Oldest: &oldest, Last: &last,
			})}, 0)
			return
		}
		// The result and the replay go as one queue item, and live events
		// follow them because s.mu is held until the item is queued.
		c.subscribed, c.filter = true, f
		res, _ := resultFrame(req.ID, resumeResult{Replayed: len(frames), Seq: s.seq})
		c.enqueue(outMsg{frame: res, batch: frames}, 0)
		s.mu.Unlock()

	case TypeReadersList:
		ctx, cancel := context.WithTimeout(c.ctx, s.cfg.BackendTimeout)
		v, err := s.cfg.Backend.Readers(ctx)
		cancel()
		if err != nil {
			c.backendError(req, err)
			return
		}
		c.reply(req.ID, readersResult{Readers: v})

	case TypeHistoryQuery:
		q := bytes.Clone(req.Payload) // the frame buffer is reused
		ctx, cancel := context.WithTimeout(c.ctx, s.cfg.BackendTimeout)
		v, err := s.cfg.Backend.History(ctx, q)
		cancel()
		if err != nil {
			c.backendError(req, err)
			return
		}
		c.reply(req.ID, historyResult{Entries: v})
	}
}

// backendError logs a Backend failure and sends only its stable code.
func (c *conn) backendError(req request, err error) {
	if errors.Is(err, ErrBadRequest) {
		c.fail(req.ID, &wireError{Code: CodeBadRequest, Message: "invalid " + req.Type + " request"})
		return
	}
	c.log.Error("backend request failed", zap.String("type", req.Type), zap.Error(err))
	c.replyError(req.ID, &wireError{Code: CodeInternal, Message: "internal error"})
}
