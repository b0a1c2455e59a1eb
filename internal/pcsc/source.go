//go:build cgo || windows

package pcsc

import (
	"context"

	"github.com/nfcd/nfcd/internal/reader"
)

// Source returns m as a reader.Source for the tap pipeline, which knows
// nothing of PC/SC. It also implements reader.Reading (the pipeline's read
// runs on the reader's goroutine, right after SCardGetStatusChange
// returned) and reader.Signaler (Signal), which beeps or flashes readers
// that can, when Options.Feedback is set.
func (m *Monitor) Source() reader.Source { return source{m} }

type source struct{ m *Monitor }

func (s source) Run(ctx context.Context, out chan<- reader.Event) error { return s.m.Run(ctx, out) }

func (s source) RunReading(ctx context.Context, send func(reader.Event), read reader.ReadFunc) error {
	return s.m.RunReading(ctx, send, read)
}

func (s source) Connect(ctx context.Context, name string) (reader.Card, error) {
	c, err := s.m.Connect(ctx, name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Signal shows a verdict on the named reader (see Monitor.Feedback). The
// verdict is known only after the tag was read and judged, so it opens the
// card again, which costs one SCardConnect on a cached context; a tag that
// already left the field gets no signal.
func (s source) Signal(ctx context.Context, name string, ok bool) error {
	if !s.m.opts.Feedback {
		return nil
	}
	c, err := s.m.Connect(ctx, name)
	if err != nil {
		return err
	}
	defer c.Close()
	return s.m.Feedback(ctx, c, ok)
}
