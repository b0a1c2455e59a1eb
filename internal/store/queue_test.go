package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

func TestQueueOrderRemoveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.Queue("fleet_taps")
	if err != nil {
		t.Fatal(err)
	}
	if n, oldest, err := q.Stats(ctx); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty Stats = %d, %v, %v", n, oldest, err)
	}
	for i := range 5 {
		if err := q.Push(ctx, []byte(fmt.Sprint("a", i)), []byte(fmt.Sprint("b", i))); err != nil {
			t.Fatal(err)
		}
	}
	items, err := q.Peek(ctx, 3)
	if err != nil || len(items) != 3 || string(items[0].Value) != "a0" || string(items[2].Value) != "a1" || items[0].ID >= items[1].ID {
		t.Fatalf("Peek = %+v, %v", items, err)
	}
	if err := q.Remove(ctx, items[2].ID); err != nil {
		t.Fatal(err)
	}
	if err := q.Push(ctx, nil); !errors.Is(err, ErrQueueItem) {
		t.Fatalf("Push(empty) = %v", err)
	}
	s.Close()
	// What was pushed and not removed is there after a reopen; IDs go on.
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, _ = s.Queue("fleet_taps")
	n, oldest, err := q.Stats(ctx)
	if err != nil || n != 7 || oldest.IsZero() {
		t.Fatalf("Stats after reopen = %d, %v, %v", n, oldest, err)
	}
	if err := q.Push(ctx, []byte("c")); err != nil {
		t.Fatal(err)
	}
	items, _ = q.Peek(ctx, 100)
	if len(items) != 8 || string(items[0].Value) != "b1" || string(items[7].Value) != "c" || items[7].ID != 11 {
		t.Fatalf("after reopen: %d items, first %q, last %q id %d", len(items), items[0].Value, items[7].Value, items[7].ID)
	}
	if _, err := s.Queue("no/slash"); err == nil {
		t.Fatal("Queue accepted a bad name")
	}
}

func TestShipAuditSameCommit(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, Options{})
	q, _ := s.Queue("fleet_taps")
	s.ShipAudit(&AuditShipper{Queue: q, Encode: func(v *verdict.Verdict, id uint64) ([]byte, error) {
		if v.Reason == "skip" {
			return nil, nil
		}
		return []byte(fmt.Sprintf("%d %s %s", id, v.UID, v.Verdict)), nil
	}})
	tapOf := func(ctr uint32) *verdict.Verdict {
		return &verdict.Verdict{Reader: "r", UID: "04A1", Ctr: ntag424.CounterOf(ctr), Verdict: verdict.Authentic, Reason: verdict.ReasonOK}
	}
	if err := s.Record(ctx, []*verdict.Verdict{tapOf(5), tapOf(5), {UID: "04A1", Verdict: verdict.Counterfeit, Reason: "skip"}}); err != nil {
		t.Fatal(err)
	}
	// A failing encoder fails the whole record: no audit entry, no mark.
	s.ShipAudit(&AuditShipper{Queue: q, Encode: func(*verdict.Verdict, uint64) ([]byte, error) { return nil, errors.New("boom") }})
	if err := s.Record(ctx, []*verdict.Verdict{tapOf(9)}); err == nil {
		t.Fatal("Record with a failing encoder succeeded")
	}
	if m, _ := s.Mark("", []byte{0x04, 0xa1}); m.Value != 5 {
		t.Fatalf("mark = %v after a failed record, want 5", m)
	}
	s.ShipAudit(nil)
	if err := s.Record(ctx, []*verdict.Verdict{tapOf(10)}); err != nil {
		t.Fatal(err)
	}
	items, _ := q.Peek(ctx, 10)
	if len(items) != 2 || string(items[0].Value) != "1 04A1 authentic" || string(items[1].Value) != "2 04A1 replayed" || items[1].ID != 2 {
		t.Fatalf("shipped %+v", items)
	}
}
