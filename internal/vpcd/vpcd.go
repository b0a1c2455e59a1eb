// Package vpcd is the card side of vsmartcard's vpcd protocol: it lets a
// Go program act as a smart card inserted into the "Virtual PCD" reader that
// vsmartcard-vpcd adds to pcscd, so that the whole PC/SC path can be tested
// without hardware.
//
// vpcd (loaded into pcscd from /etc/reader.conf.d/vpcd) listens on TCP
// 35963 for slot "Virtual PCD 00 00" and 35964 for "Virtual PCD 00 01". The
// virtual card dials in; connecting inserts the card and closing the
// connection removes it. Every message in both directions is a 2-byte
// big-endian length followed by that many bytes. A 1-byte message from vpcd
// is a control byte (00 power off, 01 power on, 02 reset, 04 get ATR); only
// get ATR is answered, with the ATR. A longer message is a command APDU,
// answered with exactly one response APDU (vsmartcard
// virtualsmartcard/doc/api.txt, src/vpcd/vpcd.c).
//
// The package is pure Go; only the TCP_QUICKACK re-arming is per-OS.
package vpcd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultAddr is vpcd's first slot ("Virtual PCD 00 00"); SecondSlotAddr is
// the second ("Virtual PCD 00 01"). vpcd binds 0.0.0.0 but the loopback
// address is the only one tests should use.
const (
	DefaultAddr    = "127.0.0.1:35963"
	SecondSlotAddr = "127.0.0.1:35964"
)

// Control bytes sent by vpcd (vsmartcard src/vpcd/vpcd.h).
const (
	ctrlPowerOff = 0x00
	ctrlPowerOn  = 0x01
	ctrlReset    = 0x02
	ctrlGetATR   = 0x04
)

// MaxFrame is the largest payload a frame can carry (16-bit length).
const MaxFrame = 0xFFFF

// drainTimeout bounds how long Serve waits, after removing the card, for
// vpcd to notice and close the connection. pcscd polls vpcd every 400 ms.
const drainTimeout = 5 * time.Second

var (
	// ErrMalformedFrame is returned by Serve when vpcd sends a frame that
	// the protocol does not allow (an empty one).
	ErrMalformedFrame = errors.New("vpcd: malformed frame")

	// ErrFrameTooLarge is returned when the card's ATR or response does not
	// fit in one frame.
	ErrFrameTooLarge = errors.New("vpcd: payload larger than a frame")

	// ErrClosedByReader is returned by Serve when vpcd closed the
	// connection while the card was inserted, e.g. because pcscd stopped.
	ErrClosedByReader = errors.New("vpcd: connection closed by reader")
)

// Card is a virtual card. Its methods are called from the Serve goroutine
// only, one at a time.
type Card interface {
	// ATR returns the answer to reset. An empty ATR removes the card.
	ATR() []byte
	// PowerOn, PowerOff and Reset are notifications; they have no answer.
	PowerOn()
	PowerOff()
	Reset()
	// Transmit answers one command APDU with one response APDU (data and
	// status word). An empty response removes the card without answering,
	// which is how a tag pulled out of the field mid-APDU looks to PC/SC.
	Transmit(apdu []byte) []byte
}

// Conn is a connection from a virtual card to one vpcd slot.
type Conn struct {
	tc       *net.TCPConn
	r        *bufio.Reader
	removing atomic.Bool
	serving  atomic.Bool
	closeMu  sync.Mutex
	closed   bool
}

// Dial connects to the vpcd slot at addr (DefaultAddr if empty), which
// inserts the card. pcscd notices it on its next presence poll, 0–400 ms
// later. Nagle is off and TCP_QUICKACK is re-armed before every read:
// Debian's vpcd 3.3 sends each frame's length and body in two send() calls,
// and without quick ACKs Nagle and delayed ACK cost about 44 ms per APDU
// instead of about 0.1 ms (vsmartcard src/vpcd/vpcd.c sendToVICC; measured
// with TestVPCDRoundTrip).
func Dial(ctx context.Context, addr string) (*Conn, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("vpcd: dial %s: %w", addr, err)
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("vpcd: dial %s: not a TCP connection", addr)
	}
	if err := tc.SetNoDelay(true); err != nil {
		tc.Close()
		return nil, fmt.Errorf("vpcd: set TCP_NODELAY: %w", err)
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("vpcd: raw conn: %w", err)
	}
	return newConn(tc, rc), nil
}

func newConn(tc *net.TCPConn, rc syscall.RawConn) *Conn {
	return &Conn{tc: tc, r: bufio.NewReader(&quickAckReader{tc: tc, rc: rc})}
}

// quickAckReader re-arms TCP_QUICKACK before every read(2): the option is
// not sticky on Linux.
type quickAckReader struct {
	tc *net.TCPConn
	rc syscall.RawConn
}

func (q *quickAckReader) Read(p []byte) (int, error) {
	setQuickAck(q.rc)
	return q.tc.Read(p)
}

// Serve answers vpcd until ctx is done or the connection ends. When ctx is
// done it removes the card the way vpcd handles reliably: it half-closes
// (shuts down the write side), keeps reading without answering until vpcd's
// next presence poll fails and vpcd closes the connection, and returns nil.
// Closing outright can make Debian's vpcd miss both this removal and the
// next insertion (seen with Debian's vsmartcard 0.9 and pcscd 1.9.9; the
// pcscd end-to-end tests tap through it). After Serve returns the slot
// is free for the next Dial.
//
// The card also removes itself this way when its ATR or a response is
// empty; Serve then returns nil too.
//
// Serve returns ErrClosedByReader if vpcd closes the connection first, and
// ErrMalformedFrame for a frame the protocol does not allow. It never
// panics on input from vpcd.
func (c *Conn) Serve(ctx context.Context, card Card) error {
	if !c.serving.CompareAndSwap(false, true) {
		return errors.New("vpcd: Serve called twice")
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.remove)
	defer stop()

	for {
		msg, err := c.readFrame()
		if c.removing.Load() {
			if err != nil {
				// EOF: vpcd saw the slot empty. A deadline error: it never
				// did; give up waiting, the card is out either way.
				return nil
			}
			continue // no answers once removed
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
				return ErrClosedByReader
			}
			return err
		}
		var reply []byte
		switch {
		case len(msg) == 1:
			switch msg[0] {
			case ctrlPowerOff:
				card.PowerOff()
			case ctrlPowerOn:
				card.PowerOn()
			case ctrlReset:
				card.Reset()
			case ctrlGetATR:
				reply = card.ATR()
				if len(reply) == 0 {
					c.remove()
					continue
				}
			}
			// Other control bytes are not part of the protocol version we
			// speak; they get no answer, like power on/off.
		default:
			reply = card.Transmit(msg)
			if len(reply) == 0 {
				// Leave without answering: vpcd's recv sees EOF, pcscd
				// returns an empty response to the client and marks the
				// slot empty. An empty frame would instead block Debian's
				// vpcd 3.3 until the connection closes.
				c.remove()
				continue
			}
		}
		if reply == nil {
			continue
		}
		if err := c.writeFrame(reply); err != nil {
			if c.removing.Load() {
				continue
			}
			return err
		}
	}
}

// remove half-closes the connection: vpcd's next poll reads EOF, marks the
// slot empty and closes its end, which ends Serve's read loop.
func (c *Conn) remove() {
	c.removing.Store(true)
	c.tc.CloseWrite()
	c.tc.SetReadDeadline(time.Now().Add(drainTimeout))
}

// readFrame reads one length-prefixed frame.
func (c *Conn) readFrame() ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, fmt.Errorf("vpcd: read frame header: %w", err)
	}
	n := binary.BigEndian.Uint16(hdr[:])
	if n == 0 {
		return nil, fmt.Errorf("%w: zero length", ErrMalformedFrame)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(c.r, msg); err != nil {
		return nil, fmt.Errorf("vpcd: read %d-byte frame: %w", n, err)
	}
	return msg, nil
}

// writeFrame sends the length and the payload in one write, so one TCP
// segment carries both.
func (c *Conn) writeFrame(payload []byte) error {
	buf, err := appendFrame(make([]byte, 0, 2+len(payload)), payload)
	if err != nil {
		return err
	}
	if _, err := c.tc.Write(buf); err != nil {
		return fmt.Errorf("vpcd: write frame: %w", err)
	}
	return nil
}

// appendFrame appends payload to dst as one frame.
func appendFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxFrame {
		return dst, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...), nil
}

// Close closes the connection at once. Prefer cancelling Serve's context,
// which removes the card cleanly; Close is for a Conn that is not being
// served. It is idempotent.
func (c *Conn) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.tc.Close()
}
