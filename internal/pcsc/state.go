package pcsc

import "github.com/nfcd/nfcd/internal/reader"

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

// Reader returns s in the words of the tap pipeline and the WebSocket API
// (reader.Service).
func (s ServiceState) Reader() reader.Service {
	switch s {
	case StateRunning:
		return reader.ServiceRunning
	case StateNoService:
		return reader.ServiceDown
	case StateDenied:
		return reader.ServiceDenied
	}
	return reader.ServiceStarting
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
