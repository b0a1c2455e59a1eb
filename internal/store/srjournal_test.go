package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
)

func TestSRJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	j := s.SRJournal()
	if es, err := j.Entries(ctx); err != nil || len(es) != 0 {
		t.Fatalf("fresh journal = %v, %v", es, err)
	}
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := old.Add(100 * 24 * time.Hour)
	entries := []legitmark.Entry{
		{Kind: legitmark.EntryCreating, At: old, Reference: "k-1", TagUID: "04A1"},
		{Kind: legitmark.EntryCreated, At: old, Reference: "k-1", UUID: "u1", MicroID: "9", State: legitmark.State{Primary: "DRAFT"}},
		{Kind: legitmark.EntrySideUploaded, At: old, UUID: "u1", Side: "s1", SideName: "Front", Digest: "ab", Size: 10},
		{Kind: legitmark.EntryStatus, At: old, UUID: "u1", State: legitmark.State{Primary: "COMPLETE", Supplement: "APPROVED"}},
		{Kind: legitmark.EntryCreating, At: old, Reference: "k-2"},
		{Kind: legitmark.EntryCreated, At: old, Reference: "k-2", UUID: "u2", State: legitmark.State{Primary: "DRAFT"}},
		{Kind: legitmark.EntryCreating, At: now, Reference: "k-3"},
		{Kind: legitmark.EntryAbandoned, At: now, Reference: "k-3"},
	}
	for _, e := range entries {
		if err := j.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Durable and in order across a reopen; read-only opening works too.
	s, err = OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.SRJournal().Entries(ctx)
	s.Close()
	if err != nil || len(es) != len(entries) {
		t.Fatalf("entries after reopen: %d, %v", len(es), err)
	}
	for i := range es {
		if es[i].Kind != entries[i].Kind || es[i].Reference != entries[i].Reference || es[i].State != entries[i].State || !es[i].At.Equal(entries[i].At) {
			t.Errorf("entry %d = %+v, want %+v", i, es[i], entries[i])
		}
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j = s.SRJournal()
	// The old final SR goes; the old draft and the recent abandoned one stay.
	n, err := j.Compact(ctx, now.Add(-24*time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("Compact = %d, %v; want the 4 entries of u1", n, err)
	}
	es, _ = j.Entries(ctx)
	var refs []string
	for _, r := range legitmark.Fold(es) {
		refs = append(refs, r.Reference)
	}
	if len(refs) != 2 || refs[0] != "k-2" || refs[1] != "k-3" {
		t.Errorf("records after Compact = %v, want k-2 k-3", refs)
	}
	if n, err := j.Compact(ctx, now.Add(-24*time.Hour)); n != 0 || err != nil {
		t.Errorf("second Compact = %d, %v", n, err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := j.Append(ctx2, entries[0]); err == nil {
		t.Error("Append with a cancelled context succeeded")
	}
}
