package pcsctest

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func hexb(t testing.TB, s string) []byte {
	t.Helper()
	b, _, err := parseHex(s, false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplayTranscriptFile(t *testing.T) {
	c := Load(t, "testdata/vpcd-get-uid.txt")
	ctx := context.Background()
	steps := []struct {
		cmd     string
		rsp     string
		wantErr error
	}{
		{"FFCA000000", "041E3C8A2D6B809000", nil},
		{"00A4040007D276000085010100", "9000", nil},
		{"90AF000002ABCD00", "9100", nil},
		{"00B0000000", "", ErrRemoved},
	}
	for _, s := range steps {
		rsp, err := c.Transmit(ctx, hexb(t, s.cmd))
		if !errors.Is(err, s.wantErr) || !bytes.Equal(rsp, hexb(t, s.rsp)) {
			t.Fatalf("Transmit(%s) = % X, %v; want %s, %v", s.cmd, rsp, err, s.rsp, s.wantErr)
		}
	}
	if err := c.Done(); err != nil {
		t.Errorf("Done() = %v", err)
	}
}

func TestReplayFailures(t *testing.T) {
	const tr = "> 00 A4 04 00 00\n< 90 00\n> 00 B0 00 00 00\n< 6A 86\n"
	ctx := context.Background()
	parse := func() *Card {
		p, err := Parse("tr", strings.NewReader(tr))
		if err != nil {
			t.Fatal(err)
		}
		return NewCard(p)
	}

	t.Run("mismatch is sticky", func(t *testing.T) {
		c := parse()
		if _, err := c.Transmit(ctx, hexb(t, "00A4040001")); !errors.Is(err, ErrMismatch) {
			t.Fatalf("Transmit(wrong) = %v, want ErrMismatch", err)
		}
		if _, err := c.Transmit(ctx, hexb(t, "00A4040000")); !errors.Is(err, ErrMismatch) {
			t.Errorf("Transmit after mismatch = %v, want the mismatch again", err)
		}
		if err := c.Done(); !errors.Is(err, ErrMismatch) {
			t.Errorf("Done() = %v, want ErrMismatch", err)
		}
	})
	t.Run("unused", func(t *testing.T) {
		c := parse()
		if _, err := c.Transmit(ctx, hexb(t, "00A4040000")); err != nil {
			t.Fatal(err)
		}
		if err := c.Done(); !errors.Is(err, ErrUnused) || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("Done() = %v, want ErrUnused naming line 3", err)
		}
	})
	t.Run("exhausted", func(t *testing.T) {
		c := parse()
		for _, cmd := range []string{"00A4040000", "00B0000000"} {
			if _, err := c.Transmit(ctx, hexb(t, cmd)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Transmit(ctx, hexb(t, "00B0000000")); !errors.Is(err, ErrExhausted) {
			t.Errorf("Transmit past end = %v, want ErrExhausted", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c := parse()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := c.Transmit(cctx, hexb(t, "00A4040000")); !errors.Is(err, context.Canceled) {
			t.Errorf("Transmit(cancelled) = %v, want context.Canceled", err)
		}
		if err := c.Done(); !errors.Is(err, ErrUnused) {
			t.Errorf("Done() = %v, want ErrUnused (cancelled call consumed nothing)", err)
		}
	})
}

func TestConditionsAndTiming(t *testing.T) {
	p, err := Parse("tr", strings.NewReader("> 01 02\n< !reset\n> 01 02\n< !unresponsive @2ms\n> 01 03\n< 9000 @3ms # note\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Exchanges[2].Delay; d != 3*time.Millisecond {
		t.Errorf("Delay = %v, want 3ms", d)
	}
	c := NewCard(p)
	c.Delay = true
	ctx := context.Background()
	if _, err := c.Transmit(ctx, []byte{1, 2}); !errors.Is(err, ErrReset) {
		t.Errorf("!reset gave %v", err)
	}
	start := time.Now()
	if _, err := c.Transmit(ctx, []byte{1, 2}); !errors.Is(err, ErrUnresponsive) {
		t.Errorf("!unresponsive gave %v", err)
	}
	if rsp, err := c.Transmit(ctx, []byte{1, 3}); err != nil || !bytes.Equal(rsp, []byte{0x90, 0x00}) {
		t.Errorf("Transmit = % X, %v", rsp, err)
	}
	if d := time.Since(start); d < 5*time.Millisecond {
		t.Errorf("replay with Delay took %v, want ≥ 5ms", d)
	}
}

func TestParseErrors(t *testing.T) {
	bad := map[string]string{
		"response first":       "< 9000\n",
		"two commands":         "> 00\n> 01\n< 9000\n",
		"dangling command":     "> 00 A4\n",
		"odd hex":              "> 0\n< 9000\n",
		"bad hex":              "> ZZ\n< 9000\n",
		"empty command":        ">\n< 9000\n",
		"wildcard in response": "> 00\n< ?? 90 00\n",
		"unknown condition":    "> 00\n< !gone\n",
		"bad timing":           "> 00\n< 9000 @soon\n",
		"negative timing":      "> 00\n< 9000 @-1ms\n",
		"unknown direction":    "= 00\n",
	}
	for name, in := range bad {
		if _, err := Parse(name, strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%s: %q) = nil error, want error", name, in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("> FF CA 00 00 00\n< 04 1E 3C 8A 2D 6B 80 90 00 @161us\n> 90 AF ?? 00\n< !removed\n")
	f.Add("# only a note\n")
	f.Add("> 00\n< 9000 @1h # x\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := Parse("fuzz", strings.NewReader(in))
		if err != nil {
			if tr != nil {
				t.Fatalf("Parse error %v with non-nil transcript", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := tr.Format(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Parse("again", &buf)
		if err != nil {
			t.Fatalf("Parse(Format(t)) = %v\n%s", err, buf.String())
		}
		if len(again.Exchanges) != len(tr.Exchanges) {
			t.Fatalf("round trip changed %d exchanges to %d", len(tr.Exchanges), len(again.Exchanges))
		}
		for i, e := range tr.Exchanges {
			g := again.Exchanges[i]
			if !bytes.Equal(g.Response, e.Response) || g.Err != e.Err || g.Delay != e.Delay || len(g.Command) != len(e.Command) {
				t.Fatalf("exchange %d: round trip %+v, want %+v", i, g, e)
			}
			for j := range e.Command {
				ew := e.Wildcard != nil && e.Wildcard[j]
				gw := g.Wildcard != nil && g.Wildcard[j]
				if ew != gw || (!ew && g.Command[j] != e.Command[j]) {
					t.Fatalf("exchange %d byte %d differs after round trip", i, j)
				}
			}
		}
	})
}

// TestRecordRoundTrip records a session through a Recorder (here in front
// of a replaying card) and checks that the written transcript replays the
// same session, conditions and timings included.
func TestRecordRoundTrip(t *testing.T) {
	src, err := Parse("src", strings.NewReader("> 00 A4 04 00 00\n< 90 00\n> 00 B0 00 00 00\n< 00 03 90 00\n> 00 B0 00 02 00\n< !removed\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder("rec", NewCard(src))
	ctx := context.Background()
	for _, cmd := range []string{"00A4040000", "00B0000000", "00B0000200"} {
		rec.Transmit(ctx, hexb(t, cmd))
	}
	var buf bytes.Buffer
	if err := rec.Transcript().Format(&buf); err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again", &buf)
	if err != nil {
		t.Fatalf("recorded transcript does not parse: %v\n%s", err, buf.String())
	}
	if len(again.Exchanges) != 3 || again.Exchanges[2].Err != ErrRemoved || !bytes.Equal(again.Exchanges[1].Response, hexb(t, "00039000")) {
		t.Errorf("recorded %+v", again.Exchanges)
	}
	c := NewCard(again)
	c.Conditions = map[error]error{ErrRemoved: errMapped}
	for i, cmd := range []string{"00A4040000", "00B0000000", "00B0000200"} {
		_, err := c.Transmit(ctx, hexb(t, cmd))
		if (i == 2) != (errors.Is(err, errMapped) && errors.Is(err, ErrRemoved)) {
			t.Errorf("replay %d: %v", i, err)
		}
	}
	if err := c.Done(); err != nil {
		t.Error(err)
	}
}

var errMapped = errors.New("the caller's card-removed error")
