package ws

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Binary requests carry bytes that JSON would inflate, such as image
// uploads. A binary frame is
//
//	uint16 big-endian n | n bytes: a request envelope (JSON) | the body
//
// where the envelope is the one of a text request,
// {"v":1,"type":…,"id":…,"payload":{…}}, naming a type registered with
// HandleBinary; the body reaches the handler as Request.Data. Replies are
// ordinary result and error frames with the request's id, in request order
// with the connection's other replies.
//
// Binary types have limits of their own: a larger frame limit than text
// frames (DefaultBinaryFrameBytes, at most 1 MiB, so the text path's
// MaxFrameBytes and the 1 MiB hard limit stay as they are) and a
// per-connection bound on requests in flight (MaxConcurrent), beyond which
// frames are answered with rate_limited. They do not draw on the request
// rate of text requests: a window of MaxConcurrent frames in flight is what
// paces an upload. Without any binary type registered, binary frames are
// refused with binary_unsupported as before.
const (
	// DefaultBinaryFrameBytes is the default frame limit of a binary type:
	// a 256 KiB body and its header.
	DefaultBinaryFrameBytes = 256<<10 + MaxBinaryHeaderBytes
	// MaxBinaryHeaderBytes bounds the envelope of a binary frame.
	MaxBinaryHeaderBytes = 4 << 10
)

// HandleBinary registers fn for binary frames whose envelope has type typ.
// opts.MaxFrameBytes bounds the whole frame (DefaultBinaryFrameBytes, at
// most 1 MiB); MaxConcurrent and Timeout are as for Handle. The rules and
// panics of Handle apply; a type is either a text or a binary type.
func (s *Server) HandleBinary(typ string, fn HandlerFunc, opts HandlerOptions) {
	if s.serving.Load() {
		panic("ws: HandleBinary called after Serve")
	}
	if typ == "" || len(typ) > maxTypeLen || reserved[typ] {
		panic(fmt.Sprintf("ws: cannot register request type %q", typ))
	}
	if _, dup := s.binary[typ]; dup || s.handlers[typ] != nil {
		panic(fmt.Sprintf("ws: request type %q registered twice", typ))
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxFrameBytes <= 0 {
		opts.MaxFrameBytes = DefaultBinaryFrameBytes
	}
	opts.MaxFrameBytes = min(opts.MaxFrameBytes, hardFrameLimit)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultHandlerTimeout
	}
	s.binary[typ] = newHandler(fn, opts)
	s.maxBin = max(s.maxBin, opts.MaxFrameBytes)
}

// readBinary reads and dispatches one binary frame. It reports false when
// the connection is closing or failed.
func (c *conn) readBinary(r io.Reader) bool {
	limit := int64(c.s.maxBin)
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return false
	}
	if n > limit {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return false
		}
		c.fail("", tooLarge)
		return true
	}
	// A fresh buffer per frame: the handler may keep Data.
	req, perr := parseBinary(buf.Bytes(), func(typ string) bool { return c.s.binary[typ] != nil })
	if perr != nil {
		c.fail(req.ID, perr)
		return true
	}
	if len(buf.Bytes()) > c.s.binary[req.Type].opts.MaxFrameBytes {
		c.fail("", tooLarge)
		return true
	}
	return c.call(req)
}

// parseBinary splits a binary frame into its envelope, parsed as a text
// request of a type known reports, and its body (which aliases frame).
func parseBinary(frame []byte, known func(typ string) bool) (request, *Error) {
	if len(frame) < 2 {
		return request{}, &Error{Code: CodeBadRequest, Message: "binary frame has no header"}
	}
	hl := int(binary.BigEndian.Uint16(frame))
	if hl == 0 || hl > MaxBinaryHeaderBytes || 2+hl > len(frame) {
		return request{}, &Error{Code: CodeBadRequest, Message: "binary frame header length is invalid"}
	}
	req, perr := parseRequest(frame[2:2+hl], known)
	if perr != nil {
		return req, perr
	}
	req.Data, req.binary = frame[2+hl:], true
	return req, nil
}
