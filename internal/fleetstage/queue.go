package fleetstage

import (
	"context"
	"encoding"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/store"
)

// item is what a Queue holds: a fleet.Advance or fleet.Tap, which encode
// themselves (internal/fleet/encoding.go).
type item[T any] interface {
	*T
	encoding.BinaryUnmarshaler
}

// Queue is a fleet.Queue in the kiosk's bbolt store: durable across a
// crash or kill -9, in order, with IDs that increase across restarts.
type Queue[T interface{ MarshalBinary() ([]byte, error) }, P item[T]] struct {
	q *store.Queue
	// Log reports items that do not decode (a damaged value); they are
	// skipped (and so removed with the items around them) rather than
	// blocking the queue forever.
	Log *zap.Logger
}

// NewQueue returns the fleet.Queue of q.
func NewQueue[T interface{ MarshalBinary() ([]byte, error) }, P item[T]](q *store.Queue) *Queue[T, P] {
	return &Queue[T, P]{q: q, Log: zap.NewNop()}
}

// Push implements fleet.Queue.
func (q *Queue[T, P]) Push(ctx context.Context, items ...T) error {
	vals := make([][]byte, len(items))
	for i, it := range items {
		b, err := it.MarshalBinary()
		if err != nil {
			return err
		}
		vals[i] = b
	}
	return q.q.Push(ctx, vals...)
}

// Peek implements fleet.Queue.
func (q *Queue[T, P]) Peek(ctx context.Context, max int) ([]fleet.Queued[T], error) {
	items, err := q.q.Peek(ctx, max)
	if err != nil {
		return nil, err
	}
	out := make([]fleet.Queued[T], 0, len(items))
	for _, it := range items {
		var v T
		if err := P(&v).UnmarshalBinary(it.Value); err != nil {
			q.Log.Error("undecodable fleet queue item skipped", zap.Uint64("id", it.ID), zap.Error(err))
			if len(out) == 0 {
				// Nothing before it to send: drop it now.
				if err := q.q.Remove(ctx, it.ID); err != nil {
					return nil, err
				}
				continue
			}
			break
		}
		out = append(out, fleet.Queued[T]{ID: it.ID, Pushed: it.Pushed, Item: v})
	}
	if len(out) == 0 && len(items) > 0 {
		return q.Peek(ctx, max)
	}
	return out, nil
}

// Remove implements fleet.Queue.
func (q *Queue[T, P]) Remove(ctx context.Context, through uint64) error {
	return q.q.Remove(ctx, through)
}

// Stats implements fleet.Queue.
func (q *Queue[T, P]) Stats(ctx context.Context) (fleet.QueueStats, error) {
	n, oldest, err := q.q.Stats(ctx)
	if err != nil {
		return fleet.QueueStats{}, err
	}
	return fleet.QueueStats{Len: n, Oldest: oldest}, nil
}

var (
	_ fleet.Queue[fleet.Advance] = (*Queue[fleet.Advance, *fleet.Advance])(nil)
	_ fleet.Queue[fleet.Tap]     = (*Queue[fleet.Tap, *fleet.Tap])(nil)
)

// QueueStats reads the depths of the fleet queues of st (which may be
// opened read-only): `nfcd fleet status` without a running daemon.
func QueueStats(ctx context.Context, st *store.Store) (advances, taps fleet.QueueStats, err error) {
	for _, q := range []struct {
		name string
		out  *fleet.QueueStats
	}{{AdvanceQueue, &advances}, {TapQueue, &taps}} {
		sq, err := st.Queue(q.name)
		if err != nil {
			return advances, taps, err
		}
		n, oldest, err := sq.Stats(ctx)
		if err != nil {
			return advances, taps, err
		}
		*q.out = fleet.QueueStats{Len: n, Oldest: oldest}
	}
	return advances, taps, nil
}
