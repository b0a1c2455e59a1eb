package fleettest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
)

// ErrInjected is the error a Queue returns for a failure set up by a test.
var ErrInjected = errors.New("fleettest: injected queue failure")

// Queue is an in-memory fleet.Queue. It outlives the Client that uses it,
// so a test "restarts" a kiosk by opening a new Client on the same queues,
// as the daemon reopens its bbolt outbox.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []fleet.Queued[T]
	nextID uint64
	now    func() time.Time

	failPush, failRemove int // how many of the next calls fail
}

// NewQueue returns an empty queue.
func NewQueue[T any]() *Queue[T] { return &Queue[T]{now: time.Now} }

// FailPush makes the next n calls of Push fail with ErrInjected.
func (q *Queue[T]) FailPush(n int) {
	q.mu.Lock()
	q.failPush = n
	q.mu.Unlock()
}

// FailRemove makes the next n calls of Remove fail with ErrInjected after
// the work was sent: the Client's view of a crash between send and
// acknowledgement.
func (q *Queue[T]) FailRemove(n int) {
	q.mu.Lock()
	q.failRemove = n
	q.mu.Unlock()
}

// Push implements fleet.Queue.
func (q *Queue[T]) Push(ctx context.Context, items ...T) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failPush > 0 {
		q.failPush--
		return ErrInjected
	}
	now := q.now()
	for _, it := range items {
		q.nextID++
		q.items = append(q.items, fleet.Queued[T]{ID: q.nextID, Pushed: now, Item: it})
	}
	return nil
}

// Peek implements fleet.Queue.
func (q *Queue[T]) Peek(ctx context.Context, max int) ([]fleet.Queued[T], error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(max, len(q.items))
	return append([]fleet.Queued[T](nil), q.items[:n]...), nil
}

// Remove implements fleet.Queue.
func (q *Queue[T]) Remove(ctx context.Context, through uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failRemove > 0 {
		q.failRemove--
		return ErrInjected
	}
	i := 0
	for i < len(q.items) && q.items[i].ID <= through {
		i++
	}
	q.items = append(q.items[:0], q.items[i:]...)
	return nil
}

// Stats implements fleet.Queue.
func (q *Queue[T]) Stats(ctx context.Context) (fleet.QueueStats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := fleet.QueueStats{Len: len(q.items)}
	if len(q.items) > 0 {
		s.Oldest = q.items[0].Pushed
	}
	return s, nil
}

// Items returns a copy of the queued items, oldest first.
func (q *Queue[T]) Items() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]T, len(q.items))
	for i, it := range q.items {
		out[i] = it.Item
	}
	return out
}
