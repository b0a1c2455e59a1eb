package store

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

func TestRestartMarks(t *testing.T) {
	s := openTemp(t, Options{})
	uid := []byte{0x04, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80}
	other := uid[:4] // a UID that is a prefix of uid keeps its mark
	tap := func(u []byte, profile string, ctr uint32) string {
		t.Helper()
		v := &verdict.Verdict{Reader: "r", UID: strings.ToUpper(hex.EncodeToString(u)), Ctr: ntag424.CounterOf(ctr),
			Profile: profile, Verdict: verdict.Authentic, Reason: verdict.ReasonOK}
		if err := s.Record(context.Background(), []*verdict.Verdict{v}); err != nil {
			t.Fatal(err)
		}
		return v.Verdict
	}
	tap(uid, "old", 70)
	tap(uid, "new", 50)
	tap(other, "new", 9)

	prev, err := s.RestartMarks(uid, "new", ntag424.CounterOf(1))
	if err != nil || prev != ntag424.CounterOf(70) {
		t.Fatalf("RestartMarks = %v, %v; want the old mark 70", prev, err)
	}
	for _, c := range []struct {
		uid     []byte
		profile string
		ctr     uint32
		want    string
	}{
		{uid, "new", 1, verdict.Replayed},   // the personalisation's own read
		{uid, "new", 2, verdict.Authentic},  // the tag's next tap
		{uid, "old", 3, verdict.Authentic},  // the old profile's mark is gone too
		{other, "new", 9, verdict.Replayed}, // another tag keeps its mark
	} {
		if got := tap(c.uid, c.profile, c.ctr); got != c.want {
			t.Errorf("tap %X/%s ctr %d after restart = %s, want %s", c.uid, c.profile, c.ctr, got, c.want)
		}
	}

	// A reset tag (no counter) has no mark at all afterwards.
	if _, err := s.RestartMarks(uid, "", ntag424.Counter{}); err != nil {
		t.Fatal(err)
	}
	if hw, err := s.HighWater(uid); err != nil || hw.Valid {
		t.Errorf("HighWater after a restart without counter = %v, %v; want none", hw, err)
	}
	if _, err := s.RestartMarks(nil, "", ntag424.Counter{}); err == nil {
		t.Error("RestartMarks of an empty UID: no error")
	}
}
