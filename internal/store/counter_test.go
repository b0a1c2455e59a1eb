package store

import (
	bolt "go.etcd.io/bbolt"

	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCounterRule(t *testing.T) {
	uidA := []byte{0x04, 0x96, 0x8C, 0xAA, 0x5C, 0x5E, 0x80} // AN12196 example UID
	uidB := []byte{0x04, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}
	type tap struct {
		uid          []byte
		ctr          uint32
		wantAccepted bool
		wantPrev     uint32
		wantHigh     uint32
	}
	tests := []struct {
		name string
		taps []tap
	}{
		{"first tap", []tap{{uidA, 0x3D, true, 0, 0x3D}}},
		{"first tap with counter zero", []tap{{uidA, 0, true, 0, 0}, {uidA, 0, false, 0, 0}}},
		{"higher", []tap{{uidA, 1, true, 0, 1}, {uidA, 2, true, 1, 2}}},
		{"equal is replay", []tap{{uidA, 5, true, 0, 5}, {uidA, 5, false, 5, 5}}},
		{"lower is replay", []tap{{uidA, 5, true, 0, 5}, {uidA, 4, false, 5, 5}, {uidA, 0, false, 5, 5}}},
		{"gaps are allowed", []tap{{uidA, 1, true, 0, 1}, {uidA, 10, true, 1, 10}, {uidA, 9, false, 10, 10}, {uidA, 1000, true, 10, 1000}}},
		{"24-bit maximum", []tap{{uidA, 0xFFFFFE, true, 0, 0xFFFFFE}, {uidA, 0xFFFFFF, true, 0xFFFFFE, 0xFFFFFF}, {uidA, 0xFFFFFF, false, 0xFFFFFF, 0xFFFFFF}}},
		{"uint32 maximum", []tap{{uidA, 0xFFFFFFFF, true, 0, 0xFFFFFFFF}, {uidA, 0xFFFFFFFF, false, 0xFFFFFFFF, 0xFFFFFFFF}}},
		{"UIDs are independent", []tap{{uidA, 7, true, 0, 7}, {uidB, 3, true, 0, 3}, {uidB, 7, true, 3, 7}, {uidA, 7, false, 7, 7}, {uidB, 7, false, 7, 7}}},
		{"UID prefix is another UID", []tap{{uidA, 7, true, 0, 7}, {uidA[:4], 1, true, 0, 1}, {uidA, 6, false, 7, 7}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			for i, tp := range tc.taps {
				accepted, prev, err := checkAndAdvance(s, tp.uid, tp.ctr)
				if err != nil {
					t.Fatalf("tap %d: CheckAndAdvance(%X, %d): %v", i, tp.uid, tp.ctr, err)
				}
				if accepted != tp.wantAccepted || prev != tp.wantPrev {
					t.Errorf("tap %d: CheckAndAdvance(%X, %d) = %v, %d; want %v, %d",
						i, tp.uid, tp.ctr, accepted, prev, tp.wantAccepted, tp.wantPrev)
				}
				high, found, err := highWater(s, tp.uid)
				if err != nil || !found || high != tp.wantHigh {
					t.Errorf("tap %d: HighWater(%X) = %d, %v, %v; want %d, true, nil",
						i, tp.uid, high, found, err, tp.wantHigh)
				}
			}
		})
	}
}

func TestHighWaterUnknown(t *testing.T) {
	s := openTemp(t, Options{})
	ctr, found, err := highWater(s, []byte{1, 2, 3, 4, 5, 6, 7})
	if ctr != 0 || found || err != nil {
		t.Errorf("HighWater(unknown) = %d, %v, %v; want 0, false, nil", ctr, found, err)
	}
}

func TestCounterRuleInvalidUID(t *testing.T) {
	s := openTemp(t, Options{})
	for _, uid := range [][]byte{nil, {}, make([]byte, MaxUIDLen+1)} {
		if _, _, err := checkAndAdvance(s, uid, 1); !errors.Is(err, ErrInvalidUID) {
			t.Errorf("CheckAndAdvance(%d-byte UID) = %v, want ErrInvalidUID", len(uid), err)
		}
		if _, _, err := highWater(s, uid); !errors.Is(err, ErrInvalidUID) {
			t.Errorf("HighWater(%d-byte UID) = %v, want ErrInvalidUID", len(uid), err)
		}
	}
	if _, _, err := checkAndAdvance(s, make([]byte, MaxUIDLen), 1); err != nil {
		t.Errorf("CheckAndAdvance(%d-byte UID) = %v, want nil", MaxUIDLen, err)
	}
}

func TestCounterRulePersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	uid := []byte{4, 1, 2, 3, 4, 5, 6}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := checkAndAdvance(s, uid, 42); !ok || err != nil {
		t.Fatalf("CheckAndAdvance = %v, %v", ok, err)
	}
	s.Close()
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, prev, err := checkAndAdvance(s, uid, 42); ok || prev != 42 || err != nil {
		t.Errorf("CheckAndAdvance(42) after reopen = %v, %d, %v; want false, 42, nil", ok, prev, err)
	}
}

// TestCounterRuleConcurrent races goroutines over the same counters:
// every counter value may be accepted at most once, and the accepted values
// of one UID must form an increasing sequence in commit order.
func TestCounterRuleConcurrent(t *testing.T) {
	s := openTemp(t, Options{})
	uid := []byte{4, 9, 9, 9, 9, 9, 9}
	const workers, ctrs = 8, 60
	var (
		mu       sync.Mutex
		accepted []uint32 // in the order CheckAndAdvance returned
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for c := range uint32(ctrs) {
				// Odd workers skip ahead, so some values are passed over.
				ctr := c + 1 + uint32(w%2)
				ok, _, err := checkAndAdvance(s, uid, ctr)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					accepted = append(accepted, ctr)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	var maxCtr uint32
	for _, c := range accepted {
		if seen[c] {
			t.Errorf("counter %d accepted twice", c)
		}
		seen[c] = true
		maxCtr = max(maxCtr, c)
	}
	high, _, _ := highWater(s, uid)
	if high != maxCtr || high != ctrs+1 {
		t.Errorf("HighWater = %d, max accepted = %d, want both %d", high, maxCtr, ctrs+1)
	}
}

// shmDir returns a tmpfs directory when one is available, so that the
// benchmark measures bbolt rather than the disk, and t.TempDir otherwise.
// BenchmarkRecordAuthentic/disk always uses b.TempDir.
func shmDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "nfcd-store-bench")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	b.Skip("no tmpfs at /dev/shm")
	return ""
}

func BenchmarkRecordAuthentic(b *testing.B) {
	for _, bc := range []struct {
		name string
		dir  func(b *testing.B) string
	}{
		{"disk", func(b *testing.B) string { return b.TempDir() }},
		{"tmpfs", shmDir},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(bc.dir(b), "nfcd.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			uid := []byte{4, 1, 2, 3, 4, 5, 6}
			b.ReportAllocs()
			var ctr uint32
			for b.Loop() {
				ctr++
				if ok, _, err := checkAndAdvance(s, uid, ctr); !ok || err != nil {
					b.Fatalf("CheckAndAdvance(%d) = %v, %v", ctr, ok, err)
				}
			}
		})
	}
}

// BenchmarkRecordReplay measures a rejected tap, which moves no counter but
// is still recorded in the audit log.
func BenchmarkRecordReplay(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "nfcd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	uid := []byte{4, 1, 2, 3, 4, 5, 6}
	checkAndAdvance(s, uid, 100)
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := checkAndAdvance(s, uid, 50); ok || err != nil {
			b.Fatalf("CheckAndAdvance(50) = %v, %v", ok, err)
		}
	}
}

func BenchmarkHighWater(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "nfcd.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	uid := []byte{4, 1, 2, 3, 4, 5, 6}
	checkAndAdvance(s, uid, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := highWater(s, uid); !ok || err != nil {
			b.Fatalf("HighWater = %v, %v", ok, err)
		}
	}
}

// BenchmarkFlush compares the two durable steps on the same disk: one
// bbolt commit of a one-key update (two flushes: pages, then meta) and one
// O_DSYNC append of a 120-byte record, the replay journal's write.
func BenchmarkFlush(b *testing.B) {
	b.Run("bbolt-commit", func(b *testing.B) {
		s := openTemp(b, Options{})
		b.ReportAllocs()
		var n uint64
		for b.Loop() {
			n++
			if err := s.update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put([]byte("bench"), be.AppendUint64(nil, n))
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("journal-append", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "j"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|dsyncFlag, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := make([]byte, 120)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if dsyncFlag == 0 {
				f.Sync()
			}
		}
	})
}
