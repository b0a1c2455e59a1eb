package store

// Tests named after the attacks of issue 13 that they repeat.

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

// tap records an authentic tap of uid under profile with counter ctr and
// returns the verdict the ledger reached.
func tap(t *testing.T, s *Store, profile string, uid []byte, ctr uint32) string {
	t.Helper()
	v := &verdict.Verdict{Reader: "r", UID: strings.ToUpper(hex.EncodeToString(uid)), Ctr: ntag424.CounterOf(ctr),
		Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Profile: profile}
	if err := s.Record(context.Background(), []*verdict.Verdict{v}); err != nil {
		t.Fatal(err)
	}
	return v.Verdict
}

// TestWeakProfilePoisonsAnotherProfilesTag repeats issue 13 §4: replay
// marks were keyed by UID alone, so a tag under a weak profile (factory
// keys, a test batch) that claimed a victim's UID with counter 0xFFFFFF
// made every later genuine tap of the victim "replayed". Marks are now
// per (profile, UID).
func TestWeakProfilePoisonsAnotherProfilesTag(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "nfcd.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	victim := []byte{0x04, 0x51, 0x8D, 0xFA, 0xA9, 0x61, 0x80}
	if got := tap(t, s, "store-tags", victim, 41); got != verdict.Authentic {
		t.Fatalf("victim's first tap = %s", got)
	}
	if got := tap(t, s, "factory-keys", victim, 0xFFFFFF); got != verdict.Authentic {
		t.Fatalf("weak tag's tap = %s", got)
	}
	if got := tap(t, s, "store-tags", victim, 42); got != verdict.Authentic {
		t.Errorf("victim's next genuine tap after the poisoning = %s, want authentic", got)
	}
	// Each profile's own replays are still refused.
	if got := tap(t, s, "store-tags", victim, 42); got != verdict.Replayed {
		t.Errorf("victim's replay = %s, want replayed", got)
	}
	if got := tap(t, s, "factory-keys", victim, 5); got != verdict.Replayed {
		t.Errorf("weak tag's replay = %s, want replayed", got)
	}
	if m, err := s.Mark("store-tags", victim); err != nil || m != ntag424.CounterOf(42) {
		t.Errorf("Mark(store-tags) = %s, %v; want 42", m, err)
	}
	if hw, err := s.HighWater(victim); err != nil || hw != ntag424.CounterOf(0xFFFFFF) {
		t.Errorf("HighWater (any profile) = %s, %v; want 16777215", hw, err)
	}
	if m, err := s.Mark("other", victim); err != nil || m.Valid {
		t.Errorf("Mark(other) = %s, %v; want none", m, err)
	}
}

// v2Entry encodes a format-2 audit entry.
func v2Entry(t *testing.T, e Entry) []byte {
	t.Helper()
	b, err := appendEntry(nil, &e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeV2Store writes a store as schema version 2 left it: marks per UID
// in "counters", and audit entries of formats 1 and 2.
func writeV2Store(t *testing.T, path string, counters map[string]uint32, entries []Entry, format1 [][]byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		meta.Put(keySchema, be.AppendUint32(nil, 2))
		meta.Put(keyAuditCount, be.AppendUint64(nil, uint64(len(entries)+len(format1))))
		c, _ := tx.CreateBucket(bucketCountersV2)
		for uid, v := range counters {
			c.Put([]byte(uid), be.AppendUint32(nil, v))
		}
		audit, _ := tx.CreateBucket(bucketAudit)
		seq := uint64(0)
		for _, e := range entries {
			seq++
			if err := audit.Put(auditKey(e.Time.UnixNano(), seq), v2Entry(t, e)); err != nil {
				return err
			}
		}
		for _, v := range format1 {
			seq++
			audit.Put(auditKey(time.Unix(1000, 0).UnixNano(), seq), v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFromVersion2KeepsEveryMark: the migration to marks per
// (profile, UID) gives a mark to its profile when the audit log shows
// which one accepted it, and otherwise keeps it under every profile: no
// counter accepted before the upgrade is accepted again after it.
func TestUpgradeFromVersion2KeepsEveryMark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	u1 := []byte{4, 1, 1, 1, 1, 1, 1} // taps under one profile, mark logged
	u2 := []byte{4, 2, 2, 2, 2, 2, 2} // taps under two profiles
	u3 := []byte{4, 3, 3, 3, 3, 3, 3} // only a format-1 entry (no profile)
	u4 := []byte{4, 4, 4, 4, 4, 4, 4} // the mark's entry was pruned
	at := time.Unix(1_800_000_000, 0)
	auth := func(uid []byte, profile string, ctr uint32) Entry {
		at = at.Add(time.Second)
		return Entry{Time: at, Reader: "r", UID: uid, Ctr: ntag424.CounterOf(ctr), Verdict: verdict.Authentic, Reason: "ok", Profile: profile}
	}
	// Format 1: format, flags (counter), ctr, uid (7), reader, verdict, reason.
	f1 := append([]byte{1, 1, 0, 0, 0, 30, 7}, u3...)
	f1 = append(f1, 1, 'r', 9, 'a', 'u', 't', 'h', 'e', 'n', 't', 'i', 'c', 2, 'o', 'k')
	writeV2Store(t, path,
		map[string]uint32{string(u1): 10, string(u2): 20, string(u3): 30, string(u4): 40},
		[]Entry{auth(u1, "a", 9), auth(u1, "a", 10), auth(u2, "a", 15), auth(u2, "b", 20), auth(u4, "a", 39),
			{Time: at.Add(time.Minute), Reader: "r", UID: u1, Verdict: verdict.Counterfeit, Reason: "bad_mac", Profile: "b", Ctr: ntag424.CounterOf(99)}},
		[][]byte{f1})

	// A reading command opens it as it is, without upgrading it.
	r, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if hw, err := r.HighWater(u2); err != nil || hw != ntag424.CounterOf(20) {
		t.Errorf("read-only HighWater of a version 2 store = %s, %v; want 20", hw, err)
	}
	r.Close()

	s, err := Open(path, Options{MaxAge: -1})
	if err != nil {
		t.Fatalf("Open(version 2) = %v", err)
	}
	defer s.Close()
	s.view(func(tx *bolt.Tx) error {
		if v := be.Uint32(tx.Bucket(bucketMeta).Get(keySchema)); v != schemaVersion {
			t.Errorf("schema after upgrade = %d, want %d", v, schemaVersion)
		}
		if tx.Bucket(bucketCountersV2) != nil {
			t.Error("the counters bucket survived the upgrade")
		}
		return nil
	})
	for _, tc := range []struct {
		name    string
		profile string
		uid     []byte
		ctr     uint32
		want    string
	}{
		{"u1 replay under its profile", "a", u1, 10, verdict.Replayed},
		{"u1 under another profile", "b", u1, 3, verdict.Authentic},
		{"u1 next tap", "a", u1, 11, verdict.Authentic},
		{"u2 replay under a", "a", u2, 19, verdict.Replayed},
		{"u2 replay under c", "c", u2, 20, verdict.Replayed},
		{"u2 next tap", "b", u2, 21, verdict.Authentic},
		{"u3 replay", "x", u3, 30, verdict.Replayed},
		{"u4 replay (entry pruned)", "a", u4, 40, verdict.Replayed},
		{"u4 next tap", "a", u4, 41, verdict.Authentic},
	} {
		if got := tap(t, s, tc.profile, tc.uid, tc.ctr); got != tc.want {
			t.Errorf("%s: %s", tc.name, got)
		}
	}
	// Both audit formats stay readable.
	es, err := s.Query(Query{UID: u3})
	if err != nil || len(es) != 2 || es[1].Ctr != ntag424.CounterOf(30) || es[1].Profile != "" {
		t.Errorf("Query(u3) = %+v, %v; want the format-1 entry after the new tap", es, err)
	}
	es, err = s.Query(Query{UID: u2})
	if err != nil || len(es) != 5 {
		t.Errorf("Query(u2) = %d entries, %v; want 5", len(es), err)
	}
}

// TestEmptyStoreFileRecreatedWithNewKey repeats issue 13 §6: a 0-byte
// nfcd.db was silently re-created (with a new key, when the key lived in
// it), so a kiosk whose store was lost started over without a word. It is
// an error naming the file, and the file is left as it was.
func TestEmptyStoreFileRecreatedWithNewKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, open := range []func(string, Options) (*Store, error){Open, OpenReadOnly} {
		s, err := open(path, Options{})
		if err == nil {
			s.Close()
			t.Fatal("Open(0-byte file) succeeded")
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "empty file") || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(0-byte file) = %v, want ErrCorrupt naming the file as empty", err)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the 0-byte file was touched: %v, %v", fi, err)
	}
}

// TestStubStoreReportedCorruptLater repeats issue 13 §6: a first start on a
// full disk left a 4 KB stub at nfcd.db that a later start reported as
// corrupt (or initialised). A store is now created in a temporary file and
// renamed into place complete; an existing stub is refused, never
// initialised in place.
func TestStubStoreReportedCorruptLater(t *testing.T) {
	// A stub: a bbolt file without nfcd's buckets, as an older nfcd left
	// it when its first transaction failed.
	path := filepath.Join(t.TempDir(), "nfcd.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "without nfcd data") {
		t.Errorf("Open(stub) = %v, want ErrCorrupt saying it holds no nfcd data", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("Open changed the stub")
	}

	// A new store: complete when it appears, no temporary file left, and
	// a temporary file of an interrupted creation is removed.
	dir := t.TempDir()
	path = filepath.Join(dir, "nfcd.db")
	stale := filepath.Join(dir, ".nfcd.db.new-123")
	os.WriteFile(stale, []byte("half"), 0o600)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	hidden, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(names) != 1 || len(hidden) != 0 {
		t.Errorf("state dir after creation: %v %v, want only nfcd.db", names, hidden)
	}
}

// TestFullDiskLeavesNoStub fills a small file system during the first
// start: the creation fails with the disk's error and leaves no nfcd.db
// behind, so the next start (with space) creates a complete store. It
// needs root to mount a tmpfs, and Linux.
func TestFullDiskLeavesNoStub(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs Linux and root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	path := filepath.Join(dir, "nfcd.db")
	if s, err := Open(path, Options{}); err == nil {
		s.Close()
		t.Skip("12 KiB were enough for a store here")
	} else {
		t.Logf("Open on a full disk = %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left behind on the full disk: %s", e.Name())
	}
	if err := exec.Command("mount", "-o", "remount,size=1m", dir).Run(); err != nil {
		t.Skipf("remount: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open with space = %v", err)
	}
	defer s.Close()
	if got := tap(t, s, "p", []byte{4, 1, 2, 3, 4, 5, 6}, 1); got != verdict.Authentic {
		t.Errorf("first tap = %s", got)
	}
}
