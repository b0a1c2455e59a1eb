package pcsc

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors that callers branch on with errors.Is. Every error returned
// by this package for a failed PC/SC call is an [*Error] that matches one of
// them (when the condition is known) and the underlying scard.Error.
var (
	// ErrCardRemoved means the card left the field: before Connect, between
	// two APDUs, or in the middle of one. The tap is over; wait for the next
	// CardPresent.
	ErrCardRemoved = errors.New("pcsc: card removed")

	// ErrNoCard is ErrCardRemoved under the name used at Connect time: there
	// is no card in the field. Both names match the same errors.
	ErrNoCard = ErrCardRemoved

	// ErrCardReset means another application reset the card; the handle must
	// be reconnected.
	ErrCardReset = errors.New("pcsc: card was reset")

	// ErrCardUnresponsive means a card is in the field but does not answer
	// (unpowered, mute or unsupported), typically a tag at the edge of the
	// field.
	ErrCardUnresponsive = errors.New("pcsc: card unresponsive")

	// ErrNoService means the PC/SC service (pcscd, SCardSvr) is not running,
	// stopped, or the connection to it broke. The Monitor re-establishes its
	// context with backoff.
	ErrNoService = errors.New("pcsc: smart card service unavailable")

	// ErrNoReaders means the service reports no readers at all.
	ErrNoReaders = errors.New("pcsc: no readers available")

	// ErrReaderUnavailable means the named reader is unknown or has gone
	// (unplugged, or its driver failed).
	ErrReaderUnavailable = errors.New("pcsc: reader unavailable")

	// ErrReaderBusy means another application holds the reader exclusively.
	ErrReaderBusy = errors.New("pcsc: reader in exclusive use")

	// ErrEmptyAPDU is returned by Transmit for an empty command, which
	// ebfe/scard would turn into a panic.
	ErrEmptyAPDU = errors.New("pcsc: empty APDU")

	// ErrShortResponse means the card answered with a single byte, which
	// cannot hold a status word.
	ErrShortResponse = errors.New("pcsc: response shorter than a status word")

	// ErrUnsupportedProtocol means the connection negotiated neither T=0 nor
	// T=1, so Transmit cannot be used on it (ebfe/scard would panic).
	ErrUnsupportedProtocol = errors.New("pcsc: active protocol is neither T=0 nor T=1")

	// ErrClosed is returned by calls on a Card after Close.
	ErrClosed = errors.New("pcsc: card handle closed")

	// ErrInternal marks a panic recovered from the scard wrapper. It is a bug
	// in this package or in ebfe/scard and is reported rather than crashing
	// the daemon.
	ErrInternal = errors.New("pcsc: internal error")
)

// Error is a failed PC/SC operation. It matches its Kind (one of the
// sentinels above, or nil when the condition has no sentinel) and its
// underlying Err (usually a scard.Error) with errors.Is.
type Error struct {
	Op   string // the step that failed, e.g. "transmit" or "establish context"
	Kind error  // a sentinel such as ErrCardRemoved, or nil
	Err  error  // the underlying error, usually a scard.Error
}

func (e *Error) Error() string {
	var kind string
	if e.Kind != nil {
		kind = strings.TrimPrefix(e.Kind.Error(), "pcsc: ")
	}
	switch {
	case kind != "" && e.Err != nil:
		return fmt.Sprintf("pcsc: %s: %s (%v)", e.Op, kind, e.Err)
	case kind != "":
		return fmt.Sprintf("pcsc: %s: %s", e.Op, kind)
	default:
		return fmt.Sprintf("pcsc: %s: %v", e.Op, e.Err)
	}
}

// Unwrap returns the sentinel and the underlying error.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}
