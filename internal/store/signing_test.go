package store

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
)

func TestSigningKeyStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nfcd.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	k1, id1, err := s.SigningKey()
	if err != nil {
		t.Fatalf("SigningKey: %v", err)
	}
	if len(k1) != ed25519.PrivateKeySize {
		t.Fatalf("SigningKey returned %d bytes", len(k1))
	}
	sum := sha256.Sum256(k1.Public().(ed25519.PublicKey))
	if want := hex.EncodeToString(sum[:8]); id1 != want || len(id1) != 16 {
		t.Errorf("key ID = %q, want %q", id1, want)
	}
	// The caller's copy is its own.
	clear(k1[:8])
	k1b, _, _ := s.SigningKey()
	if bytes.Equal(k1b[:8], k1[:8]) {
		t.Error("SigningKey returned the cached slice itself")
	}
	s.Close()

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k2, id2, err := s.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if !k2.Equal(k1b) || id2 != id1 {
		t.Errorf("SigningKey after reopen = %s, want %s", id2, id1)
	}
	msg := []byte(`{"verdict":"valid"}`)
	if !ed25519.Verify(k1b.Public().(ed25519.PublicKey), msg, ed25519.Sign(k2, msg)) {
		t.Error("signature by the reopened key does not verify with the original public key")
	}
}

func TestSigningKeyFromRand(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5A}, ed25519.SeedSize)
	s := openTemp(t, Options{Rand: bytes.NewReader(seed)})
	k, _, err := s.SigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(ed25519.NewKeyFromSeed(seed)) {
		t.Error("SigningKey did not use Options.Rand")
	}

	other := openTemp(t, Options{Rand: bytes.NewReader(seed[:5])})
	if _, _, err := other.SigningKey(); err == nil {
		t.Error("SigningKey with short Rand = nil error")
	}
}
