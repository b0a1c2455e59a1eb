package fleet

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// Limits of the text fields of a Tap. Longer values are truncated when the
// tap is shipped: an audit row is never refused for its text.
const (
	MaxReaderLen  = 256
	MaxVerdictLen = 64
	MaxReasonLen  = 64
	MaxDetailLen  = 1024
	MaxKeyIDLen   = 64
	MaxStateLen   = 16
)

// Tap is one audit entry of a kiosk as the fleet stores it: the verdict
// nfcd reached for one tap.
type Tap struct {
	// Kiosk recorded the tap. Ship sets it to the client's kiosk.
	Kiosk string
	// ID is the verdict's tap ID (verdict.Verdict.Tap), which links the
	// row to the tag.read and verdict.updated events of the tap.
	ID string
	// Seq is the kiosk's audit sequence number. (Kiosk, Time, Seq) is the
	// idempotent key: shipping the same entry again adds nothing.
	Seq  uint64
	Time time.Time // the kiosk's time of the tap; the fleet keeps microseconds
	// Reader is the PC/SC reader name.
	Reader  string
	Profile string
	UID     []byte // nil when the UID could not be read
	Ctr     ntag424.Counter
	Verdict string // verdict name (internal/verdict)
	Reason  string // reason code
	Detail  string // human detail of the reason
	KeyID   string // ID of the key that signed the verdict
	Fleet   string // fleet state: StateConfirmed, StateUnconfirmed or StateOff
}

// prepare validates t for shipping and makes its text storable.
func (t *Tap) prepare(kiosk string) error {
	switch {
	case t.Seq > math.MaxInt64:
		return fmt.Errorf("%w: sequence number %d", ErrInvalid, t.Seq)
	case t.Time.IsZero() || !timeInRange(t.Time):
		return fmt.Errorf("%w: time %v out of range", ErrInvalid, t.Time)
	case len(t.UID) > MaxUIDLen:
		return fmt.Errorf("%w: UID of %d bytes", ErrInvalid, len(t.UID))
	}
	t.Kiosk = kiosk
	t.Reader = cleanText(t.Reader, MaxReaderLen)
	t.Profile = cleanText(t.Profile, MaxProfileLen)
	t.Verdict = cleanText(t.Verdict, MaxVerdictLen)
	t.Reason = cleanText(t.Reason, MaxReasonLen)
	t.Detail = cleanText(t.Detail, MaxDetailLen)
	t.KeyID = cleanText(t.KeyID, MaxKeyIDLen)
	t.Fleet = cleanText(t.Fleet, MaxStateLen)
	t.ID = cleanText(t.ID, MaxTapIDLen)
	return nil
}

// cleanText makes s storable as PostgreSQL text: invalid UTF-8 and NUL
// become U+FFFD, and it is cut to at most n bytes without splitting a rune.
func cleanText(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
