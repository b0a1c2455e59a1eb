package tap

import (
	"context"

	"github.com/nfcd/nfcd/internal/pcsc"
)

// PCSC is a Source backed by PC/SC readers.
type PCSC struct {
	M *pcsc.Monitor
}

var pcscKinds = map[pcsc.EventKind]Kind{
	pcsc.ReaderAdded:   ReaderAdded,
	pcsc.ReaderRemoved: ReaderRemoved,
	pcsc.CardPresent:   CardPresent,
	pcsc.CardRemoved:   CardRemoved,
	pcsc.ErrorEvent:    ReaderError,
}

// Run runs the monitor and forwards its events until ctx is done.
func (s PCSC) Run(ctx context.Context, out chan<- ReaderEvent) error {
	errc := make(chan error, 1)
	go func() { errc <- s.M.Run(ctx) }()
	for {
		select {
		case err := <-errc:
			return err
		case ev := <-s.M.Events():
			kind, ok := pcscKinds[ev.Kind]
			if !ok {
				continue
			}
			select {
			case out <- ReaderEvent{Kind: kind, Reader: ev.Reader, ATR: ev.ATR, Err: ev.Err, Time: ev.Time}:
			case <-ctx.Done():
				return <-errc
			}
		}
	}
}

// Connect opens the card in reader.
func (s PCSC) Connect(ctx context.Context, reader string) (Card, error) {
	c, err := s.M.Connect(ctx, reader)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Feedback signals the verdict on readers that can (beep, LED), when the
// monitor was opened with feedback on.
func (s PCSC) Feedback(ctx context.Context, card Card, ok bool) error {
	c, isPCSC := card.(*pcsc.Card)
	if !isPCSC {
		return nil
	}
	return s.M.Feedback(ctx, c, ok)
}
