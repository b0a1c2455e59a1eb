// Package reader is what the tap pipeline needs of a set of card readers and
// what such a set reports. The PC/SC readers (internal/pcsc) and the
// simulated reader (internal/simulate) implement Source; the pipeline
// (internal/tap) consumes it and knows no more about either.
package reader

import (
	"context"
	"time"

	"github.com/nfcd/nfcd/internal/event"
)

// Event is one change a Source observed.
type Event struct {
	// Kind is event.ReaderAdded, ReaderRemoved, CardPresent, CardRemoved,
	// Error or ServiceChanged.
	Kind event.Kind
	// Reader names the reader; it is empty for errors of the whole
	// source (the PC/SC service went away).
	Reader string
	// ATR is the card's answer to reset, for CardPresent.
	ATR []byte
	// Err is set for Error. The Source keeps trying after one.
	Err error
	// Service is set for event.ServiceChanged: the new state of the
	// service behind the readers.
	Service Service
	// Time is when the change was observed.
	Time time.Time
	// Read is, for a CardPresent from Reading.RunReading, what the
	// pipeline's ReadFunc returned for this card. The Source only carries
	// it.
	Read any
}

// Card is a connected card: something APDUs can be sent to.
type Card interface {
	// Transmit sends one command APDU and returns the response APDU.
	Transmit(ctx context.Context, apdu []byte) ([]byte, error)
	// Close releases the card; the card stays in the field.
	Close() error
}

// Source is a set of readers.
type Source interface {
	// Run watches the readers until ctx is done, sending events to out in
	// the order they happened for each reader. Cancellation is not an
	// error.
	Run(ctx context.Context, out chan<- Event) error
	// Connect opens the card in the named reader.
	Connect(ctx context.Context, reader string) (Card, error)
}

// ReadFunc reads the card that ev (a CardPresent) announced, through the
// Source's Connect, and returns the outcome for the pipeline. It is the
// pipeline's (internal/tap): a Source calls it and carries the result, and
// decides nothing from it.
type ReadFunc func(ctx context.Context, ev Event) any

// Reading is implemented by sources that can read a card on the goroutine
// that saw it arrive (internal/pcsc: the one blocked in
// SCardGetStatusChange) and hand their events over without a channel in
// between, so that nothing is handed to another goroutine between the
// card's arrival and its first APDU, nor between its last APDU and the
// pipeline's output.
type Reading interface {
	// RunReading is Run, except that every event is passed to send instead
	// of a channel, on the goroutine that observed it: in order per
	// reader, from several goroutines at once (one per reader, one for the
	// reader list and the service). send may block; the reader whose event
	// it is waits. For every CardPresent, read is called first on the same
	// goroutine and the event carries its result in Read. RunReading
	// returns once no call of send or read is left running.
	RunReading(ctx context.Context, send func(Event), read ReadFunc) error
}

// Signaler is implemented by sources whose readers can show a verdict to
// the person holding the tag (a beep, an LED).
type Signaler interface {
	// Signal shows ok (a green blink and one beep) or not ok (red, three
	// beeps) on the named reader. It returns an error matching
	// errors.ErrUnsupported for a reader that cannot.
	Signal(ctx context.Context, reader string, ok bool) error
}

// Service is the state of the service a Source's readers depend on: for
// PC/SC readers the smart-card service (pcscd, SCardSvr). A Source reports
// it with an event.ServiceChanged event whenever it changes, the first
// time as soon as it knows. The values are those of the "pcsc" state in
// the daemon's hello, readers.list and /healthz (docs/protocol.md).
type Service string

// Service states.
const (
	// ServiceStarting: the Source has not reported the state yet.
	ServiceStarting Service = "starting"
	// ServiceRunning: the service answers; readers, if any, are watched.
	ServiceRunning Service = "running"
	// ServiceDown: the service is not running or not reachable; the
	// Source keeps trying and reports ServiceRunning once it answers.
	ServiceDown Service = "no_service"
	// ServiceSimulated: there is no service; the readers are simulated.
	ServiceSimulated Service = "simulated"
	// ServiceDenied: the service is there but refuses this process (for
	// pcscd, most likely its polkit rules for the account); the Source
	// keeps trying.
	ServiceDenied Service = "denied"
)

// Up reports whether readers can be watched in state s.
func (s Service) Up() bool { return s == ServiceRunning || s == ServiceSimulated }
