package provision

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Journal remembers, per tag, how far a personalisation got, so that a tag
// pulled at any step is finished on the next presentation instead of being
// started again with keys it no longer holds. It carries no key material
// (see the package doc).
type Journal interface {
	// Load returns the record of the tag with this UID, or nil and no
	// error when there is none.
	Load(ctx context.Context, uid []byte) (*Record, error)
	// Save stores r, replacing the tag's record, durably: once Save
	// returns, the record survives a crash or kill -9.
	Save(ctx context.Context, r *Record) error
}

// Operations a record can describe.
const (
	OpProvision = "provision"
	OpReset     = "reset"
)

// Record states and step states.
const (
	StateInProgress = "in_progress" // steps remain; re-run the same command
	StateDone       = "done"        // the tag verified after the last step

	StepPending = "pending" // started; whether the tag carried it out is unknown
	StepDone    = "done"    // the tag confirmed it
)

// Record is one tag's journal entry. It holds the UID, the profile's name,
// which steps are done and the key versions written: never a key.
type Record struct {
	UID     string               `json:"uid"` // upper-case hex
	Profile string               `json:"profile"`
	Op      string               `json:"op"`    // OpProvision or OpReset
	State   string               `json:"state"` // StateInProgress or StateDone
	LRP     bool                 `json:"lrp,omitempty"`
	Steps   map[string]StepState `json:"steps"`
	// KeyVersions are the versions of the keys this operation wrote,
	// by key number; -1 for a key it leaves alone.
	KeyVersions [5]int    `json:"key_versions"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
}

// StepState is the state of one step and when it was reached.
type StepState struct {
	Status string    `json:"status"` // StepPending or StepDone
	At     time.Time `json:"at"`
}

// done reports whether step is done.
func (r *Record) done(step string) bool { return r != nil && r.Steps[step].Status == StepDone }

// touched reports whether step was started (pending or done).
func (r *Record) touched(step string) bool { return r != nil && r.Steps[step].Status != "" }

// BoltJournal is a Journal in a bbolt file of its own (provision.db next
// to the daemon's store), one JSON record per UID in bucket "journal",
// every Save one fsynced transaction. The lead may move the bucket into
// the daemon's store later; the Journal interface stays.
type BoltJournal struct {
	db *bolt.DB
}

var bucketJournal = []byte("journal")

// ErrJournalLocked means another nfcd process has the journal open.
var ErrJournalLocked = errors.New("provision: journal is locked by another process")

// OpenJournal opens or creates the journal file at path (0600, in a 0700
// directory), waiting at most timeout for another process to let go of it.
func OpenJournal(path string, timeout time.Duration) (*BoltJournal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("provision: journal: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrJournalLocked, path)
		}
		return nil, fmt.Errorf("provision: journal %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketJournal)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("provision: journal %s: %w", path, err)
	}
	return &BoltJournal{db: db}, nil
}

// Close closes the file.
func (j *BoltJournal) Close() error { return j.db.Close() }

// Load returns the record of uid, or nil.
func (j *BoltJournal) Load(ctx context.Context, uid []byte) (*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var r *Record
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJournal).Get(uid)
		if b == nil {
			return nil
		}
		r = new(Record)
		return json.Unmarshal(b, r)
	})
	if err != nil {
		return nil, fmt.Errorf("provision: journal: %w", err)
	}
	return r, nil
}

// Save stores r under its UID in one durable transaction.
func (j *BoltJournal) Save(ctx context.Context, r *Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	uid, err := hex.DecodeString(r.UID)
	if err != nil || len(uid) == 0 {
		return fmt.Errorf("provision: journal: bad UID %q", r.UID)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("provision: journal: %w", err)
	}
	err = j.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketJournal).Put(uid, b) })
	if err != nil {
		return fmt.Errorf("provision: journal: %w", err)
	}
	return nil
}

// Records returns every record, for inspection and tests.
func (j *BoltJournal) Records(ctx context.Context) ([]Record, error) {
	var out []Record
	err := j.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJournal).ForEach(func(_, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// MemJournal is a Journal in memory, for dry runs and tests. It is not
// safe for concurrent use.
type MemJournal map[string]Record

// Load returns the record of uid, or nil.
func (m MemJournal) Load(_ context.Context, uid []byte) (*Record, error) {
	r, ok := m[strings.ToUpper(hex.EncodeToString(uid))]
	if !ok {
		return nil, nil
	}
	return cloneRecord(&r), nil
}

// Save stores a copy of r.
func (m MemJournal) Save(_ context.Context, r *Record) error {
	m[r.UID] = *cloneRecord(r)
	return nil
}

func cloneRecord(r *Record) *Record {
	c := *r
	c.Steps = make(map[string]StepState, len(r.Steps))
	for k, v := range r.Steps {
		c.Steps[k] = v
	}
	return &c
}
