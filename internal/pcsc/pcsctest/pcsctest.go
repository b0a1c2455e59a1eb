// Package pcsctest provides a fake card that replays a recorded APDU
// transcript, for testing code that talks to tags through the one-method
// Transmitter interface (Transmit(ctx, apdu) ([]byte, error)) without a
// reader.
//
// A transcript is text, one item per line (testdata/apdu/<reader>-<scenario>.txt):
//
//	# notes, ignored (also after data on any line)
//	> 00 A4 04 00 07 D2 76 00 00 85 01 01 00    command APDU, hex, spaces optional
//	< 90 00                                     its response
//	> 00 B0 00 00 00
//	< 00 2A D1 01 … 90 00 @140us                optional recorded round trip
//	> 90 AF 00 00 10 ?? ?? ?? … 00               ?? matches any byte
//	< !removed                                  the card left the field
//
// Every '>' line must be followed by one '<' line; a response may be empty
// or shorter than a status word, as faulty cards answer. Besides hex, a response
// may be one of the conditions "!removed" (ErrRemoved, the card left the
// field), "!reset" (ErrReset) or "!unresponsive" (ErrUnresponsive); a Card
// can map them to the errors its caller expects (Card.Conditions). A
// trailing "@<duration>" token (Go duration syntax) records the round trip;
// Card sleeps for it when Delay is set, and hands it to Advance.
//
// The package imports no PC/SC code, so that tag code which must build
// without cgo (internal/ntag424) replays transcripts in its tests. Run such
// tests with -update -reader=NAME to re-record their transcripts against a
// real reader instead (Open; builds with cgo only).
package pcsctest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The conditions a transcript response can stand for.
var (
	// ErrRemoved: the card left the field during the exchange.
	ErrRemoved = errors.New("pcsctest: card removed")
	// ErrReset: the card was reset by another application.
	ErrReset = errors.New("pcsctest: card reset")
	// ErrUnresponsive: the card did not answer.
	ErrUnresponsive = errors.New("pcsctest: card unresponsive")
)

// Errors reported by Card.
var (
	// ErrMismatch means a command differed from the transcript.
	ErrMismatch = errors.New("pcsctest: command does not match transcript")
	// ErrExhausted means a command was sent after the last exchange.
	ErrExhausted = errors.New("pcsctest: transcript exhausted")
	// ErrUnused means Done found exchanges that were never replayed.
	ErrUnused = errors.New("pcsctest: transcript not fully replayed")
)

// Exchange is one command and its recorded outcome.
type Exchange struct {
	Line     int           // line number of the '>' line, for messages
	Command  []byte        // bytes to match
	Wildcard []bool        // per Command byte: true matches any byte; nil if none
	Response []byte        // nil when Err is set
	Err      error         // a removal or reset condition instead of a response
	Delay    time.Duration // recorded round trip, 0 if none
}

// matches reports whether apdu is the exchange's command.
func (e *Exchange) matches(apdu []byte) bool {
	if len(apdu) != len(e.Command) {
		return false
	}
	for i, b := range apdu {
		if b != e.Command[i] && (e.Wildcard == nil || !e.Wildcard[i]) {
			return false
		}
	}
	return true
}

// Transcript is a parsed transcript.
type Transcript struct {
	Name      string // file name or caller-chosen label, for messages
	Exchanges []Exchange
}

// conditions maps the "!" response words to the errors they stand for.
var conditions = map[string]error{
	"!removed":      ErrRemoved,
	"!reset":        ErrReset,
	"!unresponsive": ErrUnresponsive,
}

// Parse reads a transcript. name labels it in messages.
func Parse(name string, r io.Reader) (*Transcript, error) {
	t := &Transcript{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var pending *Exchange
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		dir, rest := line[0], strings.TrimSpace(line[1:])
		switch dir {
		case '>':
			if pending != nil {
				return nil, fmt.Errorf("pcsctest: %s:%d: command without response on line %d", name, ln, pending.Line)
			}
			cmd, wild, err := parseHex(rest, true)
			if err != nil {
				return nil, fmt.Errorf("pcsctest: %s:%d: %w", name, ln, err)
			}
			if len(cmd) == 0 {
				return nil, fmt.Errorf("pcsctest: %s:%d: empty command", name, ln)
			}
			pending = &Exchange{Line: ln, Command: cmd, Wildcard: wild}
		case '<':
			if pending == nil {
				return nil, fmt.Errorf("pcsctest: %s:%d: response without command", name, ln)
			}
			if f := strings.Fields(rest); len(f) > 0 && strings.HasPrefix(f[len(f)-1], "@") {
				d, err := time.ParseDuration(f[len(f)-1][1:])
				if err != nil || d < 0 {
					return nil, fmt.Errorf("pcsctest: %s:%d: bad timing %q", name, ln, f[len(f)-1])
				}
				pending.Delay = d
				rest = strings.Join(f[:len(f)-1], " ")
			}
			if strings.HasPrefix(rest, "!") {
				err, ok := conditions[rest]
				if !ok {
					return nil, fmt.Errorf("pcsctest: %s:%d: unknown condition %q", name, ln, rest)
				}
				pending.Err = err
			} else {
				rsp, _, err := parseHex(rest, false)
				if err != nil {
					return nil, fmt.Errorf("pcsctest: %s:%d: %w", name, ln, err)
				}
				// A response shorter than a status word is a fault
				// worth replaying (an empty one is how pcscd reports a
				// card pulled mid-APDU); keep it as recorded.
				pending.Response = rsp
			}
			t.Exchanges = append(t.Exchanges, *pending)
			pending = nil
		default:
			return nil, fmt.Errorf("pcsctest: %s:%d: line must start with '>', '<' or '#'", name, ln)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pcsctest: read %s: %w", name, err)
	}
	if pending != nil {
		return nil, fmt.Errorf("pcsctest: %s:%d: command without response", name, pending.Line)
	}
	return t, nil
}

// ParseFile reads the transcript in the named file.
func ParseFile(path string) (*Transcript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcsctest: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// parseHex decodes hex with optional spaces. With wildcards allowed, "??"
// stands for any byte; the mask is nil when there is none.
func parseHex(s string, wildcards bool) ([]byte, []bool, error) {
	s = strings.Join(strings.Fields(s), "")
	if len(s)%2 != 0 {
		return nil, nil, fmt.Errorf("odd number of hex digits in %q", s)
	}
	out := make([]byte, len(s)/2)
	var mask []bool
	for i := 0; i < len(s); i += 2 {
		if s[i:i+2] == "??" && wildcards {
			if mask == nil {
				mask = make([]bool, len(out))
			}
			mask[i/2] = true
			continue
		}
		if _, err := hex.Decode(out[i/2:i/2+1], []byte(s[i:i+2])); err != nil {
			return nil, nil, fmt.Errorf("bad hex %q", s[i:i+2])
		}
	}
	return out, mask, nil
}

// Format writes t in transcript syntax; Parse(Format(t)) yields t again.
func (t *Transcript) Format(w io.Writer) error {
	var buf bytes.Buffer
	for _, e := range t.Exchanges {
		buf.WriteString(">")
		for i, b := range e.Command {
			if e.Wildcard != nil && e.Wildcard[i] {
				buf.WriteString(" ??")
			} else {
				fmt.Fprintf(&buf, " %02X", b)
			}
		}
		buf.WriteString("\n<")
		if e.Err != nil {
			for word, err := range conditions {
				if err == e.Err {
					buf.WriteString(" " + word)
				}
			}
		} else {
			fmt.Fprintf(&buf, " % X", e.Response)
		}
		if e.Delay > 0 {
			fmt.Fprintf(&buf, " @%v", e.Delay)
		}
		buf.WriteString("\n")
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Card replays a Transcript: each Transmit must send the next command, and
// gets its recorded response. After a mismatch every call fails. It is safe
// for concurrent use.
type Card struct {
	// Delay makes Transmit sleep for each exchange's recorded round trip.
	Delay bool
	// Advance, if set, is called with each exchange's recorded round trip,
	// e.g. to move a fake clock.
	Advance func(time.Duration)
	// Conditions maps a condition's sentinel (ErrRemoved, …) to the error
	// Transmit returns for it instead, e.g. ntag424.ErrCardRemoved; the
	// returned error wraps both.
	Conditions map[error]error

	mu   sync.Mutex
	t    *Transcript
	next int
	err  error // first failure, sticky
}

// NewCard returns a Card replaying t.
func NewCard(t *Transcript) *Card { return &Card{t: t} }

// Load parses the transcript at path and returns a Card replaying it; the
// test fails at once if the file is bad, and at cleanup if the card was not
// fully replayed.
func Load(tb testing.TB, path string) *Card {
	tb.Helper()
	t, err := ParseFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	c := NewCard(t)
	tb.Cleanup(func() {
		if err := c.Done(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// Transmit returns the recorded response to apdu, or the recorded
// condition's error. It fails with ErrMismatch when apdu is not the next
// command and ErrExhausted when there is none.
func (c *Card) Transmit(ctx context.Context, apdu []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if c.next >= len(c.t.Exchanges) {
		c.err = fmt.Errorf("%w: %s: unexpected command % X after the last exchange", ErrExhausted, c.t.Name, apdu)
		return nil, c.err
	}
	e := &c.t.Exchanges[c.next]
	if !e.matches(apdu) {
		c.err = fmt.Errorf("%w: %s:%d: got % X, want % X", ErrMismatch, c.t.Name, e.Line, apdu, e.Command)
		return nil, c.err
	}
	c.next++
	if c.Delay && e.Delay > 0 {
		t := time.NewTimer(e.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	if c.Advance != nil {
		c.Advance(e.Delay)
	}
	if e.Err != nil {
		if mapped, ok := c.Conditions[e.Err]; ok {
			return nil, fmt.Errorf("%s:%d: %w (%w)", c.t.Name, e.Line, mapped, e.Err)
		}
		return nil, fmt.Errorf("%s:%d: %w", c.t.Name, e.Line, e.Err)
	}
	return bytes.Clone(e.Response), nil
}

// Done reports the first failure, or ErrUnused if exchanges remain.
func (c *Card) Done() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if left := len(c.t.Exchanges) - c.next; left > 0 {
		return fmt.Errorf("%w: %s: %d exchange(s) left, next on line %d", ErrUnused, c.t.Name, left, c.t.Exchanges[c.next].Line)
	}
	return nil
}
