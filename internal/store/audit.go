package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// Limits on audit entry fields. Reader names come from PC/SC and are short;
// Reason is a code and Profile a name from the configuration. Detail is
// free text and is truncated, not refused, so an unusually long detail never
// loses its audit entry.
const (
	MaxReaderLen  = 256
	MaxVerdictLen = 64
	MaxReasonLen  = 1024
	MaxProfileLen = 256
	MaxDetailLen  = 1024
)

// DefaultQueryLimit is the number of entries Query returns when Query.Limit
// is zero or negative.
const DefaultQueryLimit = 100

// maxPrunePerTx bounds the deletions in one write transaction so that a
// lowered MaxEntries cannot turn the next tap into a long stall. Prune loops
// until done; Record catches up a batch per call.
const maxPrunePerTx = 1024

// Formats of encoded audit values (their first byte). Format 1 (schema
// version 1) ends after Reason; format 2 adds Profile and Detail.
const (
	entryFormat1 = 1
	entryFormat  = 2
)

const flagCounter = 1 << 0

// ErrInvalidEntry is returned by Record for a verdict whose fields are out
// of range: a Reader, Verdict or Profile that is too long or not UTF-8, a
// UID that is not hex or longer than MaxUIDLen bytes, or a Time outside
// 1970–2262 (unix nanoseconds).
var ErrInvalidEntry = errors.New("store: invalid audit entry")

// Entry is one audit log record: the verdict nfcd reached for one tap.
type Entry struct {
	Time    time.Time
	Reader  string
	UID     []byte          // nil if the UID could not be read
	Ctr     ntag424.Counter // not Valid if no SDMReadCtr was available
	Verdict string          // e.g. "authentic", "replayed" (internal/verdict)
	Reason  string          // a reason code, e.g. "ok", "bad_mac"
	Detail  string          // details for humans, may be ""
	Profile string          // the profile that verified the tag, may be ""
}

// Query selects audit entries, newest first.
type Query struct {
	UID   []byte    // only entries with this UID, when non-nil
	Since time.Time // only entries at or after Since, when non-zero
	Limit int       // at most Limit entries; ≤ 0 means DefaultQueryLimit
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
	var since int64
	if !q.Since.IsZero() {
		since = q.Since.UnixNano()
	}
	// The journal's pending entries and bbolt's, read under the
	// checkpoint lock so that none is seen twice or missed.
	s.js.ckpt.RLock()
	defer s.js.ckpt.RUnlock()
	var pend []Entry
	s.js.mu.Lock()
	for i := len(s.js.pending) - 1; i >= 0; i-- {
		es := s.js.pending[i].entries
		for j := len(es) - 1; j >= 0; j-- {
			e := &es[j]
			if e.Time.UnixNano() < since || (q.UID != nil && !bytes.Equal(q.UID, e.UID)) {
				continue
			}
			c := *e
			c.UID = bytes.Clone(e.UID)
			c.Time = time.Unix(0, e.Time.UnixNano())
			pend = append(pend, c)
		}
	}
	s.js.mu.Unlock()
	var out []Entry
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
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
	if len(pend) > 0 {
		// Pending entries go to bbolt after every entry there, so among
		// equal times they are the newer.
		out = append(pend, out...)
		slices.SortStableFunc(out, func(a, b Entry) int { return b.Time.Compare(a.Time) })
		if len(out) > limit {
			out = out[:limit]
		}
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

// appendEntry validates e and appends its encoding (format 2):
//
//	format (1) | flags (1) | [counter uint32 BE if flagCounter]
//	| uvarint len | UID | uvarint len | Reader | uvarint len | Verdict | uvarint len | Reason
//	| uvarint len | Profile | uvarint len | Detail
//
// Format 1 ends after Reason. The time lives in the key.
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
	case len(e.Profile) > MaxProfileLen || !utf8.ValidString(e.Profile):
		return nil, fmt.Errorf("%w: profile", ErrInvalidEntry)
	}
	var flags byte
	if e.Ctr.Valid {
		flags |= flagCounter
	}
	b = append(b, entryFormat, flags)
	if e.Ctr.Valid {
		b = be.AppendUint32(b, e.Ctr.Value)
	}
	b = appendField(b, e.UID)
	b = appendField(b, []byte(e.Reader))
	b = appendField(b, []byte(e.Verdict))
	b = appendField(b, []byte(truncateUTF8(e.Reason, MaxReasonLen)))
	b = appendField(b, []byte(e.Profile))
	b = appendField(b, []byte(truncateUTF8(e.Detail, MaxDetailLen)))
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
	format                  byte
	hasCounter              bool
	counter                 uint32
	uid, reader, verdict, r []byte
	profile, detail         []byte
}

// parseEntry decodes a value written by appendEntry, in either format. It
// accepts only the canonical encoding, so parse and append round-trip
// exactly.
func parseEntry(v []byte) (rawEntry, error) {
	var r rawEntry
	if len(v) < 2 || (v[0] != entryFormat && v[0] != entryFormat1) || v[1]&^flagCounter != 0 {
		return rawEntry{}, errBadEntry
	}
	r.format = v[0]
	r.hasCounter = v[1]&flagCounter != 0
	v = v[2:]
	if r.hasCounter {
		if len(v) < 4 {
			return rawEntry{}, errBadEntry
		}
		r.counter = be.Uint32(v)
		v = v[4:]
	}
	limits := []int{MaxUIDLen, MaxReaderLen, MaxVerdictLen, MaxReasonLen, MaxProfileLen, MaxDetailLen}
	fields := []*[]byte{&r.uid, &r.reader, &r.verdict, &r.r, &r.profile, &r.detail}
	if r.format == entryFormat1 {
		limits, fields = limits[:4], fields[:4]
	}
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
		Profile: string(r.profile),
		Detail:  string(r.detail),
	}
	if len(r.uid) > 0 {
		e.UID = bytes.Clone(r.uid)
	}
	if r.hasCounter {
		e.Ctr = ntag424.CounterOf(r.counter)
	}
	return e
}
