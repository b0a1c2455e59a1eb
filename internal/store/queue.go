package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/verdict"
)

// Queues are durable first-in first-out lists of opaque items, each in a
// bucket of its own: the fleet's outbox (counter advances decided while the
// fleet was away, audit rows to ship; internal/fleetstage adapts them to
// fleet.Queue). The store knows only bytes.
//
// Layout: bucket "queue." + name, key = item ID (uint64 BE, the bucket's
// sequence, so IDs increase across restarts and never repeat), value =
// push time (unix nanoseconds, int64 BE) || item. The bucket is created on
// first use; a read-only store sees an empty queue where it does not exist.
//
// Every Push and Remove is one bbolt transaction, fsynced before it
// returns: a pushed item survives a crash or kill -9, a removed one does
// not come back.

// MaxQueueItem bounds one item: an audit row or advance is a few hundred
// bytes, so this only guards against a caller's mistake.
const MaxQueueItem = 64 << 10

// ErrQueueItem is returned for an empty or too large item, and (wrapping
// ErrCorrupt) for a stored value too short to hold its push time.
var ErrQueueItem = errors.New("store: invalid queue item")

// Queue is a durable FIFO in the store (see above). Safe for concurrent
// use.
type Queue struct {
	s      *Store
	bucket []byte
}

// QueueItem is an item of a Queue.
type QueueItem struct {
	ID     uint64
	Pushed time.Time
	Value  []byte
}

// Queue returns the queue called name (letters, digits, '_' and '-').
func (s *Store) Queue(name string) (*Queue, error) {
	if name == "" || len(name) > 64 {
		return nil, fmt.Errorf("store: queue name %q", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return nil, fmt.Errorf("store: queue name %q", name)
		}
	}
	return &Queue{s: s, bucket: []byte("queue." + name)}, nil
}

// Push appends items in one durable transaction.
func (q *Queue) Push(ctx context.Context, items ...[]byte) error {
	if len(items) == 0 {
		return nil
	}
	for _, it := range items {
		if len(it) == 0 || len(it) > MaxQueueItem {
			return fmt.Errorf("%w: %d bytes", ErrQueueItem, len(it))
		}
	}
	now := q.s.now()
	err := q.s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(q.bucket)
		if err != nil {
			return err
		}
		for _, it := range items {
			if _, err := putQueued(b, now, it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: push to %s: %w", q.bucket, err)
	}
	return nil
}

// putQueued appends one item to b and returns its ID.
func putQueued(b *bolt.Bucket, now time.Time, it []byte) (uint64, error) {
	id, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	v := make([]byte, 0, 8+len(it))
	v = be.AppendUint64(v, uint64(now.UnixNano()))
	v = append(v, it...)
	return id, b.Put(be.AppendUint64(nil, id), v)
}

// Peek returns up to max of the oldest items, oldest first.
func (q *Queue) Peek(ctx context.Context, max int) ([]QueueItem, error) {
	var out []QueueItem
	err := q.s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			it, err := decodeQueued(k, v)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", q.bucket, err)
	}
	return out, nil
}

func decodeQueued(k, v []byte) (QueueItem, error) {
	if len(k) != 8 || len(v) < 9 {
		return QueueItem{}, fmt.Errorf("%w: %w: %d-byte key, %d-byte value", ErrCorrupt, ErrQueueItem, len(k), len(v))
	}
	return QueueItem{ID: be.Uint64(k), Pushed: time.Unix(0, int64(be.Uint64(v))), Value: append([]byte(nil), v[8:]...)}, nil
}

// Remove deletes every item whose ID is at most through, durably.
func (q *Queue) Remove(ctx context.Context, through uint64) error {
	err := q.s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		if b == nil {
			return errNoChange
		}
		c := b.Cursor()
		n := 0
		for k, _ := c.First(); len(k) == 8 && be.Uint64(k) <= through; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return errNoChange
		}
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return fmt.Errorf("store: remove from %s: %w", q.bucket, err)
	}
	return nil
}

// Stats returns the number of items and the push time of the oldest (zero
// when empty). It walks the keys: a queue holds what piled up during an
// outage, and Stats is for status pages, not the tap path.
func (q *Queue) Stats(ctx context.Context) (n int, oldest time.Time, err error) {
	err = q.s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.bucket)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.First()
		if k == nil {
			return nil
		}
		it, err := decodeQueued(k, v)
		if err != nil {
			return err
		}
		oldest = it.Pushed
		for ; k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: read %s: %w", q.bucket, err)
	}
	return n, oldest, nil
}

// AuditShipper makes every verdict the store records also an item of a
// queue, in the same transaction: Encode returns the item of v (as the
// replay rule left it) whose queue ID will be id, or nil to push nothing.
// The fleet's audit shipping uses it, so that an audit entry and its row
// to ship are one commit: a crash loses or duplicates neither.
type AuditShipper struct {
	Queue  *Queue
	Encode func(v *verdict.Verdict, id uint64) ([]byte, error)
}

// ShipAudit installs sh for every later Record, Begin and RecordQueued
// (nil removes it). Call it before the verdict stage runs. While it is
// installed, taps are recorded by one bbolt transaction per batch (two
// flushes) instead of the replay journal's one flush: the rows must be in
// the commit that records the entries.
func (s *Store) ShipAudit(sh *AuditShipper) { s.shipper.Store(sh) }

// shipThen returns then extended by the pushes of the installed
// AuditShipper, if any.
func (s *Store) shipThen(vs []*verdict.Verdict, then func(tx *bolt.Tx, es []Entry) error) func(tx *bolt.Tx, es []Entry) error {
	sh := s.shipper.Load()
	if sh == nil {
		return then
	}
	return func(tx *bolt.Tx, es []Entry) error {
		if then != nil {
			if err := then(tx, es); err != nil {
				return err
			}
		}
		b, err := tx.CreateBucketIfNotExists(sh.Queue.bucket)
		if err != nil {
			return err
		}
		now := s.now()
		for i, v := range vs {
			post := *v
			post.Verdict, post.Reason, post.Detail = es[i].Verdict, es[i].Reason, es[i].Detail
			id := b.Sequence() + 1
			it, err := sh.Encode(&post, id)
			if err != nil {
				return err
			}
			if it == nil {
				continue
			}
			if len(it) > MaxQueueItem {
				return fmt.Errorf("%w: %d bytes", ErrQueueItem, len(it))
			}
			if got, err := putQueued(b, now, it); err != nil {
				return err
			} else if got != id {
				return fmt.Errorf("store: queue %s: sequence %d, expected %d", sh.Queue.bucket, got, id)
			}
		}
		return nil
	}
}

// shipperPtr is the Store's installed AuditShipper.
type shipperPtr = atomic.Pointer[AuditShipper]
