package pcsc

import (
	"sync"
	"time"
)

// ServiceState is the PC/SC service as a Monitor sees it, for health
// reports.
type ServiceState int

// Service states.
const (
	// StateStarting: Run has not established a context yet.
	StateStarting ServiceState = iota
	// StateRunning: the monitor holds a context and watches the readers.
	StateRunning
	// StateNoService: the service is not running or not reachable; the
	// monitor retries with backoff.
	StateNoService
	// StateDenied: the service is there but refuses this process, most
	// likely pcscd's polkit rules for the account (see Denied).
	StateDenied
)

func (s ServiceState) String() string {
	switch s {
	case StateStarting:
		return "starting"
	case StateRunning:
		return "running"
	case StateNoService:
		return "no_service"
	case StateDenied:
		return "denied"
	}
	return "unknown"
}

// Metrics is what a Monitor reports to monitoring (internal/metrics
// implements it).
type Metrics interface {
	// PCSCContextReset counts a context lost with its service and
	// established again.
	PCSCContextReset()
	// SetReaders sets the number of readers being watched.
	SetReaders(n int)
}

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
