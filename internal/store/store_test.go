package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// fakeClock is an injectable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openTemp opens a store in a fresh temporary directory and closes it when
// the test ends.
func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "nfcd.db"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "nfcd", "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("mode of %s = %v, want %v", p, got, want)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// bbolt's flock is per open file description, so a second Open in the
	// same process conflicts exactly like a second process would.
	start := time.Now()
	s2, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Path != path {
		t.Errorf("second Open = %#v, want *OpenError with Path %q", err, path)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v, want about the 100ms timeout", d)
	}

	// Once the first store closes the lock is free.
	s.Close()
	s2, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// validDB returns the bytes of a store file with some counters in it.
func validDB(t *testing.T, uids int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		for i := range uids {
			if err := b.Put(markKey([]byte{4, byte(i >> 16), byte(i >> 8), byte(i), 0xAA, 0xBB, 0xCC}, "p"), []byte{0, 0, 0, 1}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenCorrupt(t *testing.T) {
	valid := validDB(t, 5000)
	if len(valid) < 16*4096 {
		t.Fatalf("valid db is only %d bytes; want several pages", len(valid))
	}
	// validUsed is the size of the pages below bbolt's high-water mark;
	// the file itself may be longer.
	var validUsed int
	{
		path := filepath.Join(t.TempDir(), "copy.db")
		os.WriteFile(path, valid, 0o600)
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		db.View(func(tx *bolt.Tx) error { validUsed = int(tx.Size()); return nil })
		db.Close()
		t.Logf("valid db: %d bytes, %d used", len(valid), validUsed)
	}
	random := make([]byte, 64*1024)
	rand.Read(random)

	// A bbolt file that some other program made: valid, but not ours.
	foreignPath := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bolt.Open(foreignPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("widgets"))
		return err
	})
	db.Close()
	foreign, err := os.ReadFile(foreignPath)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		data func() []byte
	}{
		{"text", func() []byte { return []byte("this is not a database\n") }},
		{"random", func() []byte { return random }},
		{"zeros", func() []byte { return make([]byte, 32*1024) }},
		{"truncated to one page", func() []byte { return bytes.Clone(valid[:4096]) }},
		{"last used page cut", func() []byte { return bytes.Clone(valid[:validUsed-4096]) }},
		{"last used byte cut", func() []byte { return bytes.Clone(valid[:validUsed-1]) }},
		{"truncated to half", func() []byte { return bytes.Clone(valid[:len(valid)/2]) }},
		{"both meta pages flipped", func() []byte {
			b := bytes.Clone(valid)
			b[20] ^= 0xFF
			b[4096+20] ^= 0xFF
			return b
		}},
		{"data pages overwritten", func() []byte {
			b := bytes.Clone(valid)
			for i := 4 * 4096; i < len(b); i++ {
				b[i] = byte(i * 7)
			}
			return b
		}},
		{"data pages zeroed", func() []byte {
			b := bytes.Clone(valid)
			clear(b[2*4096:])
			return b
		}},
		{"one leaf page scrambled", func() []byte {
			// Page header: id uint64, flags uint16 (0x02 = leaf), count
			// uint16, overflow uint32. Keep the header, scramble the body.
			b := bytes.Clone(valid)
			for off := len(b) / 2 / 4096 * 4096; off+4096 <= len(b); off += 4096 {
				if b[off+8] == 0x02 && b[off+9] == 0 { // little-endian flags
					for i := off + 16; i < off+4096; i++ {
						b[i] = byte(i * 13)
					}
					return b
				}
			}
			t.Fatal("no leaf page found")
			return nil
		}},
		{"foreign bbolt file", func() []byte { return foreign }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nfcd.db")
			if err := os.WriteFile(path, tc.data(), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded, want ErrCorrupt", tc.name)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open(%s) = %v, want ErrCorrupt", tc.name, err)
			}
			t.Logf("Open(%s) = %v", tc.name, err)
			var oe *OpenError
			if !errors.As(err, &oe) || oe.Path != path || !strings.Contains(err.Error(), path) {
				t.Errorf("Open(%s) = %v, want *OpenError naming %s", tc.name, err, path)
			}
		})
	}
}

func TestOpenOneMetaPageDamaged(t *testing.T) {
	// bbolt keeps two meta pages; losing one (a torn meta write) must not
	// lose the store.
	b := validDB(t, 10)
	b[4096+20] ^= 0xFF
	path := filepath.Join(t.TempDir(), "nfcd.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open with one damaged meta page: %v", err)
	}
	defer s.Close()
	if _, ok, err := highWater(s, []byte{4, 0, 0, 3, 0xAA, 0xBB, 0xCC}); err != nil || !ok {
		t.Errorf("HighWater after meta recovery = %v, %v; want found", ok, err)
	}
}

func TestOpenSchemaVersion(t *testing.T) {
	tests := []struct {
		name    string
		version []byte
		want    error
	}{
		{"current", be.AppendUint32(nil, schemaVersion), nil},
		{"future", be.AppendUint32(nil, schemaVersion+1), ErrSchemaVersion},
		{"zero", be.AppendUint32(nil, 0), ErrCorrupt},
		{"malformed", []byte{1}, ErrCorrupt},
		{"missing", nil, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nfcd.db")
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = s.db.Update(func(tx *bolt.Tx) error {
				if tc.version == nil {
					return tx.Bucket(bucketMeta).Delete(keySchema)
				}
				return tx.Bucket(bucketMeta).Put(keySchema, tc.version)
			})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()

			s, err = Open(path, Options{})
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Open with schema %x = %v, want %v", tc.version, err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

func TestOpenNotWritable(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs Unix permissions and a non-root user")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	path := filepath.Join(dir, "nfcd.db")
	_, err := Open(path, Options{})
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Kind != nil || !errors.Is(err, os.ErrPermission) {
		t.Errorf("Open in read-only dir = %v, want *OpenError wrapping ErrPermission", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "nfcd.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	uid := []byte{1, 2, 3, 4, 5, 6, 7}
	if _, _, err := checkAndAdvance(s, uid, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("CheckAndAdvance after Close = %v, want ErrClosed", err)
	}
	if _, _, err := highWater(s, uid); !errors.Is(err, ErrClosed) {
		t.Errorf("HighWater after Close = %v, want ErrClosed", err)
	}
	if err := record(s, Entry{Verdict: "valid"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Query(Query{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close = %v, want ErrClosed", err)
	}
	if _, err := s.LegacySigningSeed(); !errors.Is(err, ErrClosed) {
		t.Errorf("LegacySigningSeed after Close = %v, want ErrClosed", err)
	}
}

// TestUpgradeFromVersion1 opens a store as schema version 1 left it: the
// signing seed in meta, a tokens bucket and format-1 audit entries.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed := bytes.Repeat([]byte{0x5E}, 32)
	// Format 1: format, flags (counter), ctr, uid, reader, verdict, reason.
	v1 := []byte{1, 1, 0, 0, 0, 7, 1, 0x04, 1, 'r', 9, 'a', 'u', 't', 'h', 'e', 'n', 't', 'i', 'c', 2, 'o', 'k'}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		meta.Put(keySchema, be.AppendUint32(nil, 1))
		meta.Put(keySigningSeed, seed)
		meta.Put(keyAuditCount, be.AppendUint64(nil, 1))
		tx.CreateBucket(bucketCountersV2)
		tx.CreateBucket(bucketTokensV1)
		audit, _ := tx.CreateBucket(bucketAudit)
		return audit.Put(auditKey(time.Unix(100, 0).UnixNano(), 1), v1)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{MaxAge: -1})
	if err != nil {
		t.Fatalf("Open(version 1) = %v", err)
	}
	defer s.Close()
	if got, err := s.LegacySigningSeed(); err != nil || !bytes.Equal(got, seed) {
		t.Errorf("LegacySigningSeed = %x, %v; want the version 1 seed", got, err)
	}
	es, err := s.Query(Query{})
	if err != nil || len(es) != 1 || es[0].Verdict != "authentic" || es[0].Ctr != ntag424.CounterOf(7) || es[0].Reason != "ok" {
		t.Errorf("Query = %+v, %v; want the format-1 entry", es, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := be.Uint32(tx.Bucket(bucketMeta).Get(keySchema)); v != schemaVersion {
			t.Errorf("schema after upgrade = %d, want %d", v, schemaVersion)
		}
		if tx.Bucket(bucketTokensV1) != nil {
			t.Error("the unused tokens bucket survived the upgrade")
		}
		return nil
	})
	if err := s.DropLegacySigningSeed(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LegacySigningSeed(); err != nil || got != nil {
		t.Errorf("LegacySigningSeed after drop = %x, %v; want none", got, err)
	}
}

// FuzzOpen feeds arbitrary file contents to Open: it must return a store or
// an *OpenError, and never panic or fault.
func FuzzOpen(f *testing.F) {
	// Small pages keep the seed (and so each fuzz input) small enough for
	// the fuzzer to mutate and minimise quickly.
	seedPath := filepath.Join(f.TempDir(), "seed.db")
	db, err := bolt.Open(seedPath, 0o600, &bolt.Options{PageSize: 1024})
	if err != nil {
		f.Fatal(err)
	}
	if err := db.Update(initBuckets); err != nil {
		f.Fatal(err)
	}
	db.Close()
	s, err := Open(seedPath, Options{})
	if err != nil {
		f.Fatal(err)
	}
	checkAndAdvance(s, []byte{4, 1, 2, 3, 4, 5, 6}, 9)
	record(s, Entry{Verdict: "valid"})
	s.Close()
	seed, err := os.ReadFile(seedPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "nfcd.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{Timeout: -1})
		if err != nil {
			var oe *OpenError
			if !errors.As(err, &oe) {
				t.Fatalf("Open = %v, want *OpenError", err)
			}
			return
		}
		defer s.Close()
		// A file that opens must also work.
		highWater(s, []byte{4, 1, 2, 3, 4, 5, 6})
		s.Query(Query{})
		checkAndAdvance(s, []byte{4, 1, 2, 3, 4, 5, 6}, 10)
	})
}

// TestOpenReadOnly: a reading command never creates state, reads what is
// there, cannot write, and is told when a daemon holds the file.
func TestOpenReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	if _, err := OpenReadOnly(filepath.Join(dir, "nfcd.db"), Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly(missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenReadOnly created %s", dir)
	}
	path := filepath.Join(t.TempDir(), "nfcd.db")
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := checkAndAdvance(w, []byte{4, 1, 2, 3, 4, 5, 6}, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(path, Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("OpenReadOnly while a writer holds the file = %v, want ErrLocked", err)
	}
	w.Close()
	r, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if hw, err := r.HighWater([]byte{4, 1, 2, 3, 4, 5, 6}); err != nil || hw != ntag424.CounterOf(7) {
		t.Errorf("HighWater = %s, %v; want 7", hw, err)
	}
	if es, err := r.Query(Query{}); err != nil || len(es) != 1 {
		t.Errorf("Query = %d entries, %v; want 1", len(es), err)
	}
	if _, _, err := checkAndAdvance(r, []byte{4, 1, 2, 3, 4, 5, 6}, 8); err == nil {
		t.Error("Record on a read-only store succeeded")
	}
}
