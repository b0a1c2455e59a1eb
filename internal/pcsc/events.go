//go:build cgo || windows

package pcsc

import (
	"github.com/ebfe/scard"

	"github.com/nfcd/nfcd/internal/event"
)

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
// dwEventState and bumps it on every insertion and removal (pcsc-lite
// src/eventhandler.c; measured 0x00050022 → 0x00060012). Windows carries a count in the
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
// double touch-on events seen on Windows, danm-de/pcsc-sharp#71) and states
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
func transition(prev, next cardState) (kinds []event.Kind, missed bool) {
	if !prev.known {
		if next.present {
			return []event.Kind{event.CardPresent}, false
		}
		return nil, false
	}
	delta := next.counter - prev.counter // wraps correctly at 2^16
	switch {
	case !prev.present && next.present:
		return []event.Kind{event.CardPresent}, false
	case prev.present && !next.present:
		return []event.Kind{event.CardRemoved}, false
	case prev.present && next.present:
		if delta >= 2 || (len(prev.atr) > 0 && len(next.atr) > 0 && string(prev.atr) != string(next.atr)) {
			return []event.Kind{event.CardRemoved, event.CardPresent}, false
		}
		return nil, false
	default:
		return nil, delta >= 2
	}
}
