package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/verdict"
)

// The replay journal makes a tap durable with one flush (issue 16). A
// bbolt commit flushes twice (the data pages, then the meta page); the
// journal is a file of its own beside the database, appended to with one
// O_DSYNC write (one write and fdatasync where O_DSYNC is missing) per
// batch of taps. Record appends the batch's audit entries, as the
// high-water rule left them, and returns once that write is on disk; a
// checkpointer goroutine copies the journaled batches into bbolt (marks
// and audit log, one transaction for everything pending) a moment later,
// off the tap path, and then empties the journal. Open replays what a
// crash left in the journal into bbolt before anything else.
//
// A mark is the counter of an entry that is still authentic after the
// rule, so the entries alone carry the new marks. Until a batch is
// checkpointed, its marks live in an in-memory index that the high-water
// rule, HighWater and Mark consult beside bbolt, and its entries are
// merged into Query's answers.
//
// File format: records, each
//
//	length  uint32 BE   (of the payload)
//	crc     uint32 BE   (CRC-32C of the payload)
//	payload seq uint64 BE | uvarint count | count × (time int64 BE | uvarint len | entry, appendEntry's encoding)
//
// seq numbers the batches, increasing; meta "journal_seq" (uint64 BE) is
// the last one bbolt holds, so replaying a batch twice (a crash between
// the checkpoint's commit and the journal's truncation) changes nothing.
// A record cut short at the end of the file (a write interrupted by the
// crash, never acknowledged) is ignored; damage before the end is
// ErrJournalCorrupt, never a panic.

// JournalSuffix is appended to the database's file name, without its
// ".db" extension, to name the replay journal: nfcd.db → nfcd.journal.
const JournalSuffix = ".journal"

// JournalPath returns the replay journal's file name for the database at
// db (statedir documents both).
func JournalPath(db string) string { return strings.TrimSuffix(db, ".db") + JournalSuffix }

// ErrJournalCorrupt means the replay journal holds damage that is not a
// write cut short by a crash. It is returned inside an *OpenError whose
// Kind is ErrCorrupt.
var ErrJournalCorrupt = errors.New("store: replay journal is corrupt")

// maxJournalRecord bounds one record's payload: a batch is at most a few
// dozen taps of bounded entries.
const maxJournalRecord = 4 << 20

// checkpointDelay is how long the checkpointer waits after a journaled
// batch before it copies the pending batches into bbolt, so that a burst
// of taps is checkpointed in one commit that does not compete with their
// journal writes for the disk.
var checkpointDelay = 200 * time.Millisecond

// maxPending bounds the batches that wait for a checkpoint; beyond it the
// checkpointer runs at once.
const maxPending = 256

var (
	keyJournalSeq = []byte("journal_seq")
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
)

// jbatch is one journaled batch.
type jbatch struct {
	seq     uint64
	entries []Entry
}

// encodeBatch appends the record of batch seq to b.
func encodeBatch(b []byte, seq uint64, es []Entry) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = be.AppendUint64(b, seq)
	b = appendUvarint(b, uint64(len(es)))
	for i := range es {
		b = be.AppendUint64(b, uint64(es[i].Time.UnixNano()))
		lenAt := len(b)
		// The entry's length is a uvarint of at most 2 bytes (entries are
		// bounded well below 16 KiB); reserve 2 and shift if it needs 1.
		b = append(b, 0, 0)
		var err error
		if b, err = appendEntry(b, &es[i]); err != nil {
			return b[:start], err
		}
		n := len(b) - lenAt - 2
		if n >= 1<<14 {
			return b[:start], fmt.Errorf("%w: entry of %d bytes", ErrInvalidEntry, n)
		}
		if n < 0x80 {
			b[lenAt] = byte(n)
			copy(b[lenAt+1:], b[lenAt+2:])
			b = b[:len(b)-1]
		} else {
			b[lenAt], b[lenAt+1] = byte(n)|0x80, byte(n>>7)
		}
	}
	payload := b[start+8:]
	be.PutUint32(b[start:], uint32(len(payload)))
	be.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b, nil
}

func appendUvarint(b []byte, x uint64) []byte {
	for x >= 0x80 {
		b = append(b, byte(x)|0x80)
		x >>= 7
	}
	return append(b, byte(x))
}

// parseJournal decodes a journal file. A record cut short at the end is
// ignored (its batch was never acknowledged); every other flaw is
// ErrJournalCorrupt. It returns the batches in order and the length of
// the intact prefix.
func parseJournal(b []byte) (batches []jbatch, intact int, err error) {
	off := 0
	var last uint64
	for off < len(b) {
		rest := b[off:]
		if len(rest) < 8 {
			return batches, off, nil // header cut short
		}
		n := int(be.Uint32(rest))
		if n == 0 && allZero(rest) {
			// Space the file system allocated for a write that never
			// landed.
			return batches, off, nil
		}
		if n > maxJournalRecord {
			return nil, 0, fmt.Errorf("%w: record of %d bytes at offset %d", ErrJournalCorrupt, n, off)
		}
		if len(rest)-8 < n {
			return batches, off, nil // payload cut short
		}
		payload := rest[8 : 8+n]
		if crc32.Checksum(payload, crcTable) != be.Uint32(rest[4:]) {
			if 8+n == len(rest) || allZero(rest[8+n:]) {
				// The last write, torn.
				return batches, off, nil
			}
			return nil, 0, fmt.Errorf("%w: checksum mismatch at offset %d", ErrJournalCorrupt, off)
		}
		jb, err := parseBatch(payload)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: record at offset %d: %v", ErrJournalCorrupt, off, err)
		}
		if len(batches) > 0 && jb.seq <= last {
			return nil, 0, fmt.Errorf("%w: batch %d after %d at offset %d", ErrJournalCorrupt, jb.seq, last, off)
		}
		last = jb.seq
		batches = append(batches, jb)
		off += 8 + n
	}
	return batches, off, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var errBadBatch = errors.New("malformed batch")

func parseBatch(p []byte) (jbatch, error) {
	if len(p) < 9 {
		return jbatch{}, errBadBatch
	}
	jb := jbatch{seq: be.Uint64(p)}
	p = p[8:]
	count, m := uvarint(p)
	if m <= 0 || count > uint64(len(p)) {
		return jbatch{}, errBadBatch
	}
	p = p[m:]
	jb.entries = make([]Entry, 0, count)
	for range count {
		if len(p) < 8 {
			return jbatch{}, errBadBatch
		}
		ts := int64(be.Uint64(p))
		p = p[8:]
		n, m := uvarint(p)
		if m <= 0 || n > uint64(len(p)-m) {
			return jbatch{}, errBadBatch
		}
		r, err := parseEntry(p[m : m+int(n)])
		if err != nil {
			return jbatch{}, err
		}
		if ts < 0 {
			return jbatch{}, errBadBatch
		}
		jb.entries = append(jb.entries, r.entry(ts))
		p = p[m+int(n):]
	}
	if len(p) != 0 {
		return jbatch{}, errBadBatch
	}
	return jb, nil
}

func uvarint(b []byte) (uint64, int) {
	var x uint64
	var s uint
	for i, c := range b {
		if i == 10 {
			return 0, -1
		}
		if c < 0x80 {
			if i > 0 && c == 0 {
				return 0, -1 // not the shortest form
			}
			return x | uint64(c)<<s, i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, 0
}

// markOf returns the mark key and counter an entry sets, ok false when it
// sets none (it is not an accepted authentic tap).
func markOf(e *Entry) (key string, ctr uint32, ok bool) {
	if e.Verdict != verdict.Authentic || !e.Ctr.Valid || len(e.UID) == 0 {
		return "", 0, false
	}
	return string(markKey(e.UID, e.Profile)), e.Ctr.Value, true
}

// readJournal reads the journal beside the database: the batches bbolt
// does not hold yet (seq above applied). A missing journal has none.
func readJournal(path string, applied uint64) ([]jbatch, uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, applied, nil
	}
	if err != nil {
		return nil, 0, &OpenError{Path: path, Cause: err}
	}
	batches, _, err := parseJournal(b)
	if err != nil {
		return nil, 0, &OpenError{Path: path, Kind: ErrCorrupt, Cause: err}
	}
	last := applied
	var out []jbatch
	for _, jb := range batches {
		last = max(last, jb.seq)
		if jb.seq > applied {
			out = append(out, jb)
		}
	}
	return out, last, nil
}

// journalSeq returns the last batch bbolt holds.
func journalSeq(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(keyJournalSeq); len(v) == 8 {
		return be.Uint64(v)
	}
	return 0
}

// applyBatches writes batches into bbolt inside tx: each entry into the
// audit log, each mark as the higher of the stored one and the
// journaled one, and the last batch's seq. It is idempotent with respect
// to journal_seq. It returns the marks it wrote.
func (s *Store) applyBatches(tx *bolt.Tx, batches []jbatch) error {
	applied := journalSeq(tx)
	audit, marks, meta := tx.Bucket(bucketAudit), tx.Bucket(bucketMarks), tx.Bucket(bucketMeta)
	count := auditCount(meta)
	var val []byte
	var last uint64
	for _, jb := range batches {
		if jb.seq <= applied {
			continue
		}
		last = jb.seq
		for i := range jb.entries {
			e := &jb.entries[i]
			var err error
			if val, err = appendEntry(val[:0], e); err != nil {
				return err
			}
			seq, err := audit.NextSequence()
			if err != nil {
				return err
			}
			if err := audit.Put(auditKey(e.Time.UnixNano(), seq), bytes.Clone(val)); err != nil {
				return err
			}
			count++
			if key, ctr, ok := markOf(e); ok {
				if v := marks.Get([]byte(key)); v != nil {
					m, err := markValue(v)
					if err != nil {
						return err
					}
					if m >= ctr {
						continue
					}
				}
				if err := marks.Put([]byte(key), be.AppendUint32(nil, ctr)); err != nil {
					return err
				}
			}
		}
	}
	if last == 0 {
		return nil
	}
	if err := putAuditCount(meta, count); err != nil {
		return err
	}
	if err := meta.Put(keyJournalSeq, be.AppendUint64(nil, last)); err != nil {
		return err
	}
	_, err := s.prune(tx, s.now())
	return err
}
