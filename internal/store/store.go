// Package store is nfcd's embedded replay ledger: the per-UID SDM read
// counter high-water marks that make replayed taps detectable, and a bounded
// audit log of verdicts (Record, Query).
//
// Everything lives in one bbolt file (go.etcd.io/bbolt: no cgo, +0.45 MB,
// ~0.4 ms per durable update).
// Every write is one bbolt read-write transaction, committed with fsync
// before the call returns, so an accepted counter never goes backwards across
// a crash or kill -9. bbolt allows one writer process per file; a second
// process gets ErrLocked after Options.Timeout instead of blocking forever.
//
// The file is created 0600 inside a 0700 directory: the audit log says which
// tags were read where and when.
//
// Layout (schema version 3):
//
//	meta               "schema" → uint32 BE; "audit_count" → uint64 BE
//	marks              len(UID) (1 byte) || UID || profile → uint32 BE (highest accepted SDMReadCtr)
//	audit              unix nanos (int64 BE) || seq (uint64 BE) → encoded Entry (format 1 or 2)
//	legitmark_journal  seq (uint64 BE) → JSON legitmark.Entry (srjournal.go; created on first use)
//	outbox             item ID (uint64 BE) → JSON OutboxItem (outbox.go; added to version 2 files by init)
//	queue.<name>       item ID (uint64 BE) → push time || item (queue.go: the fleet's outbox; created on first use)
//
// A replay mark belongs to a tag under one profile, so a tag of a weak
// profile (factory keys, a test batch) that claims another tag's UID
// cannot move that tag's mark. A mark with the empty profile applies under
// every profile: it is what the upgrade from version 2 keeps of a mark it
// cannot attribute to one profile (see migrateMarks).
//
// Version 2 kept one mark per UID in a "counters" bucket (UID → uint32
// BE). Version 1 also kept the verdict signing key's seed in meta
// ("signing_seed", now a file of its own: LegacySigningSeed) and an unused
// tokens bucket, which the upgrade to version 2 deleted.
//
// A new file is created complete or not at all: initialised in a
// temporary file, fsynced, and renamed into place (createFile). An
// existing file that is empty or holds no nfcd data is never initialised
// in place: it is reported as ErrCorrupt, because it may be what is left
// of a store whose replay marks were lost.
package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/nfcd/nfcd/internal/atomicfile"
)

// schemaVersion is the layout described in the package comment. Open refuses
// files with a larger version (written by a newer nfcd).
const schemaVersion = 3

// Defaults applied by Open for zero Options fields.
const (
	DefaultTimeout    = time.Second
	DefaultMaxAge     = 90 * 24 * time.Hour
	DefaultMaxEntries = 100_000
)

var (
	bucketMeta       = []byte("meta")
	bucketMarks      = []byte("marks")
	bucketAudit      = []byte("audit")
	bucketCountersV2 = []byte("counters")
	bucketTokensV1   = []byte("tokens")

	keySchema      = []byte("schema")
	keyAuditCount  = []byte("audit_count")
	keySigningSeed = []byte("signing_seed")
)

var (
	// ErrLocked means another process holds the database file open for
	// writing (usually a running nfcd). It is returned inside an *OpenError.
	ErrLocked = errors.New("store: database is locked by another process")

	// ErrCorrupt means the file is not a bbolt database, is damaged, or is a
	// bbolt file that is not an nfcd store. It is returned inside an *OpenError.
	ErrCorrupt = errors.New("store: database file is corrupt or not an nfcd store")

	// ErrSchemaVersion means the file was written by a newer nfcd with a
	// layout this build does not know. It is returned inside an *OpenError.
	ErrSchemaVersion = errors.New("store: unsupported schema version")

	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("store: closed")

	// ErrInvalidUID is returned for an empty UID or one longer than MaxUIDLen.
	ErrInvalidUID = errors.New("store: invalid UID")
)

// OpenError reports why the database at Path could not be opened. Kind is
// ErrLocked, ErrCorrupt, ErrSchemaVersion or nil (for plain I/O errors such
// as permission denied); Cause is the underlying error. Both are visible to
// errors.Is and errors.As.
type OpenError struct {
	Path  string
	Kind  error
	Cause error
}

func (e *OpenError) Error() string {
	if e.Kind == nil {
		return fmt.Sprintf("store: open %s: %v", e.Path, e.Cause)
	}
	if e.Cause == nil {
		return fmt.Sprintf("%v: %s", e.Kind, e.Path)
	}
	return fmt.Sprintf("%v: %s: %v", e.Kind, e.Path, e.Cause)
}

// Unwrap returns Kind and Cause, whichever are set.
func (e *OpenError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// Options configures Open. The zero value is usable.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process.
	// Zero means DefaultTimeout; negative means do not wait at all.
	Timeout time.Duration

	// MaxAge drops audit entries older than this. Zero means DefaultMaxAge;
	// negative disables age pruning.
	MaxAge time.Duration

	// MaxEntries caps the audit log; the oldest entries go first. Zero means
	// DefaultMaxEntries; negative disables the cap.
	MaxEntries int

	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Store is an open nfcd state database. It is safe for concurrent use by
// multiple goroutines of one process.
type Store struct {
	db         *bolt.DB
	path       string
	maxAge     time.Duration
	maxEntries int
	now        func() time.Time
	readOnly   bool

	// The replay journal (journal.go, commit.go): w for a writer, js for
	// every opening.
	w  *writer
	js jstate
	// shipper, if set, queues every recorded verdict (queue.go).
	shipper shipperPtr
}

// Open opens or creates the database at path, creating its directory (0700)
// if needed. A missing file is created complete or not at all (createFile);
// an existing file that is empty or holds no nfcd data is an error, never
// silently initialised. Before bbolt maps the file, every page is checked with bounds
// checks (see verifyFile), because bbolt itself would panic or fault on a
// damaged page; then the schema version is checked and the audit log pruned. Errors about the file itself are *OpenError values that
// match ErrLocked, ErrCorrupt or ErrSchemaVersion with errors.Is.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, false)
}

// OpenReadOnly opens an existing database for reading (Query, HighWater):
// it never creates the file or its directory and writes nothing, so it
// also works on read-only media and never leaves a stray database behind a
// mistyped path. A missing file is an *OpenError matching fs.ErrNotExist.
// While a daemon holds the file it returns ErrLocked after Options.Timeout.
// Writes on the returned Store fail.
func OpenReadOnly(path string, opts Options) (*Store, error) {
	return open(path, opts, true)
}

func open(path string, opts Options, readOnly bool) (*Store, error) {
	s := &Store{
		readOnly:   readOnly,
		path:       path,
		maxAge:     opts.MaxAge,
		maxEntries: opts.MaxEntries,
		now:        opts.Now,
	}
	if s.maxAge == 0 {
		s.maxAge = DefaultMaxAge
	}
	if s.maxEntries == 0 {
		s.maxEntries = DefaultMaxEntries
	}
	if s.now == nil {
		s.now = time.Now
	}
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		// bbolt treats 0 as "wait forever"; the smallest positive timeout
		// means one try.
		timeout = time.Nanosecond
	}

	_, err := os.Stat(path)
	switch {
	case readOnly && err != nil:
		return nil, &OpenError{Path: path, Cause: err}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, &OpenError{Path: path, Cause: err}
		}
		// Another nfcd that created the file first wins; open its file.
		if err := createFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, &OpenError{Path: path, Cause: fmt.Errorf("create: %w", err)}
		}
	}
	db, err := openBolt(path, timeout, readOnly)
	if err != nil {
		return nil, err
	}
	s.db = db
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.openJournal(); err != nil {
		db.Close()
		return nil, err
	}
	if readOnly {
		return s, nil
	}
	if _, err := s.Prune(); err != nil {
		s.Close()
		return nil, &OpenError{Path: path, Cause: fmt.Errorf("prune audit log: %w", err)}
	}
	return s, nil
}

// openBolt opens the bbolt file after verifyFile has checked every page of
// it. bbolt panics on some malformed pages and a truncated file can fault in
// the mmap, so those are turned into ErrCorrupt here rather than crashing the
// daemon later.
func openBolt(path string, timeout time.Duration, readOnly bool) (db *bolt.DB, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err != nil:
		return nil, probeLock(path, timeout, &OpenError{Path: path, Cause: err})
	default:
		if err := verifyFile(b); err != nil {
			return nil, probeLock(path, timeout, &OpenError{Path: path, Kind: ErrCorrupt, Cause: err})
		}
	}
	b = nil
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, &OpenError{Path: path, Kind: ErrCorrupt, Cause: fmt.Errorf("bbolt: %v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: readOnly})
	if err != nil {
		return nil, classifyOpen(path, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		// tx.Check walks pages in its own goroutine, where a read past the
		// end of a truncated file would be a fatal SIGBUS rather than a
		// panic, so make sure every page below the high-water mark exists.
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if tx.Size() > fi.Size() {
			return fmt.Errorf("file is %d bytes, its pages need %d: truncated", fi.Size(), tx.Size())
		}
		// The store is small (the audit log is bounded), so a full
		// consistency check costs a few milliseconds at startup.
		for cerr := range tx.Check() {
			if cerr != nil {
				return cerr
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, &OpenError{Path: path, Kind: ErrCorrupt, Cause: err}
	}
	return db, nil
}

// probeLock decides between ErrLocked and failure when the file could not
// be read or verified: a running nfcd may be halfway through a commit, so
// its file can look inconsistent to a plain read. A read-only bbolt open
// takes a shared lock without loading the freelist; if the writer's lock
// stops it, the answer is ErrLocked.
func probeLock(path string, timeout time.Duration, failure error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			err = failure
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return &OpenError{Path: path, Kind: ErrLocked, Cause: err}
	}
	if db != nil {
		db.Close()
	}
	return failure
}

func classifyOpen(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return &OpenError{Path: path, Kind: ErrLocked, Cause: err}
	case errors.Is(err, bolterrors.ErrInvalid),
		errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrInvalidMapping):
		return &OpenError{Path: path, Kind: ErrCorrupt, Cause: err}
	}
	// Errors from the OS (open, lock, stat, mmap, read) keep their type;
	// the rest are bbolt's complaints about the file's contents, such as
	// "file size too small", which it returns as plain strings.
	var pathErr *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pathErr) || errors.As(err, &errno) {
		return &OpenError{Path: path, Cause: err}
	}
	return &OpenError{Path: path, Kind: ErrCorrupt, Cause: err}
}

// errNoData describes a bbolt file without nfcd's buckets.
var errNoData = errors.New("a database without nfcd data (an older nfcd's interrupted first start, or another program's file); " +
	"if it was this kiosk's store its replay marks are lost: move it away to start a new store")

// init checks the schema version and upgrades an older layout.
func (s *Store) init() error {
	var version uint32
	var noOutbox bool
	err := s.db.View(func(tx *bolt.Tx) error {
		noOutbox = tx.Bucket(bucketOutbox) == nil
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// createFile makes every store with its buckets, so a file
			// without them is a stub or someone else's.
			return &OpenError{Path: s.path, Kind: ErrCorrupt, Cause: errNoData}
		}
		v := meta.Get(keySchema)
		if len(v) != 4 {
			return &OpenError{Path: s.path, Kind: ErrCorrupt, Cause: errors.New("malformed schema version")}
		}
		version = be.Uint32(v)
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case version > schemaVersion:
		return &OpenError{Path: s.path, Kind: ErrSchemaVersion,
			Cause: fmt.Errorf("file has version %d, this nfcd supports up to %d", version, schemaVersion)}
	case version == 0:
		return &OpenError{Path: s.path, Kind: ErrCorrupt, Cause: errors.New("schema version 0")}
	}
	// A read-only store is read in the layout it has (HighWater reads a
	// version 2 counters bucket); only a writer upgrades.
	if s.readOnly || (version == schemaVersion && !noOutbox) {
		return nil
	}
	err = s.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketMarks, bucketAudit, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// Version 1 → 2: the tokens bucket was never used (tokens live in
		// tokens.json); audit entries of format 1 stay readable.
		if tx.Bucket(bucketTokensV1) != nil {
			if err := tx.DeleteBucket(bucketTokensV1); err != nil {
				return err
			}
		}
		// Version 2 → 3: marks per (profile, UID).
		if err := migrateMarks(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, be.AppendUint32(nil, schemaVersion))
	})
	if err != nil {
		return &OpenError{Path: s.path, Cause: fmt.Errorf("upgrade from schema version %d: %w", version, err)}
	}
	return nil
}

// initBuckets gives a new database its buckets and schema version.
func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketMarks, bucketAudit, bucketOutbox} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, be.AppendUint32(nil, schemaVersion))
}

// createFile creates a complete, empty store at path, which must not
// exist (atomicfile.CreateNew: a temporary file, fsynced — bbolt fsyncs
// its commits too — then linked into place without replacing a store
// another nfcd created meanwhile).
func createFile(path string) error {
	return atomicfile.CreateNew(path, func(tmp string) error {
		db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			return err
		}
		if err := db.Update(initBuckets); err != nil {
			db.Close()
			return err
		}
		return db.Close()
	})
}

// Path returns the file name the store was opened with.
func (s *Store) Path() string { return s.path }

// Close checkpoints the replay journal into the database and releases the
// file lock. Calls after the first return nil.
func (s *Store) Close() error {
	jerr := s.closeJournal()
	err := s.db.Close()
	if err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return jerr
}

// update and view run fn in a bbolt transaction and translate "database not
// open" into ErrClosed. Open checked the whole file, but bbolt panics on a
// malformed page, so damage that appears later (a disk error, another
// program writing the file) becomes ErrCorrupt instead of a crash; bbolt has
// rolled the transaction back by the time the panic reaches here.
func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	return closedErr(s.db.Update(fn))
}

func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	defer recoverCorrupt(&err)
	return closedErr(s.db.View(fn))
}

func recoverCorrupt(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: bbolt: %v", ErrCorrupt, r)
	}
}

// errNoChange rolls back a read-write transaction that found nothing to
// write, which saves the commit's fsync.
var errNoChange = errors.New("no change")

func closedErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
