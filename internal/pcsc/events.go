package pcsc

import (
	"fmt"
	"time"

	"github.com/ebfe/scard"
)

// EventKind says what an Event reports.
type EventKind int

// Event kinds, in the order they occur for one reader: ReaderAdded, then any
// number of CardPresent/CardRemoved pairs, then ReaderRemoved.
const (
	ReaderAdded   EventKind = iota + 1 // a reader matching the filter appeared
	ReaderRemoved                      // a reader went away (or the service did)
	CardPresent                        // a card entered the field; Event.ATR is set
	CardRemoved                        // the card left the field
	ErrorEvent                         // PC/SC trouble; Event.Err is set and the Monitor keeps trying
)

func (k EventKind) String() string {
	switch k {
	case ReaderAdded:
		return "reader added"
	case ReaderRemoved:
		return "reader removed"
	case CardPresent:
		return "card present"
	case CardRemoved:
		return "card removed"
	case ErrorEvent:
		return "error"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change seen by a Monitor.
type Event struct {
	Kind   EventKind
	Reader string    // empty for service-level errors
	ATR    []byte    // for CardPresent: the card's answer to reset
	Err    error     // for ErrorEvent
	Time   time.Time // when the change was observed
}

// cardState is what one SCardGetStatusChange return says about the card in
// a reader, reduced to what decides events.
type cardState struct {
	known   bool   // false for the zero value: nothing observed yet
	present bool   // PRESENT and not MUTE: a card we can talk to
	counter uint16 // pcsc-lite event counter (high 16 bits of dwEventState)
	atr     []byte // only meaningful when present
}

// stateOf reduces a reader's dwEventState and ATR to a cardState.
//
// pcsc-lite keeps a per-reader event counter in the high 16 bits of
// dwEventState and bumps it on every insertion and removal (platform notes
// §1.2, measured 0x00050022 → 0x00060012). Windows carries a count in the
// same place. The ATR slot is not cleared by ebfe/scard when the card leaves
// (update copies it only when cbAtr > 0), so it is ignored unless PRESENT.
func stateOf(ev scard.StateFlag, atr []byte) cardState {
	s := cardState{
		known:   true,
		present: ev&scard.StatePresent != 0 && ev&scard.StateMute == 0,
		counter: uint16(uint32(ev) >> 16),
	}
	if s.present && len(atr) > 0 {
		s.atr = append([]byte(nil), atr...)
	}
	return s
}

// transition returns the card events implied by going from prev to next, in
// order. It collapses everything that is not a change of presentation:
// INUSE/EXCLUSIVE/UNPOWERED flaps, repeated reports of the same card (the
// double touch-on events seen on Windows, platform notes §1.1) and states
// re-delivered after a timeout. A new presentation hidden between two
// observations (the counter moved by two or more, or the ATR changed, while
// present both times) is reported as CardRemoved then CardPresent, so that
// every presentation yields exactly one CardPresent.
//
// The first observation of a reader (prev unknown) yields CardPresent if a
// card is already there, and nothing else.
//
// The second result reports whether the counter shows that a whole
// presentation came and went unseen (absent both times, counter moved): it
// yields no events because there is no card left to talk to.
func transition(prev, next cardState) (kinds []EventKind, missed bool) {
	if !prev.known {
		if next.present {
			return []EventKind{CardPresent}, false
		}
		return nil, false
	}
	delta := next.counter - prev.counter // wraps correctly at 2^16
	switch {
	case !prev.present && next.present:
		return []EventKind{CardPresent}, false
	case prev.present && !next.present:
		return []EventKind{CardRemoved}, false
	case prev.present && next.present:
		if delta >= 2 || (len(prev.atr) > 0 && len(next.atr) > 0 && string(prev.atr) != string(next.atr)) {
			return []EventKind{CardRemoved, CardPresent}, false
		}
		return nil, false
	default:
		return nil, delta >= 2
	}
}
