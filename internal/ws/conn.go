package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// conn is one WebSocket client. Three goroutines own it: the reader (the
// HTTP handler goroutine, readLoop) and the writer (writeLoop), as in
// gorilla's examples/chat/client.go, and the replier (replyLoop), which
// sends replies in request order; request handlers run on goroutines of
// their own and hand their replies to the replier.
type conn struct {
	s     *Server
	ws    *websocket.Conn
	log   *zap.Logger
	name  string // the token's name
	cred  credential
	meter *frameMeter // counts framing overhead; nil if not hijacked through serveWS
	// release gives back the connection's admission (Server.admit).
	release func()
	ctx     context.Context // for request handlers; canceled on close
	cancel  context.CancelFunc

	replies     chan *pending // in request order; closed by the reader
	replierDone chan struct{}
	handlers    sync.WaitGroup
	inflightMu  sync.Mutex
	inflight    map[string]int // handler calls in flight, by type

	send       chan outMsg   // bounded; never blocks the sender
	notice     chan []byte   // capacity 1: the overflow notice jumps the queue
	quit       chan struct{} // closed by closeWith
	writerDone chan struct{}
	done       chan struct{} // closed when the connection is torn down

	closeOnce   sync.Once
	closeCode   int
	closeReason string
	lagging     atomic.Bool // told about an overflow, not yet caught up
	// queued is the bytes of the messages in send, plus the message the
	// writer is writing; bounded by Config.MaxQueuedBytes.
	queued atomic.Int64

	dlMu    sync.Mutex // orders read-deadline updates with closing
	closing bool

	// Guarded by s.mu.
	subscribed bool
	filter     filter

	badMu    sync.Mutex // bad frames are counted by the reader and handlers
	badCount int
	badStart time.Time

	// Reader goroutine only.
	tokens   float64
	tokensAt time.Time
}

// pending is a reply in the connection's request order: once done is
// closed, the replier calls send.
type pending struct {
	done chan struct{}
	send func()
}

// closedChan is done for replies that are ready when queued.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// helloPayload is the payload of the hello event.
type helloPayload struct {
	Server        string `json:"server"`
	Protocols     []int  `json:"protocols"`
	Stream        string `json:"stream"`
	Readers       any    `json:"readers"`
	PCSC          any    `json:"pcsc,omitempty"`
	VerdictKeyID  string `json:"verdict_key_id"`
	MaxFrameBytes int    `json:"max_frame_bytes"`
	HistorySize   int    `json:"history_size"`
}

// Result payloads of the built-in requests.
type (
	seqResult struct {
		Seq uint64 `json:"seq"`
	}
	resumeResult struct {
		Replayed int    `json:"replayed"`
		Seq      uint64 `json:"seq"`
	}
)

// serveConn runs an upgraded connection until it closes. The calling HTTP
// handler goroutine becomes the connection's reader.
func (s *Server) serveConn(wsc *websocket.Conn, cred credential, meter *frameMeter, release func(), r *http.Request) {
	name := cred.name
	c := &conn{
		s:           s,
		ws:          wsc,
		log:         s.log.With(zap.String("client", name), zap.String("remote", r.RemoteAddr)),
		name:        name,
		cred:        cred,
		meter:       meter,
		release:     release,
		replies:     make(chan *pending, maxInFlight),
		replierDone: make(chan struct{}),
		inflight:    make(map[string]int),
		send:        make(chan outMsg, s.cfg.SendQueue),
		notice:      make(chan []byte, 1),
		quit:        make(chan struct{}),
		writerDone:  make(chan struct{}),
		done:        make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(s.baseCtx)
	defer c.cancel()
	defer release()
	wsc.SetReadLimit(hardFrameLimit)
	if tc := tcpConn(wsc.NetConn()); tc != nil {
		tc.SetWriteBuffer(sendBufferBytes)
	}

	var info HelloInfo
	if s.cfg.Hello != nil {
		info = s.cfg.Hello()
	}
	hp := helloPayload{
		Server:        info.ServerVersion,
		Protocols:     []int{ProtocolVersion},
		Stream:        s.stream,
		Readers:       info.Readers,
		PCSC:          info.PCSC,
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
	s.cfg.Metrics.SetWSClients(len(s.conns))
	// The hello is first in the fresh queue; its seq is the newest event
	// so far, so the client knows where the stream stands.
	hello := marshalFrame(TypeHello, "", s.seq, hb)
	c.queued.Add(int64(len(hello)))
	c.send <- outMsg{frame: hello}
	s.mu.Unlock()
	c.log.Info("client connected", zap.String("origin", r.Header.Get("Origin")))

	go c.writeLoop()
	go c.replyLoop()
	c.readLoop()

	c.closeWith(websocket.CloseNormalClosure, "")
	close(c.replies)
	wsc.Close()
	<-c.writerDone
	<-c.replierDone
	c.handlers.Wait()
	// Log before leaving s.conns: Serve may return as soon as the
	// connection is gone from there, and nothing may run after that.
	c.log.Info("client disconnected", zap.Int("code", c.closeCode))
	s.mu.Lock()
	delete(s.conns, c)
	s.cfg.Metrics.SetWSClients(len(s.conns))
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

// size is the bytes of m's frames.
func (m *outMsg) size() int64 {
	n := int64(len(m.frame))
	for _, f := range m.batch {
		n += int64(len(f))
	}
	return n
}

// enqueue queues m without blocking. When the queue is full, in messages
// (Config.SendQueue) or in bytes (Config.MaxQueuedBytes, counting the
// message being written), the client is told once with an overflow notice
// (seq is the first dropped event, 0 for a reply) and the message is
// dropped; if it is still full the next time, the client is closed with
// 1013. So a client that never reads holds at most MaxQueuedBytes plus
// one message, however many requests it sends.
func (c *conn) enqueue(m outMsg, seq uint64) {
	if c.stopping() {
		return
	}
	n := m.size()
	if c.queued.Add(n) <= int64(c.s.cfg.MaxQueuedBytes) {
		select {
		case c.send <- m:
			return
		default:
		}
	}
	c.queued.Add(-n)
	c.s.cfg.Metrics.WSDropped()
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
	c.s.cfg.Metrics.WSSlowClientClosed()
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
			c.queued.Add(-m.size())
			if len(c.send) == 0 {
				c.lagging.Store(false)
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.s.cfg.WriteWait)); err != nil {
				c.drop("ping", err)
				return
			}
			c.ws.SetWriteDeadline(time.Time{})
		}
	}
}

func (c *conn) write(f []byte) bool {
	c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteWait))
	if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
		c.drop("write", err)
		return false
	}
	// A deadline left armed fires WriteWait later with nothing to time
	// out, and wakes the process of an idle client for it.
	c.ws.SetWriteDeadline(time.Time{})
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
// frame is read through an io.LimitReader of the largest frame any request
// type allows (64 KiB unless a handler asked for more): a larger frame is
// drained to its end and answered with too_large, and the connection stays
// usable. Only a frame over 1 MiB is fatal, which bounds the work a client
// can make the server do per frame.
func (c *conn) readLoop() {
	c.extendReadDeadline("")
	c.ws.SetPongHandler(c.extendReadDeadline)
	defer func() {
		if c.meter.isFlooded() {
			c.flooded()
		}
	}()
	var buf bytes.Buffer
	for {
		if c.meter != nil {
			c.meter.messageDone()
		}
		mt, mr, err := c.ws.NextReader()
		if err != nil {
			if !c.stopping() && !c.meter.isFlooded() && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				c.log.Debug("read ended", zap.Error(err))
			}
			return
		}
		r := io.Reader(mr)
		if c.meter != nil {
			r = payloadReader{r: mr, m: c.meter}
		}
		if mt == websocket.BinaryMessage && len(c.s.binary) > 0 && !c.stopping() {
			if !c.readBinary(r) {
				return
			}
			continue
		}
		if c.stopping() || mt == websocket.BinaryMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			if !c.stopping() {
				c.fail("", &Error{Code: CodeBinaryUnsupported, Message: "binary frames are not supported"})
			}
			continue
		}
		buf.Reset()
		limit := int64(c.s.maxFrame)
		n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
		if err != nil {
			return
		}
		if n > limit {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.fail("", tooLarge)
			continue
		}
		// A request that finds the connection closing is dropped; the
		// reader drains on until the writer has sent the close frame and
		// closeGrace has passed, so the socket is not closed with unread
		// data (a reset would discard what the client has not read yet,
		// the close frame included).
		c.handle(buf.Bytes())
	}
}

// flooded closes a connection whose client sent frames without payload
// (empty continuation frames, pings) past the overhead budget: abuse, like
// too many bad frames. gorilla cannot read on after the meter's error, so
// the reader waits for the writer to send the close frame before the
// socket is closed.
func (c *conn) flooded() {
	c.log.Warn("frame flood; closing", zap.Int("overhead_bytes", maxOverhead))
	c.closeWith(ClosePolicyViolation, "too many frames")
	select {
	case <-c.writerDone:
	case <-time.After(c.s.cfg.WriteWait):
	}
}

// tooLarge answers a frame above its type's limit.
var tooLarge = &Error{Code: CodeTooLarge, Message: "frame too large"}

// fail answers a bad frame and closes the connection with 1008 once the
// client exceeds MaxBadFrames within BadFrameWindow.
func (c *conn) fail(id string, e *Error) {
	if c.countBad(e) {
		c.later(func() { c.replyError(id, e) })
	}
}

// countBad counts a bad frame and reports whether the connection stays
// open.
func (c *conn) countBad(e *Error) bool {
	c.badMu.Lock()
	defer c.badMu.Unlock()
	now := c.s.now()
	if c.badStart.IsZero() || now.Sub(c.badStart) > c.s.cfg.BadFrameWindow {
		c.badStart, c.badCount = now, 0
	}
	c.badCount++
	if c.badCount > c.s.cfg.MaxBadFrames {
		c.log.Warn("too many bad frames; closing", zap.Int("count", c.badCount), zap.String("last_code", string(e.Code)))
		c.closeWith(ClosePolicyViolation, "too many bad frames")
		return false
	}
	return true
}

func (c *conn) replyError(id string, e *Error) {
	p := errorPayload{Code: e.Code, Message: e.Message}
	if e.Details != nil {
		if b, err := json.Marshal(e.Details); err == nil && len(b) > 0 && b[0] == '{' {
			p.Details = b
		} else {
			c.log.Error("error details do not encode to an object", zap.String("code", string(e.Code)))
		}
	}
	c.enqueue(outMsg{frame: errorFrame(id, p)}, 0)
}

func (c *conn) reply(id string, v any) {
	f, err := resultFrame(id, v)
	if err != nil {
		c.log.Error("encode result", zap.Error(err))
		c.replyError(id, &Error{Code: CodeInternal, Message: "internal error"})
		return
	}
	c.enqueue(outMsg{frame: f}, 0)
}

// later queues send to run on the replier in request order, after the
// replies to every earlier request. It reports false when the connection
// is closing.
func (c *conn) later(send func()) bool {
	return c.queue(&pending{done: closedChan, send: send})
}

func (c *conn) queue(p *pending) bool {
	select {
	case c.replies <- p:
		return true
	case <-c.quit:
		return false
	}
}

// replyLoop sends replies in request order until the reader closes
// c.replies or the connection closes.
func (c *conn) replyLoop() {
	defer close(c.replierDone)
	for p := range c.replies {
		select {
		case <-p.done:
			p.send()
		case <-c.quit:
			return
		}
	}
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

// handle processes one text frame. It reports false when the connection
// is closing (the frame was dropped).
func (c *conn) handle(frame []byte) bool {
	s := c.s
	req, perr := parseRequest(frame, func(typ string) bool { return reserved[typ] || s.handlers[typ] != nil })
	if perr != nil {
		c.fail(req.ID, perr)
		return true
	}
	// A frame above its type's limit is skipped as if it had not been
	// read: too_large carries no id, whatever the type.
	if limit := MaxFrameBytes; len(frame) > limit {
		if h := s.handlers[req.Type]; h == nil || len(frame) > h.opts.MaxFrameBytes {
			c.fail("", tooLarge)
			return true
		}
	}
	if !c.allow() {
		c.fail(req.ID, &Error{Code: CodeRateLimited, Message: "too many requests"})
		return true
	}
	switch req.Type {
	case TypePing:
		return c.later(func() {
			s.mu.Lock()
			seq := s.seq
			s.mu.Unlock()
			c.reply(req.ID, seqResult{Seq: seq})
		})

	case TypeSubscribe:
		_, f, perr := parseSubscribe(req.Payload, false)
		if perr != nil {
			c.fail(req.ID, perr)
			return true
		}
		return c.later(func() {
			// Under s.mu, so the result precedes every event it lets
			// through.
			s.mu.Lock()
			defer s.mu.Unlock()
			c.subscribed, c.filter = true, f
			res, _ := resultFrame(req.ID, seqResult{Seq: s.seq})
			c.enqueue(outMsg{frame: res}, 0)
		})

	case TypeResume:
		sp, f, perr := parseSubscribe(req.Payload, true)
		if perr != nil {
			c.fail(req.ID, perr)
			return true
		}
		return c.later(func() { c.resume(req.ID, sp, f) })
	}
	return c.call(req)
}

// resume answers a resume request; it runs on the replier.
func (c *conn) resume(id string, sp subscribeParams, f filter) {
	s := c.s
	s.mu.Lock()
	if c.subscribed {
		s.mu.Unlock()
		if c.countBad(&Error{Code: CodeBadRequest}) {
			c.replyError(id, &Error{Code: CodeBadRequest, Message: "resume must come before subscribe; reconnect to resume"})
		}
		return
	}
	frames, oldest, ok := s.since(*sp.Since, &f)
	if !ok || (sp.Stream != "" && sp.Stream != s.stream) {
		last := s.seq
		s.mu.Unlock()
		c.enqueue(outMsg{frame: errorFrame(id, errorPayload{
			Code: CodeGap, Message: "events since the given seq are no longer available",
			Oldest: &oldest, Last: &last,
		})}, 0)
		return
	}
	// The result and the replay go as one queue item, and live events
	// follow them because s.mu is held until the item is queued.
	c.subscribed, c.filter = true, f
	res, _ := resultFrame(id, resumeResult{Replayed: len(frames), Seq: s.seq})
	c.enqueue(outMsg{frame: res, batch: frames}, 0)
	s.mu.Unlock()
}

// call runs a registered handler on a goroutine of its own; its reply
// keeps its place in the request order.
func (c *conn) call(req request) bool {
	h := c.s.handlers[req.Type]
	if req.binary {
		h = c.s.binary[req.Type]
	}
	c.inflightMu.Lock()
	busy := c.inflight[req.Type] >= h.opts.MaxConcurrent
	if !busy {
		c.inflight[req.Type]++
	}
	c.inflightMu.Unlock()
	if busy {
		c.fail(req.ID, &Error{Code: CodeRateLimited, Message: "too many " + req.Type + " requests in flight"})
		return true
	}
	// A type with large replies is not started for a client that has
	// not read what it was sent: its reply would only grow the queue.
	if h.slots != nil && c.queued.Load() > int64(c.s.cfg.MaxQueuedBytes)/2 {
		c.inflightMu.Lock()
		c.inflight[req.Type]--
		c.inflightMu.Unlock()
		c.fail(req.ID, &Error{Code: CodeRateLimited, Message: "replies not read yet; read them before asking for more"})
		return true
	}
	p := &pending{done: make(chan struct{})}
	r := &Request{Type: req.Type, ID: req.ID, Payload: bytes.Clone(req.Payload), Client: c.name, Data: req.Data}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		ctx, cancel := context.WithTimeout(c.ctx, h.opts.Timeout)
		v, err := h.run(ctx, r)
		cancel()
		c.inflightMu.Lock()
		c.inflight[r.Type]--
		c.inflightMu.Unlock()
		switch {
		case err != nil:
			e, clientFault := clientError(r.Type, err)
			if clientFault {
				c.log.Debug("request refused", zap.String("type", r.Type), zap.String("code", string(e.Code)), zap.Error(err))
				if !c.countBad(e) {
					e = nil
				}
			} else {
				c.log.Error("request failed", zap.String("type", r.Type), zap.Error(err))
			}
			p.send = func() {
				if e != nil {
					c.replyError(r.ID, e)
				}
			}
		default:
			p.send = func() { c.enqueue(outMsg{frame: v}, 0) }
		}
		close(p.done)
	}()
	return c.queue(p)
}

// run calls the handler within its server-wide bound (MaxConcurrentTotal)
// and encodes its result frame inside that bound too, since the encoding
// is where a large reply takes its memory.
func (h *handler) run(ctx context.Context, r *Request) ([]byte, error) {
	if h.slots != nil {
		select {
		case h.slots <- struct{}{}:
			defer func() { <-h.slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	v, err := h.fn(ctx, r)
	if err != nil {
		return nil, err
	}
	f, err := resultFrame(r.ID, v)
	if err != nil {
		return nil, fmt.Errorf("encode %s result: %w", r.Type, err)
	}
	return f, nil
}
