package tap

import (
	"context"
	"sync"
	"time"
)

// readCtx is the context of one tag read: its parent's values, never
// cancelled by the parent, and a deadline. Unlike context.WithDeadline it
// arms no timer until someone asks for Done: arming one wakes the Go
// runtime's network poller on another thread, 50–150 µs measured between
// the PC/SC event and the first APDU, and the read itself only checks Err
// before each PC/SC call (a call cannot be interrupted).
type readCtx struct {
	context.Context
	deadline time.Time

	once   sync.Once
	armed  context.Context
	cancel context.CancelFunc
}

// newReadCtx returns a readCtx for parent that expires after d; stop
// releases its timer if Done armed one.
func newReadCtx(parent context.Context, d time.Duration) *readCtx {
	return &readCtx{Context: context.WithoutCancel(parent), deadline: time.Now().Add(d)}
}

func (c *readCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *readCtx) Done() <-chan struct{} {
	c.once.Do(func() { c.armed, c.cancel = context.WithDeadline(c.Context, c.deadline) })
	return c.armed.Done()
}

func (c *readCtx) Err() error {
	if time.Now().Before(c.deadline) {
		return nil
	}
	return context.DeadlineExceeded
}

// stop releases the timer Done armed, if any.
func (c *readCtx) stop() {
	c.once.Do(func() {})
	if c.cancel != nil {
		c.cancel()
	}
}
