package store

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

// The tests of the counter rule were written against a check-and-advance
// call; these helpers express it through Record, the ledger interface.

// checkAndAdvance records an authentic tap of uid with counter ctr and
// reports whether it was accepted, and the high-water mark before it.
func checkAndAdvance(s *Store, uid []byte, ctr uint32) (accepted bool, prev uint32, err error) {
	if hw, err := s.HighWater(uid); err == nil {
		prev = hw.Value
	}
	v := &verdict.Verdict{Reader: "r", UID: strings.ToUpper(hex.EncodeToString(uid)), Ctr: ntag424.CounterOf(ctr),
		Verdict: verdict.Authentic, Reason: verdict.ReasonOK}
	if err := s.Record(context.Background(), []*verdict.Verdict{v}); err != nil {
		return false, prev, err
	}
	return v.Verdict == verdict.Authentic, prev, nil
}

// highWater is HighWater in the (counter, found, error) form.
func highWater(s *Store, uid []byte) (uint32, bool, error) {
	c, err := s.HighWater(uid)
	return c.Value, c.Valid, err
}

// record appends one audit entry (and applies the counter rule if it is an
// authentic tap with a counter).
func record(s *Store, e Entry) error { return s.write([]Entry{e}) }
