package store

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// signingKey is the cached verdict signing key.
type signingKey struct {
	priv ed25519.PrivateKey
	id   string
}

// SigningKey returns the Ed25519 key nfcd signs verdicts with, and its key
// ID: the first 8 bytes of SHA-256 of the public key, in hex. The first call
// on a new store generates the key from crypto/rand; after that the same key
// comes back, across restarts.
//
// The key's 32-byte seed is kept in the meta bucket of the database rather
// than in a separate file: the database is already created 0600 in a 0700
// directory, one file is simpler to back up and move, and a state directory
// copied without the key cannot silently start signing with a new one. The
// caller gets its own copy of the private key.
func (s *Store) SigningKey() (ed25519.PrivateKey, string, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key.priv == nil {
		var seed [ed25519.SeedSize]byte
		err := s.update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if v := meta.Get(keySigningSeed); v != nil {
				if len(v) != ed25519.SeedSize {
					return fmt.Errorf("%w: signing seed of %d bytes", ErrCorrupt, len(v))
				}
				copy(seed[:], v)
				return errNoChange
			}
			// Read from Rand directly (not ed25519.GenerateKey) so tests
			// can inject it.
			if _, err := io.ReadFull(s.rand, seed[:]); err != nil {
				return fmt.Errorf("read random: %w", err)
			}
			return meta.Put(keySigningSeed, seed[:])
		})
		if err != nil && !errors.Is(err, errNoChange) {
			return nil, "", fmt.Errorf("store: signing key: %w", err)
		}
		priv := ed25519.NewKeyFromSeed(seed[:])
		clear(seed[:])
		sum := sha256.Sum256(priv.Public().(ed25519.PublicKey))
		s.key = signingKey{priv: priv, id: hex.EncodeToString(sum[:8])}
	}
	return append(ed25519.PrivateKey(nil), s.key.priv...), s.key.id, nil
}
