// Package token keeps the API tokens that WebSocket clients present, in a
// small JSON file next to the daemon's database (<state-dir>/tokens.json).
//
// The tokens are not in the bbolt database because the running daemon opens
// that exclusively, and `nfcd token create` must work while the daemon runs
// (an installer provisions a POS client without stopping the service).
// Writers serialise on a lock file and replace tokens.json atomically; the
// daemon's Store notices the new file on its next Check, so created and
// revoked tokens take effect without a restart.
//
// Only the SHA-256 hash of a token is stored. Tokens carry 256 random bits,
// so a fast unsalted hash is enough: there is nothing to brute-force.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Prefix starts every API token, so that a leaked token is easy to
// recognise in logs and by secret scanners.
const Prefix = "nfcd_"

// randLen is the number of random bytes in a token (256 bits).
const randLen = 32

// IDLen is the length of a token's display ID: its first characters, Prefix
// plus 7, i.e. 42 of the 256 random bits. Enough to tell tokens apart, far
// too little to help guess one.
const IDLen = len(Prefix) + 7

// MaxNameLen bounds token names.
const MaxNameLen = 64

// fileVersion is the "version" member of tokens.json.
const fileVersion = 1

// maxFileSize bounds what is read from tokens.json: thousands of tokens,
// far more than any installation has.
const maxFileSize = 1 << 20

var (
	// ErrExists is returned by Create for a name already in use.
	ErrExists = errors.New("token: name already exists")

	// ErrNotFound is returned by Revoke for an unknown name.
	ErrNotFound = errors.New("token: no token with that name")

	// ErrInvalidName is returned for a name that is empty, longer than
	// MaxNameLen, or has characters outside [A-Za-z0-9._-].
	ErrInvalidName = errors.New("token: invalid name")

	// ErrCorrupt is matched (errors.Is) by every CorruptError.
	ErrCorrupt = errors.New("token: corrupt token file")
)

// CorruptError reports a token file that cannot be used. It names the file
// and the problem but never quotes the file's content, which holds hashes.
type CorruptError struct {
	Path   string
	Reason string // e.g. "invalid JSON at byte 12", "entry 3: bad hash"
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("token: corrupt token file %s: %s", e.Path, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Info describes a stored token. It never holds the token or its hash.
type Info struct {
	Name    string
	ID      string // the token's first IDLen characters, e.g. "nfcd_AbC1234"
	Created time.Time
}

// file is the JSON layout of tokens.json.
type file struct {
	Version int     `json:"version"`
	Tokens  []entry `json:"tokens"`
}

type entry struct {
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	SHA256  string    `json:"sha256"` // lower-case hex of SHA-256(token)
	Created time.Time `json:"created"`
}

// record is a validated entry with its hash decoded for Check.
type record struct {
	name string
	hash [sha256.Size]byte
}

// Store is the token file at one path. Its methods are safe for concurrent
// use, and several Stores (in one or several processes) may share a path.
type Store struct {
	path string
	now  func() time.Time
	rand io.Reader

	mu      sync.Mutex
	cached  bool
	stat    fs.FileInfo // of the file cache was read from; nil if it did not exist
	records []record
}

// Open returns the Store for the token file at path. The file need not
// exist yet: it is created by the first Create. Open does no I/O.
func Open(path string) *Store {
	return &Store{path: path, now: time.Now, rand: rand.Reader}
}

// Path returns the token file's path.
func (s *Store) Path() string { return s.path }

func checkName(name string) error {
	bad := name == "" || len(name) > MaxNameLen
	for i := 0; i < len(name) && !bad; i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: want 1 to %d letters, digits, '.', '_' or '-'", ErrInvalidName, MaxNameLen)
	}
	return nil
}

// OpError is a failed Create or Revoke: the operation, the token's name
// and the cause, which matches ErrExists, ErrNotFound, a CorruptError or
// an I/O error. Its text names the package once: `token: create "pos-1":
// name already exists`.
type OpError struct {
	Op   string // "create" or "revoke"
	Name string
	Err  error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("token: %s %q: %s", e.Op, e.Name, strings.TrimPrefix(e.Err.Error(), "token: "))
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// Create makes a new random API token called name, stores its hash and
// returns it. The token is shown to the caller once; it cannot be read back.
func (s *Store) Create(name string) (token string, err error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	var raw [randLen]byte
	if _, err := io.ReadFull(s.rand, raw[:]); err != nil {
		return "", &OpError{Op: "create", Name: name, Err: fmt.Errorf("read random: %w", err)}
	}
	token = Prefix + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(token))
	e := entry{Name: name, ID: token[:IDLen], SHA256: hex.EncodeToString(sum[:]), Created: s.now().UTC()}
	err = s.update(func(f *file) error {
		for _, o := range f.Tokens {
			if o.Name == name {
				return ErrExists
			}
		}
		f.Tokens = append(f.Tokens, e)
		return nil
	})
	if err != nil {
		return "", &OpError{Op: "create", Name: name, Err: err}
	}
	return token, nil
}

// Revoke deletes the token called name. Every Store on the same file,
// including the running daemon's, stops accepting it on its next Check.
func (s *Store) Revoke(name string) error {
	err := s.update(func(f *file) error {
		i := slices.IndexFunc(f.Tokens, func(e entry) bool { return e.Name == name })
		if i < 0 {
			return ErrNotFound
		}
		f.Tokens = slices.Delete(f.Tokens, i, i+1)
		return nil
	})
	if err != nil {
		return &OpError{Op: "revoke", Name: name, Err: err}
	}
	return nil
}

// List returns the stored tokens sorted by name. A missing file means no
// tokens.
func (s *Store) List() ([]Info, error) {
	f, _, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(f.Tokens))
	for _, e := range f.Tokens {
		out = append(out, Info{Name: e.Name, ID: e.ID, Created: e.Created})
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Check reports whether token is a stored API token, and returns its name.
//
// It hashes token and compares the hash with every stored hash using
// subtle.ConstantTimeCompare, without stopping at a match, so the time taken
// does not depend on which token (if any) matched.
//
// Each call stats the file and rereads it only when its identity, size or
// modification time changed since the last read, so tokens created or
// revoked by another process take effect at once. Writers always replace the
// file with a new one (a new inode), so a change is seen even where the
// modification time is coarse. A file that cannot be read or is corrupt
// accepts no token (fail closed); List reports the error.
func (s *Store) Check(token string) (name string, ok bool) {
	h := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return "", false
	}
	for i := range s.records {
		r := &s.records[i]
		if subtle.ConstantTimeCompare(h[:], r.hash[:]) == 1 {
			name, ok = r.name, true
		}
	}
	return name, ok
}

// Has reports whether the file holds a token called name whose SHA-256 is
// digest: whether a connection that authenticated with that token may
// stay open. Like Check it rereads the file if it changed, and a file
// that cannot be read holds nothing.
func (s *Store) Has(name string, digest [sha256.Size]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refreshLocked(); err != nil {
		return false
	}
	for i := range s.records {
		r := &s.records[i]
		if r.name == name && subtle.ConstantTimeCompare(digest[:], r.hash[:]) == 1 {
			return true
		}
	}
	return false
}

// refreshLocked rereads the file into s.records if it changed. On error
// the cache is emptied.
func (s *Store) refreshLocked() error {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		s.cached, s.records = false, nil
		return fmt.Errorf("token: %w", err)
	}
	if s.cached && sameFile(s.stat, fi) {
		return nil
	}
	f, fi, err := s.read()
	if err != nil {
		s.cached, s.records = false, nil
		return err
	}
	recs := make([]record, 0, len(f.Tokens))
	for _, e := range f.Tokens {
		r := record{name: e.Name}
		hex.Decode(r.hash[:], []byte(e.SHA256)) // validated by read
		recs = append(recs, r)
	}
	s.cached, s.stat, s.records = true, fi, recs
	return nil
}

// sameFile reports whether a and b (either may be nil for "no file")
// describe the same version of the file.
func sameFile(a, b fs.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// read reads and validates the token file. It returns the FileInfo of the
// file it read (nil when it does not exist, which is an empty file).
func (s *Store) read() (*file, fs.FileInfo, error) {
	fh, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &file{Version: fileVersion}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("token: %w", err)
	}
	defer fh.Close()
	// Stat the open file, not the path: the pair (content, FileInfo) then
	// belongs to one version even if a writer replaces the file meanwhile.
	fi, err := fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("token: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("token: read %s: %w", s.path, err)
	}
	f, err := parse(s.path, b)
	if err != nil {
		return nil, nil, err
	}
	return f, fi, nil
}

// parse decodes and validates a token file. Errors are CorruptErrors that
// never quote the content.
func parse(path string, b []byte) (*file, error) {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Path: path, Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) > maxFileSize {
		return nil, corrupt("larger than %d bytes", maxFileSize)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, corrupt("invalid JSON at byte %d", syn.Offset)
		}
		// Type errors and bad times: the message could quote content.
		return nil, corrupt("not a token file")
	}
	if f.Version != fileVersion {
		return nil, corrupt("unsupported version %d", f.Version)
	}
	seen := make(map[string]bool, len(f.Tokens))
	for i, e := range f.Tokens {
		if checkName(e.Name) != nil {
			return nil, corrupt("entry %d: invalid name", i)
		}
		if seen[e.Name] {
			return nil, corrupt("entry %d: duplicate name", i)
		}
		seen[e.Name] = true
		if len(e.ID) != IDLen || !strings.HasPrefix(e.ID, Prefix) {
			return nil, corrupt("entry %d: invalid id", i)
		}
		if h, err := hex.DecodeString(e.SHA256); err != nil || len(h) != sha256.Size || e.SHA256 != strings.ToLower(e.SHA256) {
			return nil, corrupt("entry %d: invalid hash", i)
		}
	}
	return &f, nil
}

// update runs fn on the current content of the file under the write lock
// and, if fn succeeds, atomically replaces the file with the result.
func (s *Store) update(fn func(*file) error) error {
	dir := filepath.Dir(s.path)
	// The state directory may not exist yet when an installer creates the
	// first token before the daemon's first start.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	unlock, err := lock(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", s.path, err)
	}
	defer unlock()
	// Read afresh under the lock, not from the cache: another process may
	// have written since. A corrupt file stops the write rather than being
	// overwritten.
	f, _, err := s.read()
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(s.path, append(b, '\n')); err != nil {
		return err
	}
	s.mu.Lock()
	s.cached, s.records = false, nil
	s.mu.Unlock()
	return nil
}

// writeFile replaces path with data: it writes a temporary file in the same
// directory (mode 0600), syncs it, renames it over path and syncs the
// directory, so a crash leaves either the old or the new file, never a torn
// one.
func writeFile(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp") // created 0600
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod guards against a future change
	// and documents the intent. It is a no-op on Windows beyond read-only.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("chmod temporary file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err := replaceFile(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
