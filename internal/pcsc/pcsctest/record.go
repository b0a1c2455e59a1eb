package pcsctest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	update = flag.Bool("update", false, "re-record the APDU transcripts against the reader named by -reader")
	reader = flag.String("reader", "", "the PC/SC `reader` holding the card to re-record transcripts with (-update)")
)

// Transmitter is what a Recorder records: a connected card.
type Transmitter interface {
	Transmit(ctx context.Context, apdu []byte) ([]byte, error)
}

// Recorder passes APDUs to a real card and records every exchange and its
// round trip, so that Card can replay them later.
type Recorder struct {
	card Transmitter
	now  func() time.Time

	mu sync.Mutex
	t  Transcript
}

// NewRecorder returns a Recorder in front of card; name labels the
// transcript.
func NewRecorder(name string, card Transmitter) *Recorder {
	return &Recorder{card: card, now: time.Now, t: Transcript{Name: name}}
}

// Transmit sends apdu to the card and records the exchange. A card that
// left the field is recorded as "!removed" when the error matches
// removed.
func (r *Recorder) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	start := r.now()
	rsp, err := r.card.Transmit(ctx, apdu)
	e := Exchange{Command: bytes.Clone(apdu), Delay: r.now().Sub(start).Round(time.Microsecond)}
	switch {
	case err == nil:
		e.Response = bytes.Clone(rsp)
	case errors.Is(err, ErrRemoved) || isRemoved(err):
		e.Err = ErrRemoved
	default:
		e.Err = ErrUnresponsive
	}
	r.mu.Lock()
	r.t.Exchanges = append(r.t.Exchanges, e)
	r.mu.Unlock()
	return rsp, err
}

// Transcript returns what was recorded so far.
func (r *Recorder) Transcript() *Transcript {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.t
	t.Exchanges = append([]Exchange(nil), t.Exchanges...)
	return &t
}

// isRemoved is set by the cgo build (live_cgo.go) to recognise PC/SC's
// card-removed error.
var isRemoved = func(error) bool { return false }

// liveCard opens the card in the named PC/SC reader; set by the cgo build.
var liveCard func(ctx context.Context, reader string) (Transmitter, func(), error)

// Open returns the card a transcript test talks to. Normally it replays the
// transcript at path (as Load does). With -update it opens the card in the
// reader named by -reader instead, records the exchanges, and at the end of
// a passing test writes them to path, keeping the file's leading comment
// lines.
func Open(tb testing.TB, path string) Transmitter {
	tb.Helper()
	if !*update {
		return Load(tb, path)
	}
	if *reader == "" {
		tb.Fatal("pcsctest: -update needs -reader=NAME, the reader holding the card to record")
	}
	if liveCard == nil {
		tb.Fatalf("pcsctest: -update needs a build with cgo (PC/SC): %v", errors.ErrUnsupported)
	}
	card, release, err := liveCard(context.Background(), *reader)
	if err != nil {
		tb.Fatalf("pcsctest: open %q: %v", *reader, err)
	}
	rec := NewRecorder(path, card)
	tb.Cleanup(func() {
		release()
		if tb.Failed() {
			tb.Logf("pcsctest: %s not re-recorded: the test failed", path)
			return
		}
		if err := writeTranscript(path, rec.Transcript()); err != nil {
			tb.Error(err)
		}
	})
	return rec
}

// writeTranscript writes t to path after the comment lines that head the
// file already there, replacing its exchanges.
func writeTranscript(path string, t *Transcript) error {
	var head strings.Builder
	if old, err := os.ReadFile(path); err == nil {
		for _, line := range strings.SplitAfter(string(old), "\n") {
			if !strings.HasPrefix(line, "#") {
				break
			}
			head.WriteString(line)
		}
	}
	fmt.Fprintf(&head, "# Recorded %s.\n", time.Now().UTC().Format(time.DateOnly))
	var body bytes.Buffer
	if err := t.Format(&body); err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(head.String()), body.Bytes()...), 0o644)
}
