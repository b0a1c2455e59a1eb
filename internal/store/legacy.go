package store

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// LegacySigningSeed returns the verdict signing key's seed that schema
// version 1 kept in the database, or nil when there is none. nfcd now keeps
// the key in a file of its own; the caller writes the seed there and then
// calls DropLegacySigningSeed.
func (s *Store) LegacySigningSeed() ([]byte, error) {
	var seed []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keySigningSeed)
		if v == nil {
			return nil
		}
		if len(v) != ed25519.SeedSize {
			return fmt.Errorf("%w: signing seed of %d bytes", ErrCorrupt, len(v))
		}
		seed = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read legacy signing key: %w", err)
	}
	return seed, nil
}

// DropLegacySigningSeed deletes the seed LegacySigningSeed returns.
func (s *Store) DropLegacySigningSeed() error {
	err := s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySigningSeed) == nil {
			return errNoChange
		}
		return meta.Delete(keySigningSeed)
	})
	if err != nil && err != errNoChange {
		return fmt.Errorf("store: drop legacy signing key: %w", err)
	}
	return nil
}
