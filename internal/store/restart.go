package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// RestartMarks gives the tag uid a new replay history after it was
// personalised or reset (nfcd tag): enabling SDM sets the tag's read
// counter back to 0 (NT4H2421Gx §9.3.1), so the marks of its earlier life
// would call every tap of the new one a replay. It deletes every mark of
// uid, under every profile, and, when ctr is Valid, stores ctr as the mark
// of (profile, uid): the counter of the read that verified the
// personalisation, so that its URL is not accepted again either. It
// returns the highest mark deleted (not Valid when there was none).
//
// Earlier URLs of the tag verify again only if the tag was given the same
// keys: docs/provisioning.md says to give re-used tags new keys.
func (s *Store) RestartMarks(uid []byte, profile string, ctr ntag424.Counter) (previous ntag424.Counter, err error) {
	if err := checkUID(uid); err != nil {
		return ntag424.Counter{}, err
	}
	// The marks of journaled taps go to bbolt first, and no tap is
	// decided or written meanwhile (quiesce), so that none of them raises
	// the restarted marks again.
	if s.w != nil {
		defer s.quiesce()()
		if err := s.movePending(); err != nil {
			return ntag424.Counter{}, fmt.Errorf("store: restart marks: %w", err)
		}
	}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMarks)
		if b == nil {
			return fmt.Errorf("%w: no marks bucket", ErrCorrupt)
		}
		prefix := markKey(uid, "")
		var del [][]byte
		cur := b.Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			m, err := markValue(v)
			if err != nil {
				return err
			}
			if !previous.Valid || m > previous.Value {
				previous = ntag424.CounterOf(m)
			}
			del = append(del, bytes.Clone(k))
		}
		for _, k := range del {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		if !ctr.Valid {
			return nil
		}
		var val [4]byte
		be.PutUint32(val[:], ctr.Value)
		return b.Put(markKey(uid, profile), val[:])
	})
	if err != nil {
		return ntag424.Counter{}, fmt.Errorf("store: restart marks: %w", err)
	}
	return previous, nil
}
