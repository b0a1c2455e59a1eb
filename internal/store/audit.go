package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Limits on audit entry fields. Reader names come from PC/SC and are short;
// Reason is free text (often a wrapped error) and is truncated, not refused,
// so an unusually long error never loses its audit entry.
const (
	MaxReaderLen  = 256
	MaxVerdictLen = 64
	MaxReasonLen  = 1024
)

// DefaultQueryLimit is the number of entries Query returns when Query.Limit
// is zero or negative.
const DefaultQueryLimit = 100

// maxPrunePerTx bounds the deletions in one write transaction so that a
// lowered MaxEntries cannot turn the next tap into a long stall. Prune loops
// until done; Record catches up a batch per call.
const maxPrunePerTx = 1024

// entryFormat is the first byte of every encoded audit value.
const entryFormat = 1

const flagCounter = 1 << 0

// ErrInvalidEntry is returned by Record for an entry whose fields are out of
// range: a Reader or Verdict that is too long or not UTF-8, a UID longer
// than MaxUIDLen, or a Time outside 1970–2262 (unix nanoseconds).
var ErrInvalidEntry = errors.New("store: invalid audit entry")

// Entry is one audit log record: the verdict nfcd reached for one tap.
type Entry struct {
	Time    time.Time
	Reader  string
	UID     []byte  // nil if the UID could not be read
	Counter *uint32 // nil if no SDMReadCtr was available
	Verdict string  // stable code, e.g. "valid", "replayed", "bad_mac"
	Reason  string  // human-readable detail
}

// Query selects audit entries, newest first.
type Query struct {
	UID   []byte    // only entries with this UID, when non-nil
	Since time.Time // only entries at or after Since, when non-zero
	Limit int       // at most Limit entries; ≤ 0 means DefaultQueryLimit
}

// Record appends e to the audit log, using the store's clock when e.Time is
// zero, and prunes entries beyond MaxAge and MaxEntries in the same durable
// transaction.
func (s *Store) Record(e Entry) error {
	if _, _, err := s.Tap(e, false, nil); err != nil {
		return fmt.Errorf("store: record audit entry: %w", errors.Unwrap(err))
	}
	return nil
}

// Prune deletes audit entries older than MaxAge and the oldest entries beyond
// MaxEntries, and returns how many it deleted. Record already prunes; a
// daemon calls Prune periodically so that age pruning also happens when no
// taps arrive. Open calls it once.
func (s *Store) Prune() (int, error) {
	total := 0
	for {
		var n int
		err := s.update(func(tx *bolt.Tx) (err error) {
			n, err = s.prune(tx, s.now())
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("store: prune audit log: %w", err)
		}
		if n < maxPrunePerTx {
			return total, nil
		}
	}
}

// prune deletes up to maxPrunePerTx of the oldest entries while they are too
// old or too many. Keys sort by time, so it only ever looks at the front of
// the bucket.
func (s *Store) prune(tx *bolt.Tx, now time.Time) (int, error) {
	meta := tx.Bucket(bucketMeta)
	count := auditCount(meta)
	cutoff := int64(math.MinInt64)
	if s.maxAge > 0 {
		cutoff = now.Add(-s.maxAge).UnixNano()
	}
	c := tx.Bucket(bucketAudit).Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < maxPrunePerTx; k, _ = c.First() {
		tooMany := s.maxEntries > 0 && count > uint64(s.maxEntries)
		tooOld := len(k) == 16 && int64(be.Uint64(k)) < cutoff
		if !tooMany && !tooOld {
			break
		}
		if err := c.Delete(); err != nil {
			return n, err
		}
		if count > 0 {
			count--
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, putAuditCount(meta, count)
}

// Query returns the audit entries matching q, newest first.
func (s *Store) Query(q Query) ([]Entry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultQueryLimit
	}
	var out []Entry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var since int64
		if !q.Since.IsZero() {
			since = q.Since.UnixNano()
		}
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if len(k) != 16 {
				return fmt.Errorf("%w: audit key of %d bytes", ErrCorrupt, len(k))
			}
			ts := int64(be.Uint64(k))
			if ts < since {
				break
			}
			r, err := parseEntry(v)
			if err != nil {
				return err
			}
			if q.UID != nil && !bytes.Equal(q.UID, r.uid) {
				continue
			}
			out = append(out, r.entry(ts))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: query audit log: %w", err)
	}
	return out, nil
}

// auditKey is the unix-nanosecond time then bbolt's bucket sequence, both
// big-endian, so keys sort by time and equal times stay distinct and ordered.
func auditKey(ts int64, seq uint64) []byte {
	k := make([]byte, 16)
	be.PutUint64(k, uint64(ts))
	be.PutUint64(k[8:], seq)
	return k
}

func auditCount(meta *bolt.Bucket) uint64 {
	if v := meta.Get(keyAuditCount); len(v) == 8 {
		return be.Uint64(v)
	}
	return 0
}

func putAuditCount(meta *bolt.Bucket, n uint64) error {
	return meta.Put(keyAuditCount, be.AppendUint64(nil, n))
}

// appendEntry validates e and appends its encoding:
//
//	format (1) | flags (1) | [counter uint32 BE if flagCounter]
//	| uvarint len | UID | uvarint len | Reader | uvarint len | Verdict | uvarint len | Reason
//
// The time lives in the key.
func appendEntry(b []byte, e *Entry) ([]byte, error) {
	switch {
	case e.Time.Before(time.Unix(0, 0)) || e.Time.After(time.Unix(0, math.MaxInt64)):
		return nil, fmt.Errorf("%w: time %v out of range", ErrInvalidEntry, e.Time)
	case len(e.UID) > MaxUIDLen:
		return nil, fmt.Errorf("%w: UID of %d bytes", ErrInvalidEntry, len(e.UID))
	case len(e.Reader) > MaxReaderLen || !utf8.ValidString(e.Reader):
		return nil, fmt.Errorf("%w: reader name", ErrInvalidEntry)
	case len(e.Verdict) > MaxVerdictLen || !utf8.ValidString(e.Verdict):
		return nil, fmt.Errorf("%w: verdict", ErrInvalidEntry)
	}
	reason := truncateUTF8(e.Reason, MaxReasonLen)
	var flags byte
	if e.Counter != nil {
		flags |= flagCounter
	}
	b = append(b, entryFormat, flags)
	if e.Counter != nil {
		b = be.AppendUint32(b, *e.Counter)
	}
	b = appendField(b, e.UID)
	b = appendField(b, []byte(e.Reader))
	b = appendField(b, []byte(e.Verdict))
	b = appendField(b, []byte(reason))
	return b, nil
}

func appendField(b, f []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune; invalid
// UTF-8 is replaced so the stored reason is always valid text.
func truncateUTF8(s string, n int) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // replaces invalid bytes with U+FFFD
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// rawEntry holds an encoded entry's fields as sub-slices of the bbolt value,
// which is only valid inside the transaction.
type rawEntry struct {
	hasCounter              bool
	counter                 uint32
	uid, reader, verdict, r []byte
}

// parseEntry decodes a value written by appendEntry. It accepts only the
// canonical encoding, so parse and append round-trip exactly.
func parseEntry(v []byte) (rawEntry, error) {
	var r rawEntry
	if len(v) < 2 || v[0] != entryFormat || v[1]&^flagCounter != 0 {
		return rawEntry{}, errBadEntry
	}
	r.hasCounter = v[1]&flagCounter != 0
	v = v[2:]
	if r.hasCounter {
		if len(v) < 4 {
			return rawEntry{}, errBadEntry
		}
		r.counter = be.Uint32(v)
		v = v[4:]
	}
	limits := [4]int{MaxUIDLen, MaxReaderLen, MaxVerdictLen, MaxReasonLen}
	fields := [4]*[]byte{&r.uid, &r.reader, &r.verdict, &r.r}
	for i, f := range fields {
		n, m := binary.Uvarint(v)
		if m <= 0 || m != uvarintLen(n) || n > uint64(limits[i]) || n > uint64(len(v)-m) {
			return rawEntry{}, errBadEntry
		}
		*f = v[m : m+int(n)]
		v = v[m+int(n):]
		if i > 0 && !utf8.Valid(*f) {
			return rawEntry{}, errBadEntry
		}
	}
	if len(v) != 0 {
		return rawEntry{}, errBadEntry
	}
	return r, nil
}

var errBadEntry = fmt.Errorf("%w: malformed audit entry", ErrCorrupt)

func uvarintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}

// entry copies r out of the transaction's memory.
func (r *rawEntry) entry(ts int64) Entry {
	e := Entry{
		Time:    time.Unix(0, ts),
		Reader:  string(r.reader),
		Verdict: string(r.verdict),
		Reason:  string(r.r),
	}
	if len(r.uid) > 0 {
		e.UID = bytes.Clone(r.uid)
	}
	if r.hasCounter {
		e.Counter = new(r.counter)
	}
	return e
}

// Tap records one tap's verdict in a single durable transaction, so a
// tap costs one commit instead of two. With check set (an authentic SUN
// with a counter), it first applies the CheckAndAdvance rule to e.UID and
// *e.Counter; when the counter is not above the high-water mark, the entry
// is recorded with the verdict and reason that replayed(prev) returns, and
// accepted is false. Nothing is published by the caller before Tap returns,
// so an accepted counter is on disk before anyone hears of it.
func (s *Store) Tap(e Entry, check bool, replayed func(prev uint32) (verdict, reason string)) (accepted bool, prev uint32, err error) {
	if check {
		if err := checkUID(e.UID); err != nil {
			return false, 0, err
		}
		if e.Counter == nil {
			return false, 0, fmt.Errorf("%w: advance without a counter", ErrInvalidEntry)
		}
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	ts := e.Time.UnixNano()
	now := s.now()
	err = s.update(func(tx *bolt.Tx) error {
		accepted = true
		if check {
			var err error
			if accepted, prev, err = advance(tx, e.UID, *e.Counter); err != nil {
				return err
			}
			if !accepted {
				e.Verdict, e.Reason = replayed(prev)
			}
		}
		val, err := appendEntry(nil, &e)
		if err != nil {
			return err
		}
		b := tx.Bucket(bucketAudit)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(auditKey(ts, seq), val); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := putAuditCount(meta, auditCount(meta)+1); err != nil {
			return err
		}
		_, err = s.prune(tx, now)
		return err
	})
	if err != nil {
		return false, prev, fmt.Errorf("store: record tap: %w", err)
	}
	return accepted, prev, nil
}
