package statedir

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
)

func openStore(t *testing.T, p Paths) *store.Store {
	t.Helper()
	st, err := store.Open(p.DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSignerStable: the first start creates the key file (0600) and the
// public key file; later starts sign with the same key.
func TestSignerStable(t *testing.T) {
	p := PathsOf(t.TempDir())
	st := openStore(t, p)
	s1, err := p.Signer(st)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if fi, err := os.Stat(p.Key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file = %v, %v; want mode 0600", fi, err)
	}
	st = openStore(t, p)
	defer st.Close()
	s2, err := p.Signer(st)
	if err != nil || !s2.Public().Equal(s1.Public()) || s2.KeyID() != s1.KeyID() {
		t.Fatalf("second start = %v, %v; want the same key", s2, err)
	}
	if pub, err := p.ReadPublicKey(); err != nil || !pub.Equal(s1.Public()) {
		t.Errorf("ReadPublicKey = %x, %v; want the signer's", pub, err)
	}
}

// TestSignerMovesLegacyKey: a store of schema version 1 kept the seed
// inside; the first start moves it to the key file, keeps signing with it,
// and deletes the copy in the store.
func TestSignerMovesLegacyKey(t *testing.T) {
	p := PathsOf(t.TempDir())
	seed := bytes.Repeat([]byte{7}, 32)
	db, err := bolt.Open(p.DB, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		meta.Put([]byte("schema"), []byte{0, 0, 0, 1})
		meta.Put([]byte("signing_seed"), seed)
		tx.CreateBucket([]byte("counters"))
		tx.CreateBucket([]byte("audit"))
		return nil
	})
	db.Close()
	st := openStore(t, p)
	defer st.Close()
	s, err := p.Signer(st)
	if err != nil {
		t.Fatal(err)
	}
	if want := verdict.NewSigner(seed); !s.Public().Equal(want.Public()) {
		t.Errorf("signer after the move uses key %s, want the legacy key %s", s.KeyID(), want.KeyID())
	}
	if b, err := os.ReadFile(p.Key); err != nil || !bytes.Equal(b, seed) {
		t.Errorf("key file = %x, %v; want the legacy seed", b, err)
	}
	if left, err := st.LegacySigningSeed(); err != nil || left != nil {
		t.Errorf("store still holds the seed: %x, %v", left, err)
	}
}

// TestReadPublicKeyCreatesNothing: reading the key of a state directory
// that has none fails and creates no file.
func TestReadPublicKeyCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	if _, err := PathsOf(dir).ReadPublicKey(); err == nil {
		t.Error("ReadPublicKey of a missing directory = nil error")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("ReadPublicKey created %s", dir)
	}
}
