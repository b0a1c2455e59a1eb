package store

import (
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/verdict"
)

const uidB = "04968CAA5C5E81"

// holdWrites makes the journal writes wait for release (each write takes
// one value) and counts them; fail, when set, fails the next write.
type holdWrites struct {
	release chan struct{}
	entered chan struct{} // a write waits for release
	writes  atomic.Int32
	fail    atomic.Pointer[error]
	once    sync.Once
}

// stop lets every write go at once.
func (h *holdWrites) stop() { h.once.Do(func() { close(h.release) }) }

func holdJournalWrites(t *testing.T) *holdWrites {
	h := &holdWrites{release: make(chan struct{}, 16), entered: make(chan struct{}, 16)}
	writeHook = func() error {
		h.entered <- struct{}{}
		<-h.release
		h.writes.Add(1)
		if e := h.fail.Swap(nil); e != nil {
			return *e
		}
		return nil
	}
	t.Cleanup(func() { h.stop(); writeHook = nil })
	return h
}

func isDone(c interface{ Wait() error }) bool {
	select {
	case <-c.(*Commit).Done():
		return true
	default:
		return false
	}
}

func waitDone(t *testing.T, c interface{ Wait() error }) {
	t.Helper()
	select {
	case <-c.(*Commit).Done():
	case <-time.After(5 * time.Second):
		t.Fatal("batch never done")
	}
}

// TestBeginPipelined: a batch begun while the previous one is being
// written is decided against that batch's marks; neither is durable, nor
// in HighWater, before its write; the batches queued behind a write go to
// disk together; all of them are in the journal, in order, after a crash.
func TestBeginPipelined(t *testing.T) {
	noCheckpoints(t)
	h := holdJournalWrites(t)
	dbPath := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(dbPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	v1 := []*verdict.Verdict{authentic(uidA, 5)}
	c1, err := s.Begin(ctx, v1)
	if err != nil {
		abandon(s)
		t.Fatal(err)
	}
	defer func() {
		if writeHook != nil { // a failed test: let the writes go
			h.stop()
			abandon(s)
		}
	}()
	<-h.entered // the flusher waits to write batch 1
	v2 := []*verdict.Verdict{authentic(uidA, 5), authentic(uidB, 1)}
	c2, err := s.Begin(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	v3 := []*verdict.Verdict{authentic(uidA, 6)}
	c3, err := s.Begin(ctx, v3)
	if err != nil {
		t.Fatal(err)
	}
	if v1[0].Verdict != verdict.Authentic || v2[0].Verdict != verdict.Replayed || v2[1].Verdict != verdict.Authentic || v3[0].Verdict != verdict.Authentic {
		t.Fatalf("decided %s, %s %s, %s; want authentic, replayed authentic, authentic",
			v1[0].Verdict, v2[0].Verdict, v2[1].Verdict, v3[0].Verdict)
	}
	time.Sleep(20 * time.Millisecond)
	if isDone(c1) || isDone(c2) || isDone(c3) {
		t.Fatal("a batch is done before its write")
	}
	if hw, err := s.HighWater(mustHex(t, uidA)); err != nil || hw.Valid {
		t.Errorf("HighWater before any write = %v, %v; want none", hw, err)
	}
	h.release <- struct{}{} // batch 1
	waitDone(t, c1)
	h.release <- struct{}{} // batches 2 and 3, queued during the first write
	waitDone(t, c3)
	for _, c := range []interface{ Wait() error }{c1, c2, c3} {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.writes.Load(); n != 2 {
		t.Errorf("%d journal writes for 3 batches, want 2 (the queued ones together)", n)
	}
	batches, _ := journalRecords(t, s.path)
	if len(batches) != 3 || batches[0].seq >= batches[1].seq || batches[1].seq >= batches[2].seq {
		t.Fatalf("journal: %d batches, want 3 in seq order", len(batches))
	}
	if batches[1].entries[0].Verdict != verdict.Replayed {
		t.Errorf("journaled %s for the replay in batch 2", batches[1].entries[0].Verdict)
	}
	// kill -9, then a start replays all three.
	abandon(s)
	writeHook = nil
	s2, err := Open(dbPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if hw, err := s2.HighWater(mustHex(t, uidA)); err != nil || hw.Value != 6 {
		t.Errorf("HighWater after the crash = %v, %v; want 6", hw, err)
	}
	if n, _ := auditLen(t, s2); n != 4 {
		t.Errorf("%d audit entries after the crash, want 4", n)
	}
}

// TestBeginPipelinedFailure: when a write fails, the batches decided
// while it was under way fail too, unwritten, with their verdicts
// restored; a batch begun after the failure is decided without the
// failed marks.
func TestBeginPipelinedFailure(t *testing.T) {
	noCheckpoints(t)
	s := openTemp(t, Options{})
	h := holdJournalWrites(t) // its cleanup runs before Close's
	ctx := context.Background()
	c1, err := s.Begin(ctx, []*verdict.Verdict{authentic(uidA, 5)})
	if err != nil {
		t.Fatal(err)
	}
	<-h.entered
	v2 := []*verdict.Verdict{authentic(uidA, 5), authentic(uidB, 1)}
	c2, err := s.Begin(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	if v2[0].Verdict != verdict.Replayed {
		t.Fatalf("batch 2 decided %s, want replayed", v2[0].Verdict)
	}
	diskFull := errors.New("disk full")
	h.fail.Store(&diskFull)
	h.release <- struct{}{}
	if err := c1.Wait(); !errors.Is(err, diskFull) {
		t.Errorf("Wait of the failed write = %v", err)
	}
	waitDone(t, c2) // without a write of its own
	if err := c2.Wait(); !errors.Is(err, errEarlierBatch) {
		t.Errorf("Wait of the batch behind it = %v, want errEarlierBatch", err)
	}
	if v2[0].Verdict != verdict.Authentic || v2[1].Verdict != verdict.Authentic {
		t.Errorf("batch 2 after the failure: %s %s; want as before Begin", v2[0].Verdict, v2[1].Verdict)
	}
	if n := h.writes.Load(); n != 1 {
		t.Errorf("%d writes; the batch behind the failed one must not be written", n)
	}
	if batches, _ := journalRecords(t, s.path); len(batches) != 0 {
		t.Errorf("journal after the failure: %d batches; want none", len(batches))
	}
	h.release <- struct{}{}
	v3 := []*verdict.Verdict{authentic(uidA, 5)}
	c3, err := s.Begin(ctx, v3)
	if err != nil {
		t.Fatal(err)
	}
	if err := c3.Wait(); err != nil || v3[0].Verdict != verdict.Authentic {
		t.Errorf("the same tap after the failure: %v, %s; want accepted", err, v3[0].Verdict)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
