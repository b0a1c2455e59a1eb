package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/verdict"
)

// The outbox holds the taps whose remote verification (issue #9,
// internal/remoteverify) has not settled yet, so that a restart or a kill
// -9 loses none and sends none twice: an item is written before the remote
// service may hear of it, and it is removed in the same transaction that
// records its final verdict in the audit log (SettleOutbox), so it settles
// exactly once.
//
// Layout: bucket "outbox", key = item ID (uint64 BE, the bucket's
// sequence: the order the taps were queued in), value = the item as JSON.
// The bucket is created by the schema's init path; a read-only opening of a
// store written before it existed sees an empty outbox.
var bucketOutbox = []byte("outbox")

// maxOutboxValue bounds one encoded item; a tag URL is at most a few
// hundred bytes, so this only guards the decoder against a damaged value.
const maxOutboxValue = 16 << 10

// Outbox item states. The store keeps them; internal/remoteverify decides
// what they mean for the tap.
const (
	// OutboxQueued: never sent; verifying it is safe.
	OutboxQueued = "queued"
	// OutboxAttempting: a verify may be under way. Written before the
	// request is sent, so an item found in this state after a restart may
	// have been processed by the service: it is ambiguous.
	OutboxAttempting = "attempting"
	// OutboxAmbiguous: a verify may have been processed and its answer was
	// lost; only the read-only settle path may resolve it.
	OutboxAmbiguous = "ambiguous"
	// OutboxUnreachable: no attempt was processed; verifying it again
	// after NextAt is safe.
	OutboxUnreachable = "unreachable"
)

// ErrOutboxGone is returned by PutOutbox for an item that is no longer in
// the outbox (settled or dropped meanwhile).
var ErrOutboxGone = errors.New("store: outbox item is gone")

// OutboxItem is one tap waiting for its remote verification. Only the
// daemon's own taps are ever queued. The triple (UID, Ctr, CMAC) is kept
// exactly as the tag mirrored it; until the service has consumed it, the
// CMAC is a bearer credential, so it never leaves the store but to the
// service.
type OutboxItem struct {
	// ID orders the outbox; AddOutbox assigns it.
	ID  uint64 `json:"-"`
	Tap string `json:"tap"`
	// The triple, verbatim.
	UID    string `json:"uid"`
	Ctr    string `json:"ctr"`
	CMAC   string `json:"cmac"`
	Tamper string `json:"tamper,omitempty"`
	// Mode is the remote mode the tap was judged under; Local its local
	// verdict (authentic or unknown_profile).
	Mode  string `json:"mode"`
	Local string `json:"local"`
	// Verdict is the verdict as tag.read published it, the base of the
	// verdict.updated that settles it.
	Verdict OutboxVerdict `json:"verdict"`

	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// Created is when the tap was queued; the outbox gives up on items
	// older than its age bound.
	Created time.Time `json:"created"`
	// SentAt is when the first request that may have reached the service
	// was sent (zero until then): the settle path needs it.
	SentAt time.Time `json:"sent_at,omitzero"`
	// NextAt is when the item is due again (zero: now).
	NextAt time.Time `json:"next_at,omitzero"`
	// LastError is a short code of the last failure ("timeout",
	// "http_503", …), never an error's text.
	LastError string `json:"last_error,omitempty"`
}

// OutboxVerdict is the published verdict of a queued tap: the members of
// verdict.Verdict that a verdict.updated repeats.
type OutboxVerdict struct {
	Reader      string    `json:"reader"`
	UID         string    `json:"uid"`
	Ctr         *uint32   `json:"ctr,omitempty"`
	URL         string    `json:"url"`
	Verdict     string    `json:"verdict"`
	Reason      string    `json:"reason"`
	Time        time.Time `json:"time"`
	Profile     string    `json:"profile,omitempty"`
	TTStatus    string    `json:"tt_status,omitempty"`
	Originality string    `json:"originality,omitempty"`
	Remote      string    `json:"remote"`
	Fleet       string    `json:"fleet,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

func encodeOutbox(it *OutboxItem) ([]byte, error) {
	v, err := json.Marshal(it)
	if err != nil {
		return nil, fmt.Errorf("store: encode outbox item: %w", err)
	}
	if len(v) > maxOutboxValue {
		return nil, fmt.Errorf("%w: outbox item of %d bytes", ErrInvalidEntry, len(v))
	}
	return v, nil
}

func decodeOutbox(k, v []byte) (OutboxItem, error) {
	var it OutboxItem
	if len(k) != 8 || len(v) > maxOutboxValue || json.Unmarshal(v, &it) != nil {
		return OutboxItem{}, fmt.Errorf("%w: malformed outbox item", ErrCorrupt)
	}
	it.ID = be.Uint64(k)
	return it, nil
}

// AddOutbox queues items in one durable transaction and sets their IDs.
func (s *Store) AddOutbox(items []*OutboxItem) error {
	vals := make([][]byte, len(items))
	for i, it := range items {
		v, err := encodeOutbox(it)
		if err != nil {
			return err
		}
		vals[i] = v
	}
	ids := make([]uint64, len(items))
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketOutbox)
		if err != nil {
			return err
		}
		for i, v := range vals {
			if ids[i], err = b.NextSequence(); err != nil {
				return err
			}
			if err := b.Put(be.AppendUint64(nil, ids[i]), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: queue outbox items: %w", err)
	}
	for i, it := range items {
		it.ID = ids[i]
	}
	return nil
}

// RecordQueued is Record, and queues in the same transaction the outbox
// items that queue returns: a batch of taps recorded together with their
// remote verifications is one commit, one fsync. queue runs inside the
// transaction after the high-water rule, on copies of vs as Record leaves
// them; it must not keep them or change anything (the transaction may
// still fail). Its items get their IDs. On error nothing is written.
func (s *Store) RecordQueued(ctx context.Context, vs []*verdict.Verdict, queue func(vs []verdict.Verdict) []*OutboxItem) error {
	return s.record(ctx, vs, func(tx *bolt.Tx, es []Entry) error {
		post := make([]verdict.Verdict, len(vs))
		for i, v := range vs {
			post[i] = *v
			post[i].Verdict, post[i].Reason, post[i].Detail = es[i].Verdict, es[i].Reason, es[i].Detail
		}
		items := queue(post)
		if len(items) == 0 {
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(bucketOutbox)
		if err != nil {
			return err
		}
		for _, it := range items {
			v, err := encodeOutbox(it)
			if err != nil {
				return err
			}
			if it.ID, err = b.NextSequence(); err != nil {
				return err
			}
			if err := b.Put(be.AppendUint64(nil, it.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutOutbox durably replaces the stored item with it (same ID). It
// returns ErrOutboxGone when the item was settled or dropped meanwhile.
func (s *Store) PutOutbox(it *OutboxItem) error {
	v, err := encodeOutbox(it)
	if err != nil {
		return err
	}
	key := be.AppendUint64(nil, it.ID)
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil || b.Get(key) == nil {
			return ErrOutboxGone
		}
		return b.Put(key, v)
	})
	if err != nil && !errors.Is(err, ErrOutboxGone) {
		return fmt.Errorf("store: update outbox item: %w", err)
	}
	return err
}

// SettleOutbox removes the item with id and appends e, its final verdict,
// to the audit log, in one durable transaction. It reports false, and
// writes nothing, when the item is no longer there: each item settles
// exactly once.
func (s *Store) SettleOutbox(id uint64, e Entry) (bool, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	val, err := appendEntry(nil, &e)
	if err != nil {
		return false, err
	}
	key := be.AppendUint64(nil, id)
	settled := false
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil || b.Get(key) == nil {
			return errNoChange
		}
		if err := b.Delete(key); err != nil {
			return err
		}
		audit := tx.Bucket(bucketAudit)
		seq, err := audit.NextSequence()
		if err != nil {
			return err
		}
		if err := audit.Put(auditKey(e.Time.UnixNano(), seq), val); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := putAuditCount(meta, auditCount(meta)+1); err != nil {
			return err
		}
		if _, err := s.prune(tx, s.now()); err != nil {
			return err
		}
		settled = true
		return nil
	})
	if err != nil && err != errNoChange {
		return false, fmt.Errorf("store: settle outbox item: %w", err)
	}
	return settled, nil
}

// Outbox returns every queued item, oldest first.
func (s *Store) Outbox() ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			it, err := decodeOutbox(k, v)
			if err != nil {
				return err
			}
			out = append(out, it)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: read outbox: %w", err)
	}
	return out, nil
}

// OutboxItemByID returns the item with id; ok is false when there is none.
func (s *Store) OutboxItemByID(id uint64) (it OutboxItem, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b == nil {
			return nil
		}
		k := be.AppendUint64(nil, id)
		v := b.Get(k)
		if v == nil {
			return nil
		}
		it, err = decodeOutbox(k, v)
		ok = err == nil
		return err
	})
	if err != nil {
		return OutboxItem{}, false, fmt.Errorf("store: read outbox: %w", err)
	}
	return it, ok, nil
}
