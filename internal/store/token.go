package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// TokenPrefix starts every API token, so that a leaked token is easy to
// recognise in logs and by secret scanners.
const TokenPrefix = "nfcd_"

// tokenRandLen is the number of random bytes in a token (256 bits).
const tokenRandLen = 32

// tokenIDLen is how much of a token ListTokens shows: "nfcd_" plus 7
// characters, i.e. 42 of the 256 random bits. Enough to tell tokens apart,
// far too little to help guess one.
const tokenIDLen = len(TokenPrefix) + 7

// MaxTokenNameLen bounds token names.
const MaxTokenNameLen = 64

var (
	// ErrTokenExists is returned by CreateToken for a name already in use.
	ErrTokenExists = errors.New("store: token name already exists")

	// ErrTokenNotFound is returned by RevokeToken for an unknown name.
	ErrTokenNotFound = errors.New("store: no token with that name")

	// ErrInvalidTokenName is returned for an empty name, one longer than
	// MaxTokenNameLen, or one with characters that are not printable.
	ErrInvalidTokenName = errors.New("store: invalid token name")
)

// TokenInfo describes a stored token. It never contains the token or its
// hash.
type TokenInfo struct {
	Name    string
	Created time.Time
	ID      string // the token's first characters, e.g. "nfcd_AbC1234"
}

// tokenRecord is the value stored under a token's name.
type tokenRecord struct {
	hash    [sha256.Size]byte
	created int64
	id      string
}

func (r *tokenRecord) marshal() []byte {
	b := make([]byte, 0, sha256.Size+8+len(r.id))
	b = append(b, r.hash[:]...)
	b = be.AppendUint64(b, uint64(r.created))
	return append(b, r.id...)
}

func (r *tokenRecord) unmarshal(v []byte) error {
	if len(v) < sha256.Size+8 || len(v) > sha256.Size+8+tokenIDLen {
		return fmt.Errorf("%w: token record of %d bytes", ErrCorrupt, len(v))
	}
	copy(r.hash[:], v)
	r.created = int64(be.Uint64(v[sha256.Size:]))
	r.id = string(v[sha256.Size+8:])
	return nil
}

func checkTokenName(name string) error {
	if name == "" || len(name) > MaxTokenNameLen || !utf8.ValidString(name) {
		return ErrInvalidTokenName
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return ErrInvalidTokenName
		}
	}
	return nil
}

// CreateToken makes a new random API token called name and returns it. The
// token is shown to the caller once: only its SHA-256 hash is stored, with
// the name, the creation time and the token's first characters as an ID.
func (s *Store) CreateToken(name string) (token string, err error) {
	if err := checkTokenName(name); err != nil {
		return "", err
	}
	var raw [tokenRandLen]byte
	if _, err := io.ReadFull(s.rand, raw[:]); err != nil {
		return "", fmt.Errorf("store: create token: read random: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	rec := tokenRecord{
		hash:    sha256.Sum256([]byte(token)),
		created: s.now().UnixNano(),
		id:      token[:tokenIDLen],
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(name)) != nil {
			return ErrTokenExists
		}
		return b.Put([]byte(name), rec.marshal())
	})
	if err != nil {
		return "", fmt.Errorf("store: create token %q: %w", name, err)
	}
	return token, nil
}

// ListTokens returns the stored tokens sorted by name.
func (s *Store) ListTokens() ([]TokenInfo, error) {
	var out []TokenInfo
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var rec tokenRecord
			if err := rec.unmarshal(v); err != nil {
				return err
			}
			out = append(out, TokenInfo{Name: string(k), Created: time.Unix(0, rec.created), ID: rec.id})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken deletes the token called name; CheckToken stops accepting it
// at once.
func (s *Store) RevokeToken(name string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(name)) == nil {
			return ErrTokenNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("store: revoke token %q: %w", name, err)
	}
	return nil
}

// CheckToken reports whether token is a stored, unrevoked API token, and
// returns its name. It hashes token and compares the hash with every stored
// hash in constant time, without stopping at a match, so the time taken does
// not depend on which token (if any) matched. There are only a handful of
// tokens. Any storage error counts as a mismatch.
func (s *Store) CheckToken(token string) (name string, ok bool) {
	h := sha256.Sum256([]byte(token))
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			if len(v) < sha256.Size {
				return nil
			}
			if subtle.ConstantTimeCompare(h[:], v[:sha256.Size]) == 1 {
				name, ok = string(k), true
			}
			return nil
		})
	})
	if err != nil {
		return "", false
	}
	return name, ok
}
