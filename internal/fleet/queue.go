package fleet

import (
	"context"
	"time"
)

// Queue is a durable first-in first-out list: the kiosk's outbox for work
// the fleet has not acknowledged yet. A Client uses two, one of Advances
// (counters accepted locally while the fleet could not answer) and one of
// Taps (audit rows to ship). The daemon backs them by its bbolt store, so
// that what was pushed survives a crash or kill -9; fleettest.Queue is an
// in-memory one for tests.
//
// Items are only ever added by the Client that owns the queue (it counts
// them to keep this kiosk's advances in order) and only removed from the
// front. Implementations must be safe for concurrent use.
type Queue[T any] interface {
	// Push appends items in order and returns once they are durable.
	// IDs increase with every item ever pushed, across restarts.
	Push(ctx context.Context, items ...T) error
	// Peek returns up to max of the oldest items, oldest first, without
	// removing them.
	Peek(ctx context.Context, max int) ([]Queued[T], error)
	// Remove deletes every item whose ID is at most through, durably.
	Remove(ctx context.Context, through uint64) error
	// Stats returns the number of items and when the oldest was pushed.
	Stats(ctx context.Context) (QueueStats, error)
}

// Queued is an item in a Queue.
type Queued[T any] struct {
	ID     uint64
	Pushed time.Time // when Push was called
	Item   T
}

// QueueStats describes a Queue's contents.
type QueueStats struct {
	Len    int
	Oldest time.Time // push time of the oldest item; zero when empty
}
