//go:build cgo || windows

package pcsc

import (
	"sync"
	"time"
)

// nopMetrics is Options.Metrics when none is given.
type nopMetrics struct{}

func (nopMetrics) PCSCContextReset() {}
func (nopMetrics) SetReaders(int)    {}

// stateTracker holds the service state and when it last changed.
type stateTracker struct {
	mu    sync.Mutex
	state ServiceState
	since time.Time
}

func (t *stateTracker) set(s ServiceState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != s || t.since.IsZero() {
		t.state, t.since = s, time.Now()
	}
}

func (t *stateTracker) get() (ServiceState, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state, t.since
}

// ServiceState returns the PC/SC service's state and when it began.
func (m *Monitor) ServiceState() (ServiceState, time.Time) { return m.state.get() }

// lostState is the state after the service failed with err.
func lostState(err error) ServiceState {
	if Denied(err) {
		return StateDenied
	}
	return StateNoService
}

// setReaders reports the number of watched readers.
func (m *Monitor) setReaders() {
	m.mu.Lock()
	n := len(m.readers)
	m.mu.Unlock()
	m.metrics.SetReaders(n)
}
