package fleet

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/verdict"
)

// Fleet states of a verdict: the "fleet" member of verdict events and
// audit entries (verdict.Verdict.Fleet).
const (
	// StateConfirmed: the fleet answered the counter check in time; the
	// verdict (authentic or replayed) is the fleet's.
	StateConfirmed = verdict.FleetConfirmed
	// StateUnconfirmed: the fleet did not answer in time; the tap was
	// decided on this kiosk's own mark and the advance is queued.
	StateUnconfirmed = verdict.FleetUnconfirmed
	// StateOff: no fleet is configured.
	StateOff = verdict.FleetOff
)

// Field limits. A UID is 7 bytes on NTAG 424 DNA; the bounds leave room for
// other card families, like the local store's.
const (
	MaxUIDLen     = 32
	MaxProfileLen = 128
	MaxTapIDLen   = 128
)

// ErrInvalid is returned, wrapped, for an advance or tap that cannot be
// recorded: an empty or too long UID, a profile that is too long or not
// UTF-8, a time outside the years 1970–2262.
var ErrInvalid = errors.New("fleet: invalid record")

// Advance is one tap whose counter this kiosk wants to accept: the compare
// and advance of the high-water mark of (Profile, UID) to Ctr.
type Advance struct {
	Profile string
	UID     []byte
	Ctr     uint32
	// Time is when the kiosk read the tap; zero means when Check is
	// called. It is the "when" another kiosk's refusal reports.
	Time time.Time
	// Tap is the verdict's tap ID (verdict.Verdict.Tap): a LateReplay
	// carries it back so that the verdict.updated event names the tap. It
	// is not sent to the database.
	Tap string
	// Nonce identifies this advance in the fleet's row once accepted, so
	// that a resend whose first answer was lost recognises its own success
	// instead of reporting a replay. Check sets it when zero.
	Nonce uint64
}

func (a *Advance) validate() error {
	switch {
	case len(a.UID) == 0 || len(a.UID) > MaxUIDLen:
		return fmt.Errorf("%w: UID of %d bytes", ErrInvalid, len(a.UID))
	case !validText(a.Profile, MaxProfileLen):
		return fmt.Errorf("%w: profile name", ErrInvalid)
	case !validText(a.Tap, MaxTapIDLen):
		return fmt.Errorf("%w: tap ID", ErrInvalid)
	case !a.Time.IsZero() && !timeInRange(a.Time):
		return fmt.Errorf("%w: time %v out of range", ErrInvalid, a.Time)
	}
	return nil
}

// validText reports whether s can be stored as PostgreSQL text of at most
// max bytes: valid UTF-8 without NUL.
func validText(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// timeInRange reports whether t fits in int64 unix nanoseconds from 1970,
// the range the queue encoding and the local store share.
func timeInRange(t time.Time) bool {
	return !t.Before(time.Unix(0, 0)) && !t.After(time.Unix(0, 1<<63-1))
}

// Holder is the fleet's high-water mark of a tag: the highest counter any
// kiosk accepted, which kiosk, and when its tap happened (that kiosk's
// clock).
type Holder struct {
	Kiosk string
	Ctr   uint32
	Time  time.Time
}

// Result is the fleet's answer to one Advance.
type Result struct {
	// State is StateConfirmed when the fleet answered and StateUnconfirmed
	// when it did not in time: then the advance is queued and the caller
	// decides on its own mark.
	State string
	// Replayed reports whether the fleet refused the counter because a
	// kiosk already accepted it or a higher one (only when confirmed).
	Replayed bool
	// Holder is the fleet's mark after the check: on refusal, who holds it.
	Holder Holder
}

// Detail is the human text of a fleet_replay reason: which kiosk accepted
// which counter when. It carries no keys or MACs.
func (r Result) Detail(ctr uint32) string {
	return replayDetail(ctr, r.Holder)
}

func replayDetail(ctr uint32, h Holder) string {
	if h.Ctr == ctr {
		return fmt.Sprintf("counter %d was already accepted at kiosk %s at %s",
			ctr, h.Kiosk, h.Time.UTC().Format(verdict.TimeLayout))
	}
	return fmt.Sprintf("counter %d is not above %d, accepted at kiosk %s at %s",
		ctr, h.Ctr, h.Kiosk, h.Time.UTC().Format(verdict.TimeLayout))
}

// LateReplay reports a queued advance that the fleet refused once it could
// be reached: while this kiosk decided on its own mark, another kiosk had
// accepted that counter or a higher one. The daemon turns it into a
// verdict.updated event (replayed, fleet_replay) for the tap Advance.Tap.
type LateReplay struct {
	Advance Advance
	Holder  Holder
}

// Detail is the human text of the fleet_replay reason.
func (l LateReplay) Detail() string { return replayDetail(l.Advance.Ctr, l.Holder) }

// Overtaken reports whether the fleet's mark is a higher counter that
// another kiosk accepted after this tap happened (by the kiosks' clocks).
// That is also what a genuine tag does when it is tapped at an offline
// kiosk and then at an online one: the refusal shows an order the fleet
// could not see, not necessarily a clone. A refusal by the same counter,
// or by a higher one accepted before this tap, is a replay either way.
// The fleet keeps only the mark, not every accepted counter, so it cannot
// tell more (docs/fleet.md, "Reconciliation").
func (l LateReplay) Overtaken() bool {
	return l.Holder.Ctr > l.Advance.Ctr && l.Holder.Time.After(l.Advance.Time)
}
