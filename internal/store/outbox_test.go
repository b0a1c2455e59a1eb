package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

func outboxItem(tap, ctr string) *OutboxItem {
	return &OutboxItem{
		Tap: tap, UID: "041E3C8A2D6B80", Ctr: ctr, CMAC: "4B00064004B0B3D3", Mode: "confirm", Local: "authentic",
		Verdict: OutboxVerdict{Reader: "r", UID: "041E3C8A2D6B80", URL: "https://x.example/?uid=041E3C8A2D6B80", Verdict: "authentic",
			Reason: "ok", Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Remote: "pending"},
		State: OutboxQueued, Created: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestOutboxLifecycle(t *testing.T) {
	clock := newFakeClock()
	s := openTemp(t, Options{Now: clock.Now, MaxAge: -1})
	a, b, c := outboxItem("t-1", "000006"), outboxItem("t-2", "000007"), outboxItem("t-3", "000008")
	if err := s.AddOutbox([]*OutboxItem{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOutbox([]*OutboxItem{c}); err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || !(a.ID < b.ID && b.ID < c.ID) {
		t.Fatalf("IDs %d %d %d: want increasing from 1", a.ID, b.ID, c.ID)
	}
	items, err := s.Outbox()
	if err != nil || len(items) != 3 || items[0].Tap != "t-1" || items[2].Tap != "t-3" || items[1].ID != b.ID {
		t.Fatalf("Outbox() = %+v, %v", items, err)
	}
	if items[0].CMAC != a.CMAC || items[0].Verdict.URL != a.Verdict.URL || !items[0].Created.Equal(a.Created) {
		t.Errorf("item did not round-trip: %+v", items[0])
	}

	b.State, b.Attempts, b.SentAt, b.LastError = OutboxAttempting, 1, clock.Now(), "timeout"
	if err := s.PutOutbox(b); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.OutboxItemByID(b.ID)
	if err != nil || !ok || got.State != OutboxAttempting || got.Attempts != 1 || !got.SentAt.Equal(b.SentAt) || got.LastError != "timeout" {
		t.Errorf("OutboxItemByID = %+v, %v, %v", got, ok, err)
	}

	e := Entry{Time: clock.Now(), Reader: "r", UID: []byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}, Verdict: "authentic", Reason: "ok", Detail: "remote: authentic"}
	for i, want := range []bool{true, false} {
		settled, err := s.SettleOutbox(b.ID, e)
		if err != nil || settled != want {
			t.Fatalf("SettleOutbox #%d = %v, %v; want %v", i+1, settled, err, want)
		}
	}
	es, _ := s.Query(Query{})
	if len(es) != 1 || es[0].Detail != "remote: authentic" {
		t.Errorf("audit after settling twice: %+v, want exactly one entry", es)
	}
	if err := s.PutOutbox(b); !errors.Is(err, ErrOutboxGone) {
		t.Errorf("PutOutbox of a settled item = %v, want ErrOutboxGone", err)
	}
	if _, ok, _ := s.OutboxItemByID(b.ID); ok {
		t.Error("settled item still there")
	}
	items, _ = s.Outbox()
	if len(items) != 2 || items[0].ID != a.ID || items[1].ID != c.ID {
		t.Errorf("Outbox() after settle = %+v", items)
	}
	// A bad audit entry writes nothing, not even the deletion.
	if _, err := s.SettleOutbox(a.ID, Entry{Time: clock.Now(), Reader: string([]byte{0xff})}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("SettleOutbox with a bad entry = %v, want ErrInvalidEntry", err)
	}
	if _, ok, _ := s.OutboxItemByID(a.ID); !ok {
		t.Error("a failed settle removed the item")
	}
}

// TestOutboxSurvivesReopen: the outbox is in the file, and a store written
// before the outbox existed gets the bucket on its next writable opening
// and reads as empty when opened read-only.
func TestOutboxSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	it := outboxItem("t-1", "000006")
	if err := s.AddOutbox([]*OutboxItem{it}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.Outbox()
	if err != nil || len(items) != 1 || items[0].Tap != "t-1" {
		t.Fatalf("Outbox after reopen = %+v, %v", items, err)
	}
	// Make it a version-2 file from before the outbox.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketOutbox) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if items, err := ro.Outbox(); err != nil || len(items) != 0 {
		t.Errorf("read-only Outbox of an old file = %+v, %v", items, err)
	}
	if _, ok, err := ro.OutboxItemByID(1); ok || err != nil {
		t.Errorf("read-only OutboxItemByID of an old file = %v, %v", ok, err)
	}
	ro.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOutbox) == nil {
			t.Error("Open did not add the outbox bucket to an old file")
		}
		return nil
	})
	if err := s.PutOutbox(it); !errors.Is(err, ErrOutboxGone) {
		t.Errorf("PutOutbox into the new bucket = %v, want ErrOutboxGone", err)
	}
}

func TestOutboxRefusesDamage(t *testing.T) {
	s := openTemp(t, Options{})
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).Put(be.AppendUint64(nil, 7), []byte("{not json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Outbox(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Outbox over a damaged item = %v, want ErrCorrupt", err)
	}
	big := outboxItem("t", "000001")
	big.Verdict.URL = string(make([]byte, maxOutboxValue))
	if err := s.AddOutbox([]*OutboxItem{big}); !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("AddOutbox of an oversized item = %v, want ErrInvalidEntry", err)
	}
}

// TestRecordQueued: the queue callback sees the verdicts as the replay
// rule left them, and its items are written in the same transaction as
// the audit entries — or nothing is.
func TestRecordQueued(t *testing.T) {
	s := openTemp(t, Options{MaxAge: -1})
	tap := func(ctr uint32) *verdict.Verdict {
		return &verdict.Verdict{Reader: "r", UID: "041E3C8A2D6B80", Ctr: ntag424.CounterOf(ctr), Verdict: verdict.Authentic, Reason: verdict.ReasonOK,
			Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	}
	vs := []*verdict.Verdict{tap(5), tap(5)}
	var seen []string
	err := s.RecordQueued(context.Background(), vs, func(post []verdict.Verdict) []*OutboxItem {
		var items []*OutboxItem
		for _, v := range post {
			seen = append(seen, v.Verdict)
			if v.Verdict == verdict.Authentic {
				items = append(items, outboxItem("t-5", "000005"))
			}
		}
		return items
	})
	if err != nil || strings.Join(seen, " ") != "authentic replayed" || vs[1].Verdict != verdict.Replayed {
		t.Fatalf("RecordQueued = %v; queue saw %v, verdicts %s %s", err, seen, vs[0].Verdict, vs[1].Verdict)
	}
	if items, _ := s.Outbox(); len(items) != 1 || items[0].Tap != "t-5" || items[0].ID == 0 {
		t.Errorf("outbox %+v", items)
	}
	// An item that cannot be written undoes the whole batch.
	big := outboxItem("t-6", "000006")
	big.Verdict.URL = strings.Repeat("x", maxOutboxValue)
	err = s.RecordQueued(context.Background(), []*verdict.Verdict{tap(6)}, func([]verdict.Verdict) []*OutboxItem { return []*OutboxItem{big} })
	if !errors.Is(err, ErrInvalidEntry) {
		t.Errorf("RecordQueued with a bad item = %v", err)
	}
	if hw, _ := s.HighWater([]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}); hw.Value != 5 {
		t.Errorf("high-water mark %v after the failed batch, want 5", hw)
	}
	if es, _ := s.Query(Query{}); len(es) != 2 {
		t.Errorf("%d audit entries, want the first batch's 2", len(es))
	}
}

// FuzzOutboxItem: a stored item decodes to an item or ErrCorrupt, never a
// panic, and what decodes encodes again within the size bound.
func FuzzOutboxItem(f *testing.F) {
	v, _ := encodeOutbox(outboxItem("t-1", "000006"))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1}, v)
	f.Add([]byte{1}, []byte(`{"tap":1}`))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 2}, []byte(`{"created":"not a time"}`))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		it, err := decodeOutbox(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if it.ID != be.Uint64(k) {
			t.Fatalf("ID %d from key %x", it.ID, k)
		}
		if _, err := encodeOutbox(&it); err != nil && !errors.Is(err, ErrInvalidEntry) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
