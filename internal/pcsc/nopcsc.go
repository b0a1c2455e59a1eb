//go:build !cgo && !windows

package pcsc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/reader"
)

// Monitor stands in for the PC/SC monitor in a build without PC/SC
// support: Open never returns one.
type Monitor struct{}

// Open checks opts like the PC/SC build does, then returns ErrNotBuilt:
// this build has no PC/SC support.
func Open(_ context.Context, _ *zap.Logger, opts Options) (*Monitor, error) {
	for _, p := range slices.Concat(opts.Include, opts.Exclude) {
		if !validPattern(p) {
			return nil, fmt.Errorf("pcsc: invalid reader pattern %q", p)
		}
	}
	return nil, ErrNotBuilt
}

// Run returns ErrNotBuilt.
func (*Monitor) Run(context.Context, chan<- reader.Event) error { return ErrNotBuilt }

// RunReading returns ErrNotBuilt.
func (*Monitor) RunReading(context.Context, func(reader.Event), reader.ReadFunc) error {
	return ErrNotBuilt
}

// Readers returns no readers.
func (*Monitor) Readers() []ReaderInfo { return nil }

// Service returns reader.ServiceDown.
func (*Monitor) Service() reader.Service { return reader.ServiceDown }

// ServiceState returns StateNoService.
func (*Monitor) ServiceState() (ServiceState, time.Time) { return StateNoService, time.Time{} }

// ListReaders returns ErrNotBuilt.
func ListReaders(context.Context) ([]string, error) { return nil, ErrNotBuilt }

// ConnectExclusive returns ErrNotBuilt.
func (*Monitor) ConnectExclusive(context.Context, string) (*Card, error) { return nil, ErrNotBuilt }

// Card stands in for a connected card in a build without PC/SC support:
// no call returns one.
type Card struct{}

// Transmit returns ErrNotBuilt.
func (*Card) Transmit(context.Context, []byte) ([]byte, error) { return nil, ErrNotBuilt }

// Close does nothing.
func (*Card) Close() error { return nil }

// Source returns a source that fails with ErrNotBuilt.
func (*Monitor) Source() reader.Source { return noSource{} }

type noSource struct{}

func (noSource) Run(context.Context, chan<- reader.Event) error { return ErrNotBuilt }

func (noSource) Connect(context.Context, string) (reader.Card, error) { return nil, ErrNotBuilt }
