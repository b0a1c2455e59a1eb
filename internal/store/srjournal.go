package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/legitmark"
)

// bucketSRJournal holds the Legitmark service-request journal: the steps of
// each SR the authentication station made (internal/legitmark), so that an
// SR in progress survives a restart or a kill -9. Keys are the bucket's
// sequence (uint64 BE, in append order), values JSON-encoded
// legitmark.Entry values; entries hold no secret and no PII. The bucket is
// created by the first Append, so a store that never had a station has
// none and needs no schema change.
var bucketSRJournal = []byte("legitmark_journal")

// maxJournalEntry bounds one encoded entry (its strings are bounded by the
// workflow; this guards the decoder against a damaged value).
const maxJournalEntry = 16 << 10

// SRJournal is the store's legitmark.Journal. Every Append is one durable
// bbolt transaction.
type SRJournal struct{ s *Store }

// SRJournal returns the store's Legitmark SR journal.
func (s *Store) SRJournal() *SRJournal { return &SRJournal{s: s} }

var _ legitmark.Journal = (*SRJournal)(nil)

// Append records e durably before it returns.
func (j *SRJournal) Append(ctx context.Context, e legitmark.Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("store: encode journal entry: %w", err)
	}
	if len(v) > maxJournalEntry {
		return fmt.Errorf("store: journal entry of %d bytes is too long", len(v))
	}
	return j.s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSRJournal)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		return b.Put(be.AppendUint64(nil, seq), v)
	})
}

// Entries returns every entry in append order. An entry that does not
// decode (a damaged value) is skipped rather than failing the journal.
func (j *SRJournal) Entries(ctx context.Context) ([]legitmark.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []legitmark.Entry
	err := j.s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSRJournal)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var e legitmark.Entry
			if len(v) <= maxJournalEntry && json.Unmarshal(v, &e) == nil {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}

// Compact deletes the entries of every SR that is closed (final or
// abandoned) and was last updated before cutoff, and returns how many
// entries went. SRs in progress are never touched.
func (j *SRJournal) Compact(ctx context.Context, cutoff time.Time) (int, error) {
	es, err := j.Entries(ctx)
	if err != nil {
		return 0, err
	}
	drop := map[string]bool{} // references of closed, old SRs
	for _, r := range legitmark.Fold(es) {
		if !r.Open() && r.Updated.Before(cutoff) {
			drop[r.Reference] = true
			if r.UUID != "" {
				drop[r.UUID] = true
			}
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	n := 0
	err = j.s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSRJournal)
		if b == nil {
			return errNoChange
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; {
			var e legitmark.Entry
			gone := json.Unmarshal(v, &e) == nil && (drop[e.UUID] || (e.UUID == "" && drop[e.Reference]))
			if gone {
				key := append([]byte(nil), k...)
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				k, v = c.Seek(key) // the next key after the deleted one
				continue
			}
			k, v = c.Next()
		}
		if n == 0 {
			return errNoChange
		}
		return nil
	})
	if err == errNoChange {
		err = nil
	}
	return n, err
}
