package fleet

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"
)

// stubClient is a Client whose Run rounds are scripted: no database.
func stubClient(t *testing.T, round func(ctx context.Context) (bool, error)) *Client {
	c := &Client{
		DB:   &DB{kiosk: "k", log: zaptest.NewLogger(t)},
		sem:  make(chan struct{}, 1),
		kick: make(chan struct{}, 1),
		now:  time.Now,
	}
	c.sync = round
	return c
}

// TestRunBackoff: failed rounds are retried after 250 ms, 500 ms, 1 s, …
// (±20%) up to 15 s; a success resets the backoff and marks the fleet
// reachable; a round with more work runs again at once; an idle Run wakes
// for a kick or after a second; a kick does not shorten a backoff; Run
// returns nil when cancelled and leaves no goroutine behind.
func TestRunBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu    sync.Mutex
			calls []time.Time
		)
		script := []error{}
		for range 9 {
			script = append(script, errors.New("connection refused"))
		}
		moreAfter := map[int]bool{9: true} // round 9 succeeds with more work
		c := stubClient(t, func(ctx context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			n := len(calls)
			calls = append(calls, time.Now())
			if n < len(script) {
				return false, script[n]
			}
			return moreAfter[n], nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- c.Run(ctx) }()

		// Nine failures, waits of ~0.25, 0.5, 1, 2, 4, 8, 15, 15, 15 s.
		time.Sleep(time.Millisecond)
		if !c.down.Load() {
			t.Error("not down after a failed round")
		}
		c.wake() // must not cut the backoff short
		time.Sleep(90 * time.Second)
		mu.Lock()
		got := append([]time.Time(nil), calls...)
		mu.Unlock()
		if len(got) < 13 {
			t.Fatalf("%d rounds in 90 s, want at least 13", len(got))
		}
		want := []time.Duration{250, 500, 1000, 2000, 4000, 8000, 15000, 15000}
		for i, w := range want {
			d := got[i+1].Sub(got[i])
			lo, hi := time.Duration(float64(w)*0.8)*time.Millisecond, time.Duration(float64(w)*1.2)*time.Millisecond
			if d < lo || d > hi {
				t.Errorf("wait after failure %d = %v, want %v ±20%%", i+1, d, w*time.Millisecond)
			}
		}
		// Round 9 succeeded with more work: round 10 at once; the kick
		// sent during the backoff is still pending: round 11 at once; then
		// idle rounds a second apart.
		if d := got[10].Sub(got[9]); d != 0 {
			t.Errorf("round after 'more' came %v later, want at once", d)
		}
		if d := got[11].Sub(got[10]); d != 0 {
			t.Errorf("round for the pending kick came %v later, want at once", d)
		}
		if d := got[12].Sub(got[11]); d != time.Second {
			t.Errorf("idle round after %v, want 1s", d)
		}
		if c.down.Load() {
			t.Error("still down after a successful round")
		}
		// A kick wakes an idle Run at once: halfway between two idle
		// rounds, a kick makes one more round, now.
		mu.Lock()
		n, last := len(calls), calls[len(calls)-1]
		mu.Unlock()
		time.Sleep(time.Until(last.Add(500 * time.Millisecond)))
		mu.Lock()
		if len(calls) != n {
			t.Fatalf("%d rounds within half an idle second", len(calls)-n)
		}
		mu.Unlock()
		c.wake()
		synctest.Wait()
		mu.Lock()
		if len(calls) != n+1 || !calls[n].Equal(time.Now()) {
			t.Errorf("a kick did not start a round at once: %d rounds, last at %v", len(calls)-n, time.Since(start))
		}
		mu.Unlock()

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	})
}

func TestBackoffCap(t *testing.T) {
	b := backoff{min: minBackoff, max: maxBackoff}
	for range 100 {
		if d := b.next(); d < minBackoff*8/10 || d > maxBackoff*12/10 {
			t.Fatalf("backoff %v out of range", d)
		}
	}
	b.reset()
	if d := b.next(); d > minBackoff*12/10 {
		t.Errorf("after reset: %v", d)
	}
}
