package ntag424

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/testvectors"
)

// transcriptDir holds the golden APDU transcripts (../shared/STYLE.md §8).
const transcriptDir = "../../testdata/apdu"

// step is one command/response exchange of a fake card.
type step struct {
	cmd, rsp []byte
	removed  bool          // "< !removed": the card leaves the field
	err      error         // returned instead of a response
	took     time.Duration // "@ 0.12ms": how long the exchange takes
	line     int           // transcript line of the command, for messages
}

// errFake reports an exchange the fake card did not expect.
var errFake = errors.New("fake card: unexpected APDU")

// fakeCard is a Transmitter that replays steps in order and fails the test
// on any mismatch. A nil clock leaves time alone.
type fakeCard struct {
	tb    testing.TB
	name  string
	steps []step
	next  int
	clock *fakeClock
}

func newFakeCard(tb testing.TB, name string, steps ...step) *fakeCard {
	return &fakeCard{tb: tb, name: name, steps: steps}
}

func (c *fakeCard) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	c.tb.Helper()
	if c.next >= len(c.steps) {
		c.tb.Errorf("%s: APDU %X after the last exchange", c.name, apdu)
		return nil, errFake
	}
	s := c.steps[c.next]
	c.next++
	if !bytes.Equal(apdu, s.cmd) {
		c.tb.Errorf("%s line %d: got APDU %X, want %X", c.name, s.line, apdu, s.cmd)
		return nil, errFake
	}
	if c.clock != nil {
		c.clock.now = c.clock.now.Add(s.took)
	}
	if s.removed {
		return nil, fmt.Errorf("fake card: %w", ErrCardRemoved)
	}
	if s.err != nil {
		return nil, s.err
	}
	return bytes.Clone(s.rsp), nil
}

// done fails the test when exchanges were left unused.
func (c *fakeCard) done() {
	c.tb.Helper()
	if c.next != len(c.steps) {
		c.tb.Errorf("%s: %d of %d exchanges unused, next at line %d", c.name, len(c.steps)-c.next, len(c.steps), c.steps[c.next].line)
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

// loadTranscript parses testdata/apdu/<name>: "> HEX" is a command, "< HEX"
// its response ("< !removed": the card left the field), "@ 0.12ms" how long
// the exchange before it took, and "#" lines are notes.
func loadTranscript(tb testing.TB, name string) *fakeCard {
	tb.Helper()
	f, err := os.Open(filepath.Join(transcriptDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var steps []step
	answered := true
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		arg := strings.TrimSpace(line[1:])
		switch line[0] {
		case '>':
			if !answered {
				tb.Fatalf("%s:%d: command without a response before it", name, n)
			}
			steps = append(steps, step{cmd: unhex(tb, arg), line: n})
			answered = false
		case '<':
			if answered {
				tb.Fatalf("%s:%d: response without a command", name, n)
			}
			s := &steps[len(steps)-1]
			if arg == "!removed" {
				s.removed = true
			} else {
				s.rsp = unhex(tb, arg)
			}
			answered = true
		case '@':
			if len(steps) == 0 || !answered {
				tb.Fatalf("%s:%d: timing without an exchange", name, n)
			}
			d, err := time.ParseDuration(strings.ReplaceAll(arg, " ", ""))
			if err != nil {
				tb.Fatalf("%s:%d: %v", name, n, err)
			}
			steps[len(steps)-1].took = d
		default:
			tb.Fatalf("%s:%d: unknown line %q", name, n, line)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if !answered {
		tb.Fatalf("%s: last command has no response", name)
	}
	return newFakeCard(tb, name, steps...)
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
