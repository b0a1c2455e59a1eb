package verdict

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// Signer signs verdicts with one Ed25519 key.
type Signer struct {
	priv ed25519.PrivateKey
	id   string
}

// NewSigner returns a Signer for the key with the given seed
// (ed25519.SeedSize bytes). It panics on a seed of another length, a
// programmer error.
func NewSigner(seed []byte) *Signer {
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, id: KeyID(priv.Public().(ed25519.PublicKey))}
}

// KeyID returns the ID of the signing key (see the package function KeyID).
func (s *Signer) KeyID() string { return s.id }

// Public returns the public key that verifies s's signatures.
func (s *Signer) Public() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// Seal signs v with both canonical versions and returns its wire form.
func (s *Signer) Seal(v Verdict) Payload { return Seal(s.priv, s.id, v) }

// SealV2 signs v with canonical version 2 only (verdict.updated).
func (s *Signer) SealV2(v Verdict) Payload { return SealV2(s.priv, s.id, v) }

// ErrNoKey is returned by LoadKey when the key file does not exist.
var ErrNoKey = errors.New("verdict: no signing key file")

// LoadKey returns a Signer for the key in the file at path, which holds the
// 32-byte seed and nothing else (as CreateKey writes it).
func LoadKey(path string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("verdict: read signing key: %w", err)
	}
	defer clear(b)
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("verdict: signing key file %s holds %d bytes, want %d", path, len(b), ed25519.SeedSize)
	}
	return NewSigner(b), nil
}

// CreateKey generates a signing key from rand and writes its seed to path
// (mode 0600), completely or not at all: a temporary file, fsynced, renamed
// into place, and the directory fsynced. It fails if path exists.
func CreateKey(path string, rand io.Reader) (*Signer, error) {
	var seed [ed25519.SeedSize]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("verdict: read random: %w", err)
	}
	if err := WriteKey(path, seed[:]); err != nil {
		return nil, err
	}
	return NewSigner(seed[:]), nil
}

// WriteKey writes seed to a new key file at path as CreateKey does. It fails
// if path exists, so a key is never replaced.
func WriteKey(path string, seed []byte) error {
	if len(seed) != ed25519.SeedSize {
		return fmt.Errorf("verdict: seed of %d bytes", len(seed))
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".verdict-key-*")
	if err != nil {
		return fmt.Errorf("verdict: write signing key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("verdict: write signing key: %w", err)
	}
	if _, err := f.Write(seed); err != nil {
		f.Close()
		return fmt.Errorf("verdict: write signing key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("verdict: write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("verdict: write signing key: %w", err)
	}
	// Link, unlike rename, refuses to replace an existing key.
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("verdict: write signing key: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable. Windows cannot fsync a
// directory; NTFS journals the entry itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("verdict: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("verdict: sync %s: %w", dir, err)
	}
	return nil
}
