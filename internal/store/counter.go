package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// MaxUIDLen bounds the UIDs the store accepts. NTAG 424 DNA UIDs are 7 bytes
// (NT4H2421Gx §8.2); 10 bytes is the longest ISO/IEC 14443-3 UID, and the
// slack leaves room for other card families without letting a caller grow
// bbolt keys without limit.
const MaxUIDLen = 32

var be = binary.BigEndian

// errReplay rolls back the CheckAndAdvance transaction: a replay writes
// nothing, so it costs no fsync.
var errReplay = errors.New("replay")

func checkUID(uid []byte) error {
	if len(uid) == 0 || len(uid) > MaxUIDLen {
		return fmt.Errorf("%w: length %d", ErrInvalidUID, len(uid))
	}
	return nil
}

// CheckAndAdvance records ctr as the SDMReadCtr of a verified tap of uid. The
// tap is accepted when no counter has been accepted for uid yet or ctr is
// greater than the high-water mark prev; gaps are normal (a tag's counter
// also advances on reads nfcd never sees). Otherwise the tap is a replay:
// accepted is false and nothing is written.
//
// The compare and the write are one bbolt transaction, and an accepted
// counter is committed with fsync before CheckAndAdvance returns, so two
// concurrent taps with the same counter cannot both be accepted and an
// accepted counter survives a crash. prev is 0 for a UID never seen.
func (s *Store) CheckAndAdvance(uid []byte, ctr uint32) (accepted bool, prev uint32, err error) {
	if err := checkUID(uid); err != nil {
		return false, 0, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		if accepted, prev, err = advance(tx, uid, ctr); err == nil && !accepted {
			return errReplay // nothing to commit: skip the fsync
		}
		return err
	})
	switch {
	case err == nil:
		return true, prev, nil
	case errors.Is(err, errReplay):
		return false, prev, nil
	}
	return false, prev, fmt.Errorf("store: check and advance counter: %w", err)
}

// advance applies the high-water rule inside tx: ctr is accepted, and
// stored, only when it is above the counter already accepted for uid.
func advance(tx *bolt.Tx, uid []byte, ctr uint32) (accepted bool, prev uint32, err error) {
	b := tx.Bucket(bucketCounters)
	if v := b.Get(uid); v != nil {
		if len(v) != 4 {
			return false, 0, fmt.Errorf("%w: counter value of %d bytes", ErrCorrupt, len(v))
		}
		prev = be.Uint32(v)
		if ctr <= prev {
			return false, prev, nil
		}
	}
	var val [4]byte
	be.PutUint32(val[:], ctr)
	return true, prev, b.Put(uid, val[:])
}

// HighWater returns the highest counter accepted for uid. found is false
// when no tap of uid has been accepted.
func (s *Store) HighWater(uid []byte) (ctr uint32, found bool, err error) {
	if err := checkUID(uid); err != nil {
		return 0, false, err
	}
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCounters).Get(uid)
		if v == nil {
			return nil
		}
		if len(v) != 4 {
			return fmt.Errorf("%w: counter value of %d bytes", ErrCorrupt, len(v))
		}
		ctr, found = be.Uint32(v), true
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: read high-water mark: %w", err)
	}
	return ctr, found, nil
}
