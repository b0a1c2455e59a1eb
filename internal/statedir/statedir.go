// Package statedir is nfcd's state directory: where it is by default, the
// files in it, and the steps that bring a directory written by an older
// nfcd up to date.
//
// A state directory holds the replay ledger and audit log (nfcd.db, see
// internal/store), the verdict signing key (verdict-key) and its public half
// (verdict-key.pub), the hashed API tokens (tokens.json), the demo
// profile of `nfcd run --simulate`, for the authentication station the
// Legitmark actor token (legitmark-user-token, 0600) and the images waiting
// for upload (legitmark-spool/, 0700), and, once the daemon has listened
// beyond loopback without a certificate of its own, its self-signed TLS
// certificate (tls.pem).
//
// The directory and every file in it but the public key are private to
// the account nfcd runs as: Prepare refuses to start a daemon otherwise
// (POSIX modes; an ACL on Windows, which Prepare sets).
package statedir

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nfcd/nfcd/internal/fileperm"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
)

// ErrNoStateDir is returned by Default when the environment names no
// usable directory.
var ErrNoStateDir = errors.New("statedir: cannot determine the state directory")

// Default returns where nfcd keeps its state on this OS:
//
//   - Linux and other Unix, as root: /var/lib/nfcd (systemd's
//     StateDirectory=nfcd).
//   - Linux and other Unix, otherwise: $XDG_STATE_HOME/nfcd, falling back to
//     ~/.local/state/nfcd (XDG Base Directory spec).
//   - Windows: %ProgramData%\nfcd, the machine-wide data directory a
//     LocalSystem service can write.
func Default() (string, error) {
	return defaultDir(os.Getenv, os.Geteuid(), os.UserHomeDir)
}

// Paths are the files of a state directory.
type Paths struct {
	Dir string
	// DB is the bbolt replay ledger and audit log.
	DB string
	// Journal is the store's replay journal (store.JournalPath of DB):
	// the taps made durable but not yet checkpointed into DB, 0600. It is
	// empty or absent while no daemon runs, unless one was killed; the
	// next opening of the store replays it. Never delete it by hand.
	Journal string
	// Key is the verdict signing key's 32-byte seed (0600).
	Key string
	// PublicKey is the verdict public key, raw 32 bytes, readable by
	// anyone, for `nfcd key show`.
	PublicKey string
	// Tokens holds the hashed API tokens.
	Tokens string
	// Demo is the demo profile of `nfcd run --simulate`.
	Demo string
	// LegitmarkToken is the Legitmark actor token (older auth model),
	// 0600, written by actor registration and never shown.
	LegitmarkToken string
	// LegitmarkSpool holds the prepared images of SRs not yet submitted,
	// so that an upload cut off by a restart resumes without a new photo.
	LegitmarkSpool string
	// TLS is the self-signed TLS certificate and its key (PEM, 0600).
	TLS string
	// TLSCert is a copy of the certificate alone (0644), for `nfcd key
	// show`.
	TLSCert string
}

// PathsOf returns the files of the state directory dir.
func PathsOf(dir string) Paths {
	return Paths{
		Dir:       dir,
		DB:        filepath.Join(dir, "nfcd.db"),
		Journal:   store.JournalPath(filepath.Join(dir, "nfcd.db")),
		Key:       filepath.Join(dir, "verdict-key"),
		PublicKey: filepath.Join(dir, "verdict-key.pub"),
		Tokens:    filepath.Join(dir, "tokens.json"),
		Demo:      filepath.Join(dir, "simulate-profile.toml"),

		LegitmarkToken: filepath.Join(dir, "legitmark-user-token"),
		LegitmarkSpool: filepath.Join(dir, "legitmark-spool"),
		TLS:            filepath.Join(dir, "tls.pem"),
		TLSCert:        filepath.Join(dir, "tls-cert.pem"),
	}
}

// Prepare makes the state directory ready for the daemon. It creates the
// directory (0700) if it is missing and gives it its ACL on Windows. A
// directory that others may use is tightened to 0700 (tightened says so;
// the files in it are 0600, so its looseness exposed their names only),
// or refused when that fails. Then it refuses, with a *fileperm.PermError
// naming the fix, a file holding secrets or replay marks (the store, the
// key, the tokens, the demo profile, the TLS key, the Legitmark token and
// photo spool) that others may use: nfcd made it private, so a looser mode
// is an outside change, and its content may have been read. A reading
// command never calls Prepare: it creates state.
func (p Paths) Prepare() (tightened bool, err error) {
	_, err = os.Stat(p.Dir)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return false, fmt.Errorf("statedir: %w", err)
	}
	if created || runtime.GOOS == "windows" {
		// A new directory gets exactly 0700 whatever the umask; on
		// Windows the ACL is set on every start.
		if err := fileperm.Restrict(p.Dir); err != nil {
			return false, fmt.Errorf("statedir: %w", err)
		}
	}
	if err := fileperm.CheckPrivate(p.Dir); err != nil {
		if rerr := fileperm.Restrict(p.Dir); rerr != nil {
			return false, fmt.Errorf("statedir: refusing to start: %w (tightening it failed: %v)", err, rerr)
		}
		if err := fileperm.CheckPrivate(p.Dir); err != nil {
			return false, fmt.Errorf("statedir: refusing to start: %w", err)
		}
		tightened = true
	}
	for _, f := range []string{p.DB, p.Journal, p.Key, p.Tokens, p.Demo, p.TLS, p.LegitmarkToken, p.LegitmarkSpool} {
		if err := fileperm.CheckPrivate(f); err != nil {
			return tightened, fmt.Errorf("statedir: refusing to start: %w", err)
		}
	}
	return tightened, nil
}

// Signer returns the verdict signer of the state directory, whose store st
// the caller has open: the key file, or on first start a new key, or the
// key an nfcd before schema version 2 kept inside the store, which is moved
// to the key file and then deleted from the store (each step durable, so an
// interruption at any point is finished by the next start). It also writes
// the public key file.
func (p Paths) Signer(st *store.Store) (*verdict.Signer, error) {
	legacy, err := st.LegacySigningSeed()
	if err != nil {
		return nil, err
	}
	defer clear(legacy)
	s, err := verdict.LoadKey(p.Key)
	switch {
	case errors.Is(err, verdict.ErrNoKey) && legacy != nil:
		if err := verdict.WriteKey(p.Key, legacy); err != nil {
			return nil, err
		}
		s = verdict.NewSigner(legacy)
	case errors.Is(err, verdict.ErrNoKey):
		if s, err = verdict.CreateKey(p.Key, rand.Reader); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case legacy != nil && !verdict.NewSigner(legacy).Public().Equal(s.Public()):
		// The file is the key in use since the move; the store's copy is
		// older and was left behind by an interrupted move of another key.
		return nil, fmt.Errorf("statedir: %s and the key inside %s differ; move one of them away", p.Key, p.DB)
	}
	if legacy != nil {
		if err := st.DropLegacySigningSeed(); err != nil {
			return nil, err
		}
	}
	if err := writePublicKey(p.PublicKey, s.Public()); err != nil {
		return nil, err
	}
	return s, nil
}

// writePublicKey writes pub (0644) unless the file already holds it.
func writePublicKey(path string, pub ed25519.PublicKey) error {
	if b, err := os.ReadFile(path); err == nil && pub.Equal(ed25519.PublicKey(b)) {
		return nil
	}
	if err := os.WriteFile(path, pub, 0o644); err != nil {
		return fmt.Errorf("statedir: public key file: %w", err)
	}
	return nil
}

// ReadPublicKey returns the verdict public key of the state directory without
// opening the store: from the public key file, or from the key file when
// only that is readable. It never creates either.
func (p Paths) ReadPublicKey() (ed25519.PublicKey, error) {
	if b, err := os.ReadFile(p.PublicKey); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	s, err := verdict.LoadKey(p.Key)
	if err != nil {
		return nil, err
	}
	return s.Public(), nil
}
