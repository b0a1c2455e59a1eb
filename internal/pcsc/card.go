//go:build cgo || windows

package pcsc

import (
	"context"
	"sync"
	"time"

	"github.com/ebfe/scard"
	"go.uber.org/zap"
)

// Card is a shared-mode connection to the card in one reader. Its methods
// are safe for concurrent use but serialised: APDUs to one card never
// interleave.
//
// Each Card owns its own PC/SC context, so its APDUs never queue behind a
// Monitor goroutine blocked in SCardGetStatusChange (pcsc-lite serialises
// calls per context) and a tap on one reader never waits for another.
type Card struct {
	reader string
	atr    []byte
	quirks Quirks

	mu sync.Mutex // serialises calls on sc/h and guards closed
	sc *scard.Context
	// release hands sc back to the monitor after Close (healthy = the
	// disconnect went through); nil releases it.
	release func(healthy bool)
	h       *scard.Card
	closed  bool
	// trace, when set, logs every exchange (Options.TraceAPDU).
	trace      *zap.Logger
	traceState traceState
}

// Connect opens a shared-mode connection (T=1 or T=0, whichever the card
// offers) to the card in reader. It fails with an error matching ErrNoCard
// when the field is empty.
//
// A PC/SC call cannot be interrupted, so ctx is checked before each step;
// SCardConnect itself is bounded by the reader driver.
func (m *Monitor) Connect(ctx context.Context, reader string) (*Card, error) {
	return m.connect(ctx, reader, scard.ShareShared)
}

// ConnectExclusive is Connect in exclusive mode (SCARD_SHARE_EXCLUSIVE):
// until Close, no other handle, in this process or another (a running
// daemon's taps), can connect to the card or send it an APDU; they get
// ErrReaderBusy. Personalisation needs it: a foreign APDU in the middle of
// a secure-messaging session ends the session on the tag.
func (m *Monitor) ConnectExclusive(ctx context.Context, reader string) (*Card, error) {
	return m.connect(ctx, reader, scard.ShareExclusive)
}

func (m *Monitor) connect(ctx context.Context, reader string, share scard.ShareMode) (*Card, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, err := m.takeContext(reader)
	if err != nil {
		return nil, err
	}
	c, err := connect(ctx, sc, reader, m.knownATR(reader), share)
	if err != nil {
		// A context that failed may belong to a pcscd that is gone.
		m.putContext(reader, sc, false)
		if isServiceLost(err) {
			m.dropContexts("")
		}
		return nil, err
	}
	c.release = func(healthy bool) { m.putContext(reader, sc, healthy) }
	if m.opts.TraceAPDU {
		c.trace = m.log.Named("apdu")
	}
	if m.opts.Feedback && c.quirks.Silence != nil && m.needsSilence(reader) {
		if err := c.command(ctx, "silence reader", c.quirks.Silence); err != nil {
			m.log.Warn("cannot silence reader", zap.String("reader", reader), zap.Error(err))
		}
	}
	return c, nil
}

// connect opens the card in reader on sc. atr, when known from the
// monitor's last status, spares an SCardStatus round trip.
func connect(ctx context.Context, sc *scard.Context, reader string, atr []byte, share scard.ShareMode) (*Card, error) {
	var h *scard.Card
	err := guard("connect", func() (err error) {
		h, err = sc.Connect(reader, share, scard.ProtocolT0|scard.ProtocolT1)
		return err
	})
	if err != nil {
		return nil, err
	}
	c := &Card{reader: reader, sc: sc, h: h}
	// Transmit panics in ebfe/scard unless the protocol is T=0 or T=1
	// (ebfe/scard scard.go, Transmit's protocol switch); refuse such a
	// handle here instead.
	if p := h.ActiveProtocol(); p != scard.ProtocolT0 && p != scard.ProtocolT1 {
		guard("disconnect", func() error { return h.Disconnect(scard.LeaveCard) })
		return nil, &Error{Op: "connect", Kind: ErrUnsupportedProtocol}
	}
	if err := ctx.Err(); err != nil {
		guard("disconnect", func() error { return h.Disconnect(scard.LeaveCard) })
		return nil, err
	}
	if len(atr) > 0 {
		c.atr = atr
		c.quirks = QuirksFor(reader, c.atr)
		return c, nil
	}
	// The ATR comes from SCardStatus; its State field is not used because
	// Windows returns an ordinal there, not pcsc-lite's bitmask (SCardStatus
	// on learn.microsoft.com: SCARD_ABSENT … SCARD_SPECIFIC are values).
	var st *scard.CardStatus
	err = guard("status", func() (err error) {
		st, err = h.Status()
		return err
	})
	if err != nil {
		guard("disconnect", func() error { return h.Disconnect(scard.LeaveCard) })
		return nil, err
	}
	c.atr = append([]byte(nil), st.Atr...)
	c.quirks = QuirksFor(reader, c.atr)
	return c, nil
}

// Reader returns the name of the reader the card is in.
func (c *Card) Reader() string { return c.reader }

// ATR returns the card's answer to reset as reported when it was connected.
func (c *Card) ATR() []byte { return append([]byte(nil), c.atr...) }

// Quirks returns what is known about the reader and card.
func (c *Card) Quirks() Quirks { return c.quirks }

// Transmit sends one command APDU and returns the response APDU, status
// word included. It satisfies the one-method Transmitter interface the tag
// code declares.
//
// An empty command returns ErrEmptyAPDU. A response without a status word
// means the card left the field in the middle of the exchange (pcsc-lite
// then reports success with zero bytes, notes Addendum) and returns an error
// matching ErrCardRemoved. SCardTransmit cannot be cancelled, so ctx is only
// checked before the call.
func (c *Card) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if len(apdu) == 0 {
		return nil, &Error{Op: "transmit", Kind: ErrEmptyAPDU}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &Error{Op: "transmit", Kind: ErrClosed}
	}
	var rsp []byte
	var start time.Time
	if c.trace != nil {
		start = time.Now()
	}
	err := guard("transmit", func() (err error) {
		rsp, err = c.h.Transmit(apdu)
		return err
	})
	if c.trace != nil {
		c.traceExchange(apdu, rsp, err, time.Since(start))
	}
	if err != nil {
		return nil, err
	}
	switch len(rsp) {
	case 0:
		return nil, &Error{Op: "transmit", Kind: ErrCardRemoved}
	case 1:
		return nil, &Error{Op: "transmit", Kind: ErrShortResponse}
	}
	return rsp, nil
}

// control sends a vendor escape to the reader, trying each escape ioctl
// this platform's drivers are known to use (escapeIoctls).
func (c *Card) control(ctx context.Context, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, &Error{Op: "control", Kind: ErrClosed}
	}
	var rsp []byte
	var err error
	for _, ioctl := range escapeIoctls() {
		err = guard("control", func() (err error) {
			rsp, err = c.h.Control(ioctl, data)
			return err
		})
		if err == nil {
			return rsp, nil
		}
	}
	return nil, err
}

// Close disconnects with SCARD_LEAVE_CARD and releases the card's context.
// Leaving (not resetting) the card avoids an RF power cycle that some
// readers report as a new presentation; pcscd powers an idle card down by
// itself once no handle is open, which also ends any tag session. Close is
// idempotent.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := guard("disconnect", func() error { return c.h.Disconnect(scard.LeaveCard) })
	// Disconnecting after the card left is not a failure (pcsc-lite returns
	// success; be lenient with stacks that do not).
	if isCardGone(err) {
		err = nil
	}
	if c.release != nil {
		c.release(err == nil)
		return err
	}
	if rerr := guard("release context", c.sc.Release); err == nil {
		err = rerr
	}
	return err
}
