package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

// noCheckpoints keeps every batch in the journal for the rest of the test.
func noCheckpoints(t testing.TB) {
	old := checkpointDelay
	checkpointDelay = time.Hour
	t.Cleanup(func() { checkpointDelay = old })
}

func authentic(uid string, ctr uint32) *verdict.Verdict {
	return &verdict.Verdict{Reader: "r", UID: uid, Ctr: ntag424.CounterOf(ctr), Verdict: verdict.Authentic,
		Reason: verdict.ReasonOK, Profile: "p", Time: testBase.Add(time.Duration(ctr) * time.Millisecond)}
}

// abandon simulates a kill -9: the journal and bbolt are left as they are
// (bbolt's lock goes with the file descriptor).
func abandon(s *Store) {
	close(s.w.stop)
	<-s.w.stopped
	s.w.f.Close()
	s.db.Close()
}

const uidA = "04968CAA5C5E80"

// testBase is a recent time, which the audit log's age bound keeps.
var testBase = time.Now().UTC().Truncate(time.Second)

// TestJournalPendingIsVisible: before any checkpoint, the high-water rule,
// HighWater, Mark and Query see the journaled taps, in a writer and in a
// read-only opening after a crash; then Open replays them into bbolt.
func TestJournalPendingIsVisible(t *testing.T) {
	noCheckpoints(t)
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []uint32{5, 9} {
		if err := s.Record(ctx, []*verdict.Verdict{authentic(uidA, c)}); err != nil {
			t.Fatal(err)
		}
	}
	v := authentic(uidA, 9)
	if err := s.Record(ctx, []*verdict.Verdict{v}); err != nil || v.Verdict != verdict.Replayed {
		t.Fatalf("replay of a journaled counter: %v, %s; want replayed", err, v.Verdict)
	}
	check := func(s *Store, when string) {
		t.Helper()
		uid := []byte{0x04, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80}
		if hw, err := s.HighWater(uid); err != nil || hw != ntag424.CounterOf(9) {
			t.Errorf("%s: HighWater = %v, %v; want 9", when, hw, err)
		}
		if m, err := s.Mark("p", uid); err != nil || m != ntag424.CounterOf(9) {
			t.Errorf("%s: Mark(p) = %v, %v; want 9", when, m, err)
		}
		if m, err := s.Mark("other", uid); err != nil || m.Valid {
			t.Errorf("%s: Mark(other) = %v, %v; want none", when, m, err)
		}
		es, err := s.Query(Query{UID: uid})
		if err != nil || len(es) != 3 || es[0].Verdict != verdict.Replayed || es[1].Ctr.Value != 9 || es[2].Ctr.Value != 5 {
			t.Errorf("%s: Query = %+v, %v; want replayed 9, 9, 5", when, es, err)
		}
	}
	check(s, "writer")
	if batches, _ := journalRecords(t, path); len(batches) != 3 {
		t.Fatalf("journal: %d batches; want the three in it", len(batches))
	}
	abandon(s)

	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(ro, "read-only after a crash")
	ro.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.js.pending) != 0 {
		t.Errorf("after replay %d batches still pending", len(s.js.pending))
	}
	check(s, "replayed")
	if batches, _ := journalRecords(t, path); len(batches) != 0 {
		t.Errorf("journal after replay: %d batches; want none", len(batches))
	}
	// Replaying the same batches again (a crash between the checkpoint's
	// commit and the truncation) changes nothing.
	abandon(s)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(s, "reopened")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(JournalPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("journal after Close: %v; want removed", err)
	}
}

// TestJournalReplayIdempotent writes a journal whose batches bbolt already
// holds, as a crash after a checkpoint but before the truncation leaves it.
func TestJournalReplayIdempotent(t *testing.T) {
	noCheckpoints(t)
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for c := uint32(1); c <= 3; c++ {
		if err := s.Record(context.Background(), []*verdict.Verdict{authentic(uidA, c)}); err != nil {
			t.Fatal(err)
		}
	}
	saved, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(JournalPath(path), saved, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, count := auditLen(t, s); n != 3 || count != 3 {
		t.Errorf("audit log after a second replay: %d entries, count %d; want 3", n, count)
	}
	// New batches continue after the replayed ones.
	v := authentic(uidA, 4)
	if err := s.Record(context.Background(), []*verdict.Verdict{v}); err != nil || v.Verdict != verdict.Authentic {
		t.Fatalf("Record(4) = %v, %s", err, v.Verdict)
	}
}

// journalOf returns a journal file with three batches and the offsets
// where each record starts.
func journalOf(t *testing.T) ([]byte, []int) {
	var b []byte
	var starts []int
	for c := uint32(1); c <= 3; c++ {
		starts = append(starts, len(b))
		es, err := entriesOf([]*verdict.Verdict{authentic(uidA, c)})
		if err != nil {
			t.Fatal(err)
		}
		if b, err = encodeBatch(b, uint64(c), es); err != nil {
			t.Fatal(err)
		}
	}
	return b, starts
}

// TestJournalTornTail: a record cut short or garbled at the end of the
// journal (the write a crash interrupted, never acknowledged) is ignored;
// damage before the end is ErrJournalCorrupt inside an ErrCorrupt
// OpenError, never a panic.
func TestJournalTornTail(t *testing.T) {
	full, starts := journalOf(t)
	last := starts[2]
	tests := []struct {
		name    string
		file    []byte
		want    int // batches replayed; -1: corrupt
		corrupt bool
	}{
		{"intact", full, 3, false},
		{"cut in the header", full[:last+5], 2, false},
		{"cut in the payload", full[:len(full)-3], 2, false},
		{"last payload garbled", append(append([]byte{}, full[:len(full)-1]...), full[len(full)-1]^0xFF), 2, false},
		{"zeros after the end", append(append([]byte{}, full...), make([]byte, 64)...), 3, false},
		{"zeros instead of the last record", append(append([]byte{}, full[:last]...), make([]byte, len(full)-last)...), 2, false},
		{"first record garbled", func() []byte {
			b := append([]byte{}, full...)
			b[10] ^= 0xFF
			return b
		}(), -1, true},
		{"impossible length", func() []byte {
			b := append([]byte{}, full...)
			be.PutUint32(b[starts[1]:], 1<<30)
			return b
		}(), -1, true},
		{"batches out of order", func() []byte {
			b := append([]byte{}, full[starts[1]:]...)
			return append(b, full[:starts[1]]...)
		}(), -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noCheckpoints(t)
			path := filepath.Join(t.TempDir(), "nfcd.db")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.WriteFile(JournalPath(path), tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = Open(path, Options{})
			if tc.corrupt {
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrJournalCorrupt) {
					t.Fatalf("Open = %v; want ErrCorrupt and ErrJournalCorrupt", err)
				}
				var oe *OpenError
				if !errors.As(err, &oe) || oe.Path != JournalPath(path) {
					t.Errorf("Open = %v; want an OpenError naming the journal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, _ := auditLen(t, s); n != tc.want {
				t.Errorf("replayed %d taps, want %d", n, tc.want)
			}
			hw, err := s.HighWater([]byte{0x04, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80})
			if err != nil || hw.Value != uint32(tc.want) {
				t.Errorf("HighWater = %v, %v; want %d", hw, err, tc.want)
			}
			// Taps after a torn tail are journaled after it was cut.
			v := authentic(uidA, 10)
			if err := s.Record(context.Background(), []*verdict.Verdict{v}); err != nil || v.Verdict != verdict.Authentic {
				t.Fatalf("Record after replay = %v, %s", err, v.Verdict)
			}
			if batches, _ := journalRecords(t, path); len(batches) != 1 {
				t.Errorf("journal after a new tap: %d batches, want 1", len(batches))
			}
		})
	}
}

// TestBeginOverlapsAndRestores: Begin settles the verdicts before the
// write is durable; Wait makes them durable; a failed write restores them
// and leaves the journal as it was.
func TestBeginOverlapsAndRestores(t *testing.T) {
	noCheckpoints(t)
	s := openTemp(t, Options{})
	ctx := context.Background()
	if err := s.Record(ctx, []*verdict.Verdict{authentic(uidA, 7)}); err != nil {
		t.Fatal(err)
	}
	vs := []*verdict.Verdict{authentic(uidA, 7), authentic(uidA, 8), authentic(uidA, 8)}
	c, err := s.Begin(ctx, vs)
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Verdict != verdict.Replayed || vs[1].Verdict != verdict.Authentic || vs[2].Verdict != verdict.Replayed {
		t.Errorf("after Begin: %s %s %s; want replayed authentic replayed", vs[0].Verdict, vs[1].Verdict, vs[2].Verdict)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	size := s.w.off

	// A write that fails: the journal file is closed under the writer.
	vs = []*verdict.Verdict{authentic(uidA, 9)}
	f := s.w.f
	ro, err := os.Open(JournalPath(s.path))
	if err != nil {
		t.Fatal(err)
	}
	s.w.f = ro
	c, err = s.Begin(ctx, vs)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err == nil {
		t.Fatal("Wait of a failed write = nil")
	}
	if vs[0].Verdict != verdict.Authentic || vs[0].Reason != verdict.ReasonOK {
		t.Errorf("after a failed write: %s/%s; want the verdict as it was", vs[0].Verdict, vs[0].Reason)
	}
	ro.Close()
	s.w.f = f
	if _, used := journalRecords(t, s.path); used != int(size) {
		t.Errorf("journal holds %d bytes of records after a failed write, want %d", used, size)
	}
	if err := s.Record(ctx, vs); err != nil || vs[0].Verdict != verdict.Authentic {
		t.Errorf("the same tap after the failure: %v, %s; want accepted", err, vs[0].Verdict)
	}
}

func FuzzParseJournal(f *testing.F) {
	var b []byte
	for c := uint32(1); c <= 2; c++ {
		es, _ := entriesOf([]*verdict.Verdict{authentic(uidA, c), {Reader: "r", Verdict: verdict.Counterfeit, Reason: "bad_mac", Time: testBase}})
		b, _ = encodeBatch(b, uint64(c), es)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		batches, n, err := parseJournal(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("intact prefix %d of %d bytes", n, len(b))
		}
		// What parses re-encodes to the same bytes.
		var again []byte
		for _, jb := range batches {
			if again, err = encodeBatch(again, jb.seq, jb.entries); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
		}
		if string(again) != string(b[:n]) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func TestBeginAfterClose(t *testing.T) {
	s := openTemp(t, Options{})
	s.Close()
	for _, v := range []*verdict.Verdict{authentic(uidA, 1), {Reader: "r", Verdict: verdict.Counterfeit, Reason: "bad_mac"}} {
		if _, err := s.Begin(context.Background(), []*verdict.Verdict{v}); !errors.Is(err, ErrClosed) {
			t.Errorf("Begin after Close = %v, want ErrClosed", err)
		}
		if err := s.Record(context.Background(), []*verdict.Verdict{v}); !errors.Is(err, ErrClosed) {
			t.Errorf("Record after Close = %v, want ErrClosed", err)
		}
	}
}

// TestRestartMarksOverJournal: a restart of a tag's marks is not undone by
// journaled taps of its earlier life, neither at once, nor by the
// checkpoint, nor by a replay after a crash.
func TestRestartMarksOverJournal(t *testing.T) {
	noCheckpoints(t)
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	uid := []byte{0x04, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80}
	if err := s.Record(context.Background(), []*verdict.Verdict{authentic(uidA, 70)}); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.RestartMarks(uid, "p", ntag424.CounterOf(1)); err != nil || prev != ntag424.CounterOf(70) {
		t.Fatalf("RestartMarks = %v, %v; want the journaled mark 70", prev, err)
	}
	v := authentic(uidA, 2)
	if err := s.Record(context.Background(), []*verdict.Verdict{v}); err != nil || v.Verdict != verdict.Authentic {
		t.Fatalf("tap 2 after the restart: %v, %s; want authentic", err, v.Verdict)
	}
	abandon(s)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if hw, err := s.HighWater(uid); err != nil || hw != ntag424.CounterOf(2) {
		t.Errorf("HighWater after replay = %v, %v; want 2", hw, err)
	}
}

// journalRecords parses the journal beside the database at path: its
// batches and the length of its records, which only zeros may follow.
func journalRecords(t *testing.T, path string) ([]jbatch, int) {
	t.Helper()
	b, err := os.ReadFile(JournalPath(path))
	if err != nil {
		t.Fatal(err)
	}
	batches, n, err := parseJournal(b)
	if err != nil {
		t.Fatalf("journal: %v", err)
	}
	if !allZero(b[n:]) {
		t.Fatalf("journal: %d bytes after the records are not zeros", len(b)-n)
	}
	return batches, n
}

// TestJournalLayout: the journal is laid out as zeros the records are
// written over; a checkpoint leaves the records (the next start skips
// their batches) until they fill half of it, then lays it out again; a
// crash after a checkpoint replays only what bbolt lacks.
func TestJournalLayout(t *testing.T) {
	noCheckpoints(t)
	old := journalSize
	journalSize = 1024
	t.Cleanup(func() { journalSize = old })
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(JournalPath(path)); err != nil || fi.Size() != journalSize {
		t.Fatalf("journal at open: %v, %v; want %d zeros", fi, err, journalSize)
	}
	ctx := context.Background()
	record := func(c uint32) {
		t.Helper()
		v := authentic(uidA, c)
		if err := s.Record(ctx, []*verdict.Verdict{v}); err != nil || v.Verdict != verdict.Authentic {
			t.Fatalf("Record(%d) = %v, %s", c, err, v.Verdict)
		}
	}
	record(1)
	record(2)
	if !s.checkpointNow() {
		t.Fatal("checkpoint did not complete")
	}
	if batches, used := journalRecords(t, path); len(batches) != 2 || int64(used) != s.w.off {
		t.Fatalf("after a checkpoint: %d batches in %d bytes (off %d); want the two left in place", len(batches), used, s.w.off)
	}
	record(3)
	// A crash now: bbolt holds 1 and 2, the journal 1, 2 and 3.
	abandon(s)
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if n, count := auditLen(t, s); n != 3 || count != 3 {
		t.Errorf("after the crash: %d audit entries, count %d; want 3", n, count)
	}
	for c := uint32(4); s.w.off < journalSize/2; c++ {
		record(c)
	}
	if !s.checkpointNow() {
		t.Fatal("checkpoint did not complete")
	}
	if batches, used := journalRecords(t, path); len(batches) != 0 || used != 0 || s.w.off != 0 {
		t.Errorf("after a checkpoint past half: %d batches in %d bytes (off %d); want the journal laid out again", len(batches), used, s.w.off)
	}
	if fi, err := os.Stat(JournalPath(path)); err != nil || fi.Size() != journalSize {
		t.Errorf("journal laid out again: %v, %v; want %d zeros", fi, err, journalSize)
	}
	record(100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
