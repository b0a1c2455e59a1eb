//go:build cgo || windows

package pcsc

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"
)

// kindOf maps a PC/SC return code to the sentinel callers branch on. Codes
// and their meanings: pcsc-lite pcsclite.h and ebfe/scard zconst.go.
func kindOf(err error) error {
	var code scard.Error
	if !errors.As(err, &code) {
		return nil
	}
	switch code {
	case scard.ErrRemovedCard, scard.ErrNoSmartcard:
		return ErrCardRemoved
	case scard.ErrResetCard:
		return ErrCardReset
	case scard.ErrUnresponsiveCard, scard.ErrUnpoweredCard, scard.ErrUnsupportedCard:
		return ErrCardUnresponsive
	case scard.ErrNoService, scard.ErrServiceStopped,
		// pcscd killed while a call was in flight: "RPC transport error".
		scard.ErrCommError,
		scard.ErrShutdown,
		// pcsc-lite's answer to a client/daemon protocol-version mismatch
		// is SCARD_E_SERVICE_STOPPED; a context whose daemon restarted is
		// an invalid handle.
		scard.ErrInvalidHandle:
		return ErrNoService
	case scard.ErrNoReadersAvailable:
		return ErrNoReaders
	case scard.ErrUnknownReader, scard.ErrReaderUnavailable:
		return ErrReaderUnavailable
	case scard.ErrSharingViolation:
		return ErrReaderBusy
	case scard.ErrUnsupportedFeature: // == ErrUnexpected on pcsc-lite (0x8010001F)
		return errors.ErrUnsupported
	}
	return nil
}

// wrap classifies err from the step op. A nil err stays nil, and an err that
// is already an *Error is returned unchanged.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	return &Error{Op: op, Kind: kindOf(err), Err: err}
}

// guard runs one scard call and turns a panic inside the wrapper into an
// ErrInternal error: the last line of defence behind the explicit checks for
// the panics we know about (ebfe/scard scard_unix.go: an ATR longer than 33
// bytes in toSys, Transmit on a direct connection).
func guard(op string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Op: op, Kind: ErrInternal, Err: fmt.Errorf("recovered panic: %v", r)}
		}
	}()
	return wrap(op, f())
}

// isServiceLost reports whether err means the whole PC/SC context is dead
// and must be re-established.
func isServiceLost(err error) bool { return errors.Is(err, ErrNoService) }

// isReaderGone reports whether err means the reader itself has gone.
func isReaderGone(err error) bool { return errors.Is(err, ErrReaderUnavailable) }
