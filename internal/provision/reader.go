package provision

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/reader"
)

// Reader is a Card on a PC/SC reader: the tag in it, connected
// exclusively, and reconnected when a tag comes back after one left (a
// Reconnector). Its Run runs the pcsc.Monitor and follows the readers'
// card events.
type Reader struct {
	m    *pcsc.Monitor
	glob string
	// Wait bounds how long WaitCard and Reconnect wait for a tag; zero
	// means a minute.
	Wait time.Duration

	mu      sync.Mutex
	name    string         // the reader in use, once one matched
	present map[string]int // reader → presentation number while a card is in it
	gen     int            // presentations seen
	wake    chan struct{}  // closed and replaced on every event
	card    *pcsc.Card
	cardGen int // the presentation card belongs to
}

// NewReader returns a Reader for the first reader whose name matches glob
// (path.Match syntax; "" or "*" matches any).
func NewReader(m *pcsc.Monitor, glob string) *Reader {
	if glob == "" {
		glob = "*"
	}
	return &Reader{m: m, glob: glob, present: map[string]int{}, wake: make(chan struct{})}
}

// Run runs the monitor and follows its events until ctx is done.
// Cancellation is not an error.
func (r *Reader) Run(ctx context.Context) error {
	events := make(chan reader.Event, 16)
	errc := make(chan error, 1)
	go func() { errc <- r.m.Run(ctx, events) }()
	for {
		select {
		case err := <-errc:
			return err
		case ev := <-events:
			r.mu.Lock()
			switch ev.Kind {
			case event.CardPresent:
				r.gen++
				r.present[ev.Reader] = r.gen
			case event.CardRemoved, event.ReaderRemoved:
				delete(r.present, ev.Reader)
			}
			close(r.wake)
			r.wake = make(chan struct{})
			r.mu.Unlock()
		}
	}
}

// ErrNoTag means no tag came to the reader within Reader.Wait.
var ErrNoTag = errors.New("provision: no tag on the reader")

// ReaderName returns the reader in use, "" before a card was found.
func (r *Reader) ReaderName() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.name
}

// WaitCard waits for a tag in a matching reader (the one in use, once
// there is one) that was presented after presentation after, and
// connects to it.
func (r *Reader) waitCard(ctx context.Context, after int) error {
	wait := r.Wait
	if wait <= 0 {
		wait = time.Minute
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		r.mu.Lock()
		name, gen := "", 0
		for n, g := range r.present {
			if g <= after || (r.name != "" && n != r.name) {
				continue
			}
			if ok, _ := path.Match(r.glob, n); ok {
				name, gen = n, g
			}
		}
		wake := r.wake
		r.mu.Unlock()
		var retry <-chan time.Time
		if name != "" {
			// Exclusive: nobody else's APDU may land inside our secure
			// session (a daemon tapping the same reader would end it).
			c, err := r.m.ConnectExclusive(ctx, name)
			switch {
			case err == nil:
				r.mu.Lock()
				r.name, r.card, r.cardGen = name, c, gen
				r.mu.Unlock()
				return nil
			case errors.Is(err, pcsc.ErrReaderBusy):
				// Another process is reading the tag; it lets go soon.
				retry = time.After(50 * time.Millisecond)
			case !errors.Is(err, pcsc.ErrCardRemoved):
				return err
			}
		}
		select {
		case <-wake:
		case <-retry:
		case <-ctx.Done():
			if parent.Err() != nil {
				return fmt.Errorf("provision: stopped while waiting for a tag: %w", parent.Err())
			}
			return fmt.Errorf("%w within %s (or another program kept it): put the tag on the reader and run the command again, or wait longer with --wait", ErrNoTag, wait)
		}
	}
}

// WaitCard waits for a tag on a matching reader and connects to it.
func (r *Reader) WaitCard(ctx context.Context) error { return r.waitCard(ctx, 0) }

// Reconnect closes the connection to the tag that left and waits for the
// next tag presented to the same reader.
func (r *Reader) Reconnect(ctx context.Context) error {
	r.mu.Lock()
	after := r.cardGen
	if r.card != nil {
		r.card.Close()
		r.card = nil
	}
	r.mu.Unlock()
	return r.waitCard(ctx, after)
}

// Close disconnects from the tag.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.card == nil {
		return nil
	}
	err := r.card.Close()
	r.card = nil
	return err
}

// Transmit sends apdu to the tag. pcsc's removal errors (and an empty
// answer) come back wrapping ntag424.ErrCardRemoved.
func (r *Reader) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	r.mu.Lock()
	c := r.card
	r.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("%w: not connected", ntag424.ErrCardRemoved)
	}
	rsp, err := c.Transmit(ctx, apdu)
	if errors.Is(err, pcsc.ErrCardRemoved) || errors.Is(err, pcsc.ErrCardReset) || errors.Is(err, pcsc.ErrCardUnresponsive) || errors.Is(err, pcsc.ErrClosed) {
		return nil, fmt.Errorf("%w: %w", ntag424.ErrCardRemoved, err)
	}
	return rsp, err
}

// waitEmpty waits until no tag is in the reader in use.
func (r *Reader) waitEmpty(ctx context.Context) error {
	for {
		r.mu.Lock()
		_, in := r.present[r.name]
		wake := r.wake
		r.mu.Unlock()
		if !in {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
