package verdict

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestKeyFile: CreateKey writes a 0600 seed file that LoadKey reads back to
// the same signer; it never replaces an existing key; a damaged file is an
// error, a missing one ErrNoKey.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "verdict-key")
	if _, err := LoadKey(path); !errors.Is(err, ErrNoKey) {
		t.Errorf("LoadKey(missing) = %v, want ErrNoKey", err)
	}
	s1, err := CreateKey(path, bytes.NewReader(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("key file %v, %v; want mode 0600", fi, err)
	}
	s2, err := LoadKey(path)
	if err != nil || !s2.Public().Equal(s1.Public()) || s2.KeyID() != KeyID(s1.Public()) {
		t.Fatalf("LoadKey = %v, %v; want the created key", s2, err)
	}
	if _, err := CreateKey(path, bytes.NewReader(bytes.Repeat([]byte{2}, 32))); err == nil {
		t.Error("CreateKey replaced an existing key")
	}
	if s3, _ := LoadKey(path); !s3.Public().Equal(s1.Public()) {
		t.Error("the key changed after a refused CreateKey")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (no temporary file left)", len(entries))
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err == nil || errors.Is(err, ErrNoKey) {
		t.Errorf("LoadKey(5-byte file) = %v, want an error about its size", err)
	}
	if _, err := CreateKey(filepath.Join(dir, "x"), bytes.NewReader(nil)); err == nil {
		t.Error("CreateKey with a failing random source succeeded")
	}
}

// TestSignerSeals: a sealed payload opens under the signer's public key.
func TestSignerSeals(t *testing.T) {
	s := NewSigner(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	p := s.Seal(Verdict{Reader: "r", UID: "04", Verdict: Authentic, Reason: ReasonOK, Time: time.Unix(1, 0)})
	if p.Signature.KeyID != s.KeyID() {
		t.Errorf("key id %s, want %s", p.Signature.KeyID, s.KeyID())
	}
	if _, err := p.Open(s.Public()); err != nil {
		t.Errorf("Open = %v", err)
	}
}
