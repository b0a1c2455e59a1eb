package ntag424

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/pcsc/pcsctest"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// transcriptDir holds the golden APDU transcripts (../shared/STYLE.md §8),
// replayed by internal/pcsc/pcsctest; -update -reader=NAME re-records them.
const transcriptDir = "../../testdata/apdu"

// step is one command/response exchange of a fake card.
type step struct {
	cmd, rsp []byte
	removed  bool  // the card leaves the field
	err      error // the transport fails with err
}

// fakeCard replays exchanges and fails the test, at done, on any mismatch
// or unused exchange. A nil clock leaves time alone.
type fakeCard struct {
	tb    testing.TB
	card  interface{ Done() error }
	tr    Transmitter
	clock *fakeClock
}

// cardRemoved makes a "!removed" exchange fail as a tag that left the
// field does.
var cardRemoved = map[error]error{pcsctest.ErrRemoved: ErrCardRemoved}

func newFakeCard(tb testing.TB, name string, steps ...step) *fakeCard {
	t := &pcsctest.Transcript{Name: name}
	var transportErr error
	for i, s := range steps {
		e := pcsctest.Exchange{Line: i + 1, Command: s.cmd, Response: s.rsp}
		switch {
		case s.removed:
			e.Err = pcsctest.ErrRemoved
		case s.err != nil:
			e.Err, transportErr = pcsctest.ErrUnresponsive, s.err
		}
		t.Exchanges = append(t.Exchanges, e)
	}
	f := replay(tb, pcsctest.NewCard(t))
	if transportErr != nil {
		f.tr.(*pcsctest.Card).Conditions = map[error]error{pcsctest.ErrRemoved: ErrCardRemoved, pcsctest.ErrUnresponsive: transportErr}
	}
	return f
}

func replay(tb testing.TB, c *pcsctest.Card) *fakeCard {
	f := &fakeCard{tb: tb, card: c, tr: c}
	c.Conditions = cardRemoved
	c.Advance = func(d time.Duration) {
		if f.clock != nil {
			f.clock.now = f.clock.now.Add(d)
		}
	}
	return f
}

func (c *fakeCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	return c.tr.Transmit(ctx, apdu)
}

// done fails the test on a mismatch or an unused exchange.
func (c *fakeCard) done() {
	c.tb.Helper()
	if c.card == nil {
		return
	}
	if err := c.card.Done(); err != nil {
		c.tb.Error(err)
	}
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// ex builds a step from hex strings; "" is an empty response.
func ex(tb testing.TB, cmd, rsp string) step {
	tb.Helper()
	return step{cmd: unhex(tb, cmd), rsp: unhex(tb, rsp)}
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// loadTranscript replays testdata/apdu/<name> (pcsctest's format), or with
// -update -reader=NAME records it anew from a real card.
func loadTranscript(tb testing.TB, name string) *fakeCard {
	tb.Helper()
	tr := pcsctest.Open(tb, filepath.Join(transcriptDir, name))
	c, ok := tr.(*pcsctest.Card)
	if !ok {
		return &fakeCard{tb: tb, tr: tr} // recording a live card
	}
	f := replay(tb, c)
	f.card = nil // pcsctest.Open checks it at cleanup
	return f
}

// TestFixedAPDUs pins the fixed commands to the bytes NXP prints
// (apdu_info records of the shared vectors: AN12196 Tables 11, 13 and 30).
func TestFixedAPDUs(t *testing.T) {
	want := map[string][]byte{
		"an12196-t11-select-ndef-app": apduSelectNDEFApp[:],
		"an12196-t30-read-sig":        apduReadSig[:],
	}
	seen := 0
	for _, v := range testvectors.Load(t, "apdu_info") {
		if v.ID == "an12196-t13-getversion" {
			ex := v.Input["exchanges"].([]any)
			for i, e := range ex {
				cmd := unhex(t, e.([]any)[0].(string))
				w := apduNextFrame[:]
				if i == 0 {
					w = apduGetVersion[:]
				}
				if !bytes.Equal(cmd, w) {
					t.Errorf("GetVersion frame %d APDU = %X, want %X", i+1, w, cmd)
				}
			}
			seen++
			continue
		}
		w, ok := want[v.ID]
		if !ok {
			continue
		}
		seen++
		if got := testvectors.Hex(t, v.Input, "capdu"); !bytes.Equal(w, got) {
			t.Errorf("%s: APDU = %X, want %X", v.ID, w, got)
		}
	}
	if seen != 3 {
		t.Errorf("matched %d apdu_info records, want 3", seen)
	}
	if got, want := apduSelectNDEFFile[:], unhex(t, "00A4000C02E10400"); !bytes.Equal(got, want) {
		t.Errorf("select NDEF file APDU = %X, want %X", got, want)
	}
	if got, want := apduGetUID[:], unhex(t, "FFCA000000"); !bytes.Equal(got, want) {
		t.Errorf("GET UID APDU = %X, want %X", got, want)
	}
}

// TestExchangeShortResponse checks that a response without a status word is
// a typed error, and an empty one means the card left the field.
func TestExchangeShortResponse(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rsp         string
		wantRemoved bool
	}{
		{"empty", "", true},
		{"one byte", "90", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, ex(t, "00", tc.rsp))
			data, sw, err := exchange(context.Background(), c, []byte{0})
			if !errors.Is(err, ErrShortResponse) {
				t.Fatalf("exchange(%q) = %X, %v, %v, want ErrShortResponse", tc.rsp, data, sw, err)
			}
			if got := errors.Is(err, ErrCardRemoved); got != tc.wantRemoved {
				t.Errorf("exchange(%q): errors.Is(ErrCardRemoved) = %v, want %v", tc.rsp, got, tc.wantRemoved)
			}
			if data != nil || sw != 0 {
				t.Errorf("exchange(%q) = %X, %v with error, want nil, 0", tc.rsp, data, sw)
			}
		})
	}
}

func TestExchangeCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := newFakeCard(t, "canceled") // any APDU fails the test
	if _, n, err := ReadNDEF(ctx, c); !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("ReadNDEF(canceled) = %d APDUs, %v; want 1 attempted, context.Canceled", n, err)
	}
}
