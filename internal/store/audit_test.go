package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

func auditLen(t *testing.T, s *Store) (entries int, count uint64) {
	t.Helper()
	s.db.View(func(tx *bolt.Tx) error {
		entries = tx.Bucket(bucketAudit).Stats().KeyN
		count = auditCount(tx.Bucket(bucketMeta))
		return nil
	})
	return entries, count
}

func TestRecordQueryRoundTrip(t *testing.T) {
	clk := newFakeClock()
	s := openTemp(t, Options{Now: clk.Now})
	want := []Entry{
		{Time: clk.Now(), Reader: "ACS ACR1252 1S CL Reader PICC 0", UID: []byte{4, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80}, Ctr: ntag424.CounterOf(0x3D), Verdict: "valid", Reason: ""},
		{Time: clk.Now().Add(time.Millisecond), Reader: "Virtual PCD 00 00", UID: nil, Verdict: "no_uid", Reason: "GET DATA: status 6A81"},
		{Time: clk.Now().Add(2 * time.Millisecond), Reader: "r", UID: []byte{1}, Ctr: ntag424.CounterOf(0), Verdict: "replayed", Reason: "counter 0 ≤ high-water mark 0 — ünïcode"},
	}
	for _, e := range want {
		if err := record(s, e); err != nil {
			t.Fatalf("Record(%+v): %v", e, err)
		}
	}
	got, err := s.Query(Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Query returned %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		w := want[len(want)-1-i] // newest first
		if !got[i].Time.Equal(w.Time) {
			t.Errorf("entry %d: Time = %v, want %v", i, got[i].Time, w.Time)
		}
		got[i].Time, w.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], w)
		}
	}
}

func TestRecordDefaultsTime(t *testing.T) {
	clk := newFakeClock()
	s := openTemp(t, Options{Now: clk.Now})
	if err := record(s, Entry{Verdict: "valid"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Query(Query{})
	if len(got) != 1 || !got[0].Time.Equal(clk.Now()) {
		t.Errorf("Query = %+v, want one entry at %v", got, clk.Now())
	}
}

func TestRecordInvalid(t *testing.T) {
	s := openTemp(t, Options{})
	tests := []struct {
		name string
		e    Entry
	}{
		{"before 1970", Entry{Time: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), Verdict: "valid"}},
		{"after 2262", Entry{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Verdict: "valid"}},
		{"long UID", Entry{UID: make([]byte, MaxUIDLen+1), Verdict: "valid"}},
		{"long reader", Entry{Reader: strings.Repeat("r", MaxReaderLen+1), Verdict: "valid"}},
		{"reader not UTF-8", Entry{Reader: "\xff", Verdict: "valid"}},
		{"long verdict", Entry{Verdict: strings.Repeat("v", MaxVerdictLen+1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := record(s, tc.e); !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("Record(%s) = %v, want ErrInvalidEntry", tc.name, err)
			}
		})
	}
	if got, _ := s.Query(Query{}); len(got) != 0 {
		t.Errorf("Query after rejected records = %d entries, want 0", len(got))
	}
}

func TestRecordTruncatesReason(t *testing.T) {
	s := openTemp(t, Options{})
	long := strings.Repeat("é", MaxReasonLen) // 2 bytes per rune
	if err := record(s, Entry{Verdict: "error", Reason: long}); err != nil {
		t.Fatal(err)
	}
	if err := record(s, Entry{Verdict: "error", Reason: "bad \xff byte"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Query(Query{})
	if len(got) != 2 {
		t.Fatalf("Query = %d entries, want 2", len(got))
	}
	if r := got[1].Reason; len(r) != MaxReasonLen || r != long[:MaxReasonLen] {
		t.Errorf("long reason stored as %d bytes, want the first %d", len(r), MaxReasonLen)
	}
	if r := got[0].Reason; r != "bad \uFFFD byte" {
		t.Errorf("invalid UTF-8 reason stored as %q", r)
	}
}

func TestPruneByAge(t *testing.T) {
	clk := newFakeClock()
	s := openTemp(t, Options{Now: clk.Now, MaxAge: time.Hour, MaxEntries: -1})
	// One entry every 10 minutes for 3 hours.
	for range 18 {
		if err := record(s, Entry{Verdict: "valid"}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Minute)
	}
	// Record pruned as it went: only the last hour is left.
	got, _ := s.Query(Query{Limit: 100})
	cutoff := clk.Now().Add(-10 * time.Minute).Add(-time.Hour)
	for _, e := range got {
		if e.Time.Before(cutoff) {
			t.Errorf("entry at %v survived, cutoff %v", e.Time, cutoff)
		}
	}
	if len(got) != 7 {
		t.Errorf("after 3h of entries with MaxAge 1h: %d entries, want 7", len(got))
	}
	// With no new taps, Prune ages the rest out.
	clk.Advance(2 * time.Hour)
	n, err := s.Prune()
	if err != nil || n != 7 {
		t.Errorf("Prune() = %d, %v; want 7, nil", n, err)
	}
	if entries, count := auditLen(t, s); entries != 0 || count != 0 {
		t.Errorf("after Prune: %d entries, count %d; want 0, 0", entries, count)
	}
}

func TestPruneByCount(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{Now: clk.Now, MaxEntries: 50, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		if err := record(s, Entry{Verdict: "valid", Reason: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	if entries, count := auditLen(t, s); entries != 50 || count != 50 {
		t.Errorf("after 120 records with MaxEntries 50: %d entries, count %d; want 50, 50", entries, count)
	}
	got, _ := s.Query(Query{Limit: 1000})
	if len(got) != 50 || got[0].Reason != "119" || got[49].Reason != "70" {
		t.Errorf("Query kept %d entries from %q to %q, want 50 from \"119\" to \"70\"",
			len(got), got[0].Reason, got[len(got)-1].Reason)
	}
	s.Close()

	// Lowering MaxEntries takes effect when the store opens, beyond one
	// transaction's worth of deletions.
	s, err = Open(path, Options{Now: clk.Now, MaxEntries: 10, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if entries, count := auditLen(t, s); entries != 10 || count != 10 {
		t.Errorf("after reopen with MaxEntries 10: %d entries, count %d; want 10, 10", entries, count)
	}
}

func TestPruneLargeBacklog(t *testing.T) {
	clk := newFakeClock()
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{Now: clk.Now, MaxEntries: -1, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*maxPrunePerTx + 17
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		v, _ := appendEntry(nil, &Entry{Time: clk.Now(), Verdict: "valid"})
		for i := range n {
			if err := b.Put(auditKey(clk.Now().UnixNano()+int64(i), uint64(i)), v); err != nil {
				return err
			}
		}
		return putAuditCount(tx.Bucket(bucketMeta), n)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{Now: clk.Now, MaxEntries: 5, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if entries, count := auditLen(t, s); entries != 5 || count != 5 {
		t.Errorf("after Open with MaxEntries 5 over %d entries: %d entries, count %d; want 5, 5", n, entries, count)
	}
}

func TestQueryFilters(t *testing.T) {
	clk := newFakeClock()
	start := clk.Now()
	s := openTemp(t, Options{Now: clk.Now})
	uidA := []byte{4, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA}
	uidB := []byte{4, 0xBB, 0xBB, 0xBB, 0xBB, 0xBB, 0xBB}
	// Entry i is at start+i minutes; even i is uidA, odd i is uidB, every
	// fifth has no UID.
	for i := range 20 {
		e := Entry{Verdict: "valid", Reason: fmt.Sprint(i)}
		switch {
		case i%5 == 4:
		case i%2 == 0:
			e.UID = uidA
		default:
			e.UID = uidB
		}
		if err := record(s, e); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
	}
	tests := []struct {
		name string
		q    Query
		want []string // Reasons, newest first
	}{
		{"all", Query{Limit: 100}, []string{"19", "18", "17", "16", "15", "14", "13", "12", "11", "10", "9", "8", "7", "6", "5", "4", "3", "2", "1", "0"}},
		{"limit", Query{Limit: 3}, []string{"19", "18", "17"}},
		{"since", Query{Since: start.Add(16 * time.Minute)}, []string{"19", "18", "17", "16"}},
		{"since between entries", Query{Since: start.Add(16*time.Minute + time.Second)}, []string{"19", "18", "17"}},
		{"since future", Query{Since: start.Add(time.Hour)}, nil},
		{"UID A", Query{UID: uidA}, []string{"18", "16", "12", "10", "8", "6", "2", "0"}},
		{"UID B limit", Query{UID: uidB, Limit: 4}, []string{"17", "15", "13", "11"}},
		{"UID B since", Query{UID: uidB, Since: start.Add(12 * time.Minute)}, []string{"17", "15", "13"}},
		{"no UID", Query{UID: []byte{}}, []string{"19", "14", "9", "4"}},
		{"unknown UID", Query{UID: []byte{1, 2, 3}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Query(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, e := range got {
				reasons = append(reasons, e.Reason)
			}
			if !reflect.DeepEqual(reasons, tc.want) {
				t.Errorf("Query(%s) = %q, want %q", tc.name, reasons, tc.want)
			}
		})
	}
}

func TestQueryDefaultLimit(t *testing.T) {
	s := openTemp(t, Options{})
	for range DefaultQueryLimit + 5 {
		if err := record(s, Entry{Verdict: "valid"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Query(Query{}); len(got) != DefaultQueryLimit {
		t.Errorf("Query{} returned %d entries, want %d", len(got), DefaultQueryLimit)
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, e := range []Entry{
		{Verdict: "valid"},
		{Reader: "ACS ACR1252", UID: []byte{4, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80}, Ctr: ntag424.CounterOf(0x3D), Verdict: "valid", Reason: "ok"},
		{UID: []byte{1}, Ctr: ntag424.CounterOf(0xFFFFFFFF), Verdict: "replayed", Reason: "ünïcode"},
	} {
		e.Time = time.Unix(1, 0)
		v, err := appendEntry(nil, &e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0x80, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 7, 1, 0x04, 1, 'r', 1, 'a', 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := parseEntry(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || !reflect.DeepEqual(r, rawEntry{}) {
				t.Fatalf("parseEntry(%x) = %+v, %v; want zero value and ErrCorrupt", v, r, err)
			}
			return
		}
		e := r.entry(1e9)
		again, err := appendEntry(nil, &e)
		if err != nil {
			t.Fatalf("appendEntry(parseEntry(%x)) = %v", v, err)
		}
		if v[0] == entryFormat1 {
			// Format 1 re-encodes as the current format, with the same fields.
			r2, err := parseEntry(again)
			if err != nil || !reflect.DeepEqual(r2.entry(1e9), e) {
				t.Fatalf("parseEntry(%x) re-encodes as %x, which parses as %+v, %v", v, again, r2, err)
			}
			return
		}
		if !bytes.Equal(again, v) {
			t.Fatalf("parseEntry(%x) re-encodes as %x", v, again)
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "nfcd.db"), Options{MaxEntries: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := Entry{Reader: "ACS ACR1252 1S CL Reader PICC 0", UID: []byte{4, 1, 2, 3, 4, 5, 6}, Ctr: ntag424.CounterOf(7), Verdict: "valid"}
	b.ReportAllocs()
	for b.Loop() {
		if err := record(s, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueryUID(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "nfcd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 10_000
	s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAudit)
		for i := range n {
			e := Entry{Time: time.Now(), UID: []byte{4, byte(i), 2, 3, 4, 5, 6}, Verdict: "valid"}
			v, _ := appendEntry(nil, &e)
			bk.Put(auditKey(e.Time.UnixNano(), uint64(i)), v)
		}
		return putAuditCount(tx.Bucket(bucketMeta), n)
	})
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.Query(Query{UID: []byte{4, 7, 2, 3, 4, 5, 6}, Limit: 1000})
		if err != nil || len(got) != n/256+1 {
			b.Fatalf("Query = %d entries, %v", len(got), err)
		}
	}
}

// TestRecordVerdicts checks the ledger: the counter rule and the audit
// entries of a batch in one transaction, replays rewritten in place.
func TestRecordVerdicts(t *testing.T) {
	s := openTemp(t, Options{})
	uid := []byte{4, 1, 2, 3, 4, 5, 6}
	tap := func(ctr uint32) *verdict.Verdict {
		return &verdict.Verdict{Reader: "r", UID: "04010203040506", Ctr: ntag424.CounterOf(ctr), Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Profile: "p"}
	}
	// One batch: the rule applies in order within it.
	batch := []*verdict.Verdict{tap(5), tap(5), tap(4), tap(9),
		{Reader: "r", UID: "04010203040506", Verdict: verdict.Counterfeit, Reason: verdict.ReasonBadMAC},
		{Reader: "r", UID: "04010203040506", Verdict: verdict.Authentic, Reason: verdict.ReasonOK}, // no counter mirrored
	}
	if err := s.Record(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	wantVerdicts := []string{verdict.Authentic, verdict.Replayed, verdict.Replayed, verdict.Authentic, verdict.Counterfeit, verdict.Authentic}
	for i, v := range batch {
		if v.Verdict != wantVerdicts[i] {
			t.Errorf("verdict %d = %s, want %s", i, v.Verdict, wantVerdicts[i])
		}
	}
	if batch[1].Reason != verdict.ReasonReplayedCounter || batch[1].Detail != "counter 5 is not above 5, already accepted for this tag" {
		t.Errorf("replay = %s (%s), want replayed_counter with both counters", batch[1].Reason, batch[1].Detail)
	}
	if hw, _ := s.HighWater(uid); hw != ntag424.CounterOf(9) {
		t.Errorf("high water = %s, want 9", hw)
	}
	es, err := s.Query(Query{UID: uid})
	if err != nil || len(es) != len(batch) {
		t.Fatalf("Query = %d entries, %v; want %d", len(es), err, len(batch))
	}
	for i, e := range es { // newest first
		v := batch[len(batch)-1-i]
		if e.Verdict != v.Verdict || e.Reason != v.Reason || e.Detail != v.Detail || e.Profile != v.Profile || e.Ctr != v.Ctr {
			t.Errorf("entry %d = %+v, want the verdict %+v", i, e, v)
		}
	}
	// A verdict that cannot be recorded fails the whole batch, and none of
	// the verdicts change.
	bad := []*verdict.Verdict{tap(20), {Reader: "r", UID: "not hex", Verdict: verdict.Malformed}}
	if err := s.Record(context.Background(), bad); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("Record(bad UID) = %v, want ErrInvalidEntry", err)
	}
	if hw, _ := s.HighWater(uid); hw != ntag424.CounterOf(9) {
		t.Errorf("high water after a failed batch = %s, want 9", hw)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Record(ctx, []*verdict.Verdict{tap(30)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Record(canceled) = %v, want context.Canceled", err)
	}
}
