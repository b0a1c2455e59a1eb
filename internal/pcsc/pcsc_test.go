//go:build cgo || windows

package pcsc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ebfe/scard"

	"github.com/nfcd/nfcd/internal/event"
)

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		code scard.Error
		want error // nil: no sentinel
	}{
		{scard.ErrRemovedCard, ErrCardRemoved},
		{scard.ErrNoSmartcard, ErrNoCard},
		{scard.ErrResetCard, ErrCardReset},
		{scard.ErrUnresponsiveCard, ErrCardUnresponsive},
		{scard.ErrUnpoweredCard, ErrCardUnresponsive},
		{scard.ErrNoService, ErrNoService},
		{scard.ErrServiceStopped, ErrNoService},
		{scard.ErrCommError, ErrNoService},
		{scard.ErrInvalidHandle, ErrNoService},
		{scard.ErrNoReadersAvailable, ErrNoReaders},
		{scard.ErrUnknownReader, ErrReaderUnavailable},
		{scard.ErrReaderUnavailable, ErrReaderUnavailable},
		{scard.ErrSharingViolation, ErrReaderBusy},
		{scard.ErrUnsupportedFeature, errors.ErrUnsupported},
		{scard.ErrTimeout, nil},
		{scard.ErrCancelled, nil},
		{scard.ErrInternalError, nil},
	}
	sentinels := []error{ErrCardRemoved, ErrCardReset, ErrCardUnresponsive, ErrNoService, ErrNoReaders,
		ErrReaderUnavailable, ErrReaderBusy, errors.ErrUnsupported}
	for _, tc := range tests {
		t.Run(tc.code.Error(), func(t *testing.T) {
			err := wrap("transmit", tc.code)
			var pe *Error
			if !errors.As(err, &pe) || pe.Op != "transmit" {
				t.Fatalf("wrap(%v) = %#v, want *Error with Op transmit", tc.code, err)
			}
			if !errors.Is(err, tc.code) {
				t.Errorf("wrap(%v) does not match the scard error", tc.code)
			}
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == tc.want; got != want {
					t.Errorf("errors.Is(wrap(%v), %v) = %v, want %v", tc.code, s, got, want)
				}
			}
		})
	}
	if err := wrap("x", nil); err != nil {
		t.Errorf("wrap(nil) = %v, want nil", err)
	}
	inner := &Error{Op: "inner", Kind: ErrClosed}
	if err := wrap("outer", inner); err != inner {
		t.Errorf("wrap(*Error) = %v, want it unchanged", err)
	}
	if err := wrap("x", fmt.Errorf("connect: %w", scard.ErrNoSmartcard)); !errors.Is(err, ErrNoCard) {
		t.Errorf("wrap(wrapped scard error) = %v, want ErrNoCard", err)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "transmit", Kind: ErrCardRemoved}, "pcsc: transmit: card removed"},
		{&Error{Op: "connect", Kind: ErrNoCard, Err: errors.New("boom")}, "pcsc: connect: card removed (boom)"},
		{&Error{Op: "list readers", Err: errors.New("boom")}, "pcsc: list readers: boom"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestGuardRecoversPanics(t *testing.T) {
	err := guard("get status change", func() error {
		var states []scard.ReaderState
		_ = states[0] // what ebfe/scard does with an empty slice
		return nil
	})
	if !errors.Is(err, ErrInternal) {
		t.Fatalf("guard(panicking func) = %v, want ErrInternal", err)
	}
	if err := guard("ok", func() error { return scard.ErrRemovedCard }); !errors.Is(err, ErrCardRemoved) {
		t.Errorf("guard(ErrRemovedCard) = %v, want ErrCardRemoved", err)
	}
}

func TestCardRefusesBadInputWithoutTouchingPCSC(t *testing.T) {
	c := &Card{reader: "r"} // nil handle: any PC/SC call would panic
	ctx := context.Background()
	for _, apdu := range [][]byte{nil, {}} {
		if _, err := c.Transmit(ctx, apdu); !errors.Is(err, ErrEmptyAPDU) {
			t.Errorf("Transmit(%v) = %v, want ErrEmptyAPDU", apdu, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Transmit(cctx, []byte{0x00}); !errors.Is(err, context.Canceled) {
		t.Errorf("Transmit(cancelled ctx) = %v, want context.Canceled", err)
	}
	c.closed = true
	if _, err := c.Transmit(ctx, []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}); !errors.Is(err, ErrClosed) {
		t.Errorf("Transmit after close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close on closed card = %v, want nil", err)
	}
}

func TestStateOf(t *testing.T) {
	atr := []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}
	tests := []struct {
		name string
		ev   scard.StateFlag
		atr  []byte
		want cardState
	}{
		// Values measured with pcscd 1.9.9 and vpcd (Debian bookworm).
		{"present", 0x00050022, atr, cardState{known: true, present: true, counter: 5, atr: atr}},
		{"empty keeps stale ATR", 0x00060012, atr, cardState{known: true, counter: 6}},
		{"mute", scard.StatePresent | scard.StateMute, atr, cardState{known: true}},
		{"unavailable", scard.StateUnavailable, nil, cardState{known: true}},
		{"present in use", 0x00070122, atr, cardState{known: true, present: true, counter: 7, atr: atr}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := stateOf(tc.ev, tc.atr)
			if got.known != tc.want.known || got.present != tc.want.present || got.counter != tc.want.counter || !slices.Equal(got.atr, tc.want.atr) {
				t.Errorf("stateOf(%#x) = %+v, want %+v", tc.ev, got, tc.want)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	a := []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}
	b := []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F}
	st := func(present bool, counter uint16, atr []byte) cardState {
		return cardState{known: true, present: present, counter: counter, atr: atr}
	}
	tests := []struct {
		name       string
		prev, next cardState
		want       []event.Kind
		missed     bool
	}{
		{"first sight, empty", cardState{}, st(false, 4, nil), nil, false},
		{"first sight, card", cardState{}, st(true, 5, a), []event.Kind{event.CardPresent}, false},
		{"insert", st(false, 4, nil), st(true, 5, a), []event.Kind{event.CardPresent}, false},
		{"remove", st(true, 5, a), st(false, 6, nil), []event.Kind{event.CardRemoved}, false},
		{"in-use flap", st(true, 5, a), st(true, 5, a), nil, false},
		{"timeout redelivery", st(false, 6, nil), st(false, 6, nil), nil, false},
		{"swap hidden by counter", st(true, 5, a), st(true, 7, a), []event.Kind{event.CardRemoved, event.CardPresent}, false},
		{"swap hidden by ATR", st(true, 5, a), st(true, 5, b), []event.Kind{event.CardRemoved, event.CardPresent}, false},
		{"counter wraps", st(true, 0xFFFF, a), st(true, 1, a), []event.Kind{event.CardRemoved, event.CardPresent}, false},
		{"counter wraps, same card", st(true, 0xFFFF, a), st(true, 0xFFFF, a), nil, false},
		{"tap between polls", st(false, 6, nil), st(false, 8, nil), nil, true},
		{"unmuted", st(false, 5, nil), st(true, 5, a), []event.Kind{event.CardPresent}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, missed := transition(tc.prev, tc.next)
			if !slices.Equal(got, tc.want) || missed != tc.missed {
				t.Errorf("transition(%+v, %+v) = %v, %v; want %v, %v", tc.prev, tc.next, got, missed, tc.want, tc.missed)
			}
		})
	}
}

// TestTransitionOnePresentPerPresentation replays a flapping state
// sequence, like Windows' several touch-on states, and counts events.
func TestTransitionOnePresentPerPresentation(t *testing.T) {
	atr := []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}
	seq := []scard.StateFlag{
		0x00040012,                        // empty
		0x00050022,                        // present
		0x00050022 | scard.StateInuse,     // connected
		0x00050022 | scard.StateExclusive, // exclusive
		0x00050022 | scard.StateUnpowered, // powered down after use
		0x00050022,                        // again
		0x00060012,                        // removed
		0x00060012,                        // redelivered
		0x00070022,                        // second tap
		0x00080012,
	}
	var prev cardState
	var got []event.Kind
	for _, ev := range seq {
		next := stateOf(ev, atr)
		kinds, _ := transition(prev, next)
		got = append(got, kinds...)
		prev = next
	}
	want := []event.Kind{event.CardPresent, event.CardRemoved, event.CardPresent, event.CardRemoved}
	if !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything", true},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"Virtual PCD*", "Virtual PCD 00 00", true},
		{"virtual pcd ?? 01", "Virtual PCD 00 01", true},
		{"virtual pcd ?? 01", "Virtual PCD 00 00", false},
		{"*SAM*", "ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01", true},
		{"*[ACR1252 Dual Reader PICC]*", "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", true},
		{"*acr122*", "ACS ACR122U PICC Interface 00 00", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"Ω*", "ω reader", true},
	}
	for _, tc := range tests {
		if got := matchGlob(tc.pattern, tc.name); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestFilter(t *testing.T) {
	f := filter{include: []string{"ACS*", "Virtual*"}, exclude: []string{"*SAM*"}}
	tests := []struct {
		name string
		want bool
	}{
		{"ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", true},
		{"ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01", false},
		{"Virtual PCD 00 00", true},
		{"Identiv uTrust 3700 F CL Reader 00 00", false},
	}
	for _, tc := range tests {
		if got := f.allows(tc.name); got != tc.want {
			t.Errorf("allows(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !(filter{}).allows("anything") {
		t.Errorf("zero filter rejects a reader")
	}
}

func TestQuirksFor(t *testing.T) {
	ntag := []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}
	tests := []struct {
		reader      string
		atr         []byte
		name        string
		feedback    bool
		contactless bool
	}{
		{"ACS ACR122U PICC Interface 00 00", ntag, "ACS ACR122U", true, true},
		{"ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", ntag, "ACS ACR1252U", true, true},
		{"Identiv uTrust 3700 F CL Reader 00 00", ntag, "Identiv uTrust 3700 F", false, true},
		{"HID Global OMNIKEY 5022 Smart Card Reader 00 00", nil, "HID OMNIKEY", false, false},
		{"Virtual PCD 00 00", ntag, "vsmartcard vpcd", false, true},
		{"Some Reader 00 00", []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x68}, "", false, true},
		{"Some Reader 00 00", []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x81}, "", false, false}, // bad TCK
		{"Some Reader 00 00", []byte{0x3B, 0x02, 0x14, 0x50}, "", false, false},             // contact card
	}
	for _, tc := range tests {
		q := QuirksFor(tc.reader, tc.atr)
		if q.Name != tc.name || (q.OK != nil) != tc.feedback || (q.Fail != nil) != tc.feedback || q.Contactless != tc.contactless {
			t.Errorf("QuirksFor(%q, % X) = %+v, want name %q feedback %v contactless %v",
				tc.reader, tc.atr, q, tc.name, tc.feedback, tc.contactless)
		}
	}
	// ACR122U: silence is the "buzzer output during card detection" off
	// pseudo-APDU, LED/buzzer control is FF 00 40 with Lc 04.
	q := QuirksFor("ACS ACR122U PICC Interface 00 00", nil)
	if q.Silence == nil || q.Silence.Escape || !slices.Equal(q.Silence.Data, []byte{0xFF, 0x00, 0x52, 0x00, 0x00}) {
		t.Errorf("ACR122U Silence = %+v", q.Silence)
	}
	for _, c := range []*Command{q.OK, q.Fail} {
		if len(c.Data) != 9 || !slices.Equal(c.Data[:3], []byte{0xFF, 0x00, 0x40}) || c.Data[4] != 0x04 {
			t.Errorf("ACR122U feedback APDU % X malformed", c.Data)
		}
	}
	q = QuirksFor("ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", nil)
	if q.Silence == nil || !q.Silence.Escape || !slices.Equal(q.Silence.Data[:5], []byte{0xE0, 0x00, 0x00, 0x21, 0x01}) {
		t.Errorf("ACR1252U Silence = %+v", q.Silence)
	}
}

func TestFeedbackDisabledIsNoOp(t *testing.T) {
	m, err := Open(context.Background(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Card{reader: "ACS ACR122U PICC Interface 00 00", quirks: QuirksFor("ACS ACR122U PICC Interface 00 00", nil)}
	if err := m.Feedback(context.Background(), c, true); err != nil {
		t.Errorf("Feedback with feedback off = %v, want nil", err)
	}
	m.opts.Feedback = true
	g := &Card{reader: "Generic 00 00"}
	if err := m.Feedback(context.Background(), g, false); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Feedback on generic reader = %v, want ErrUnsupported", err)
	}
}

func TestOpenValidatesOptions(t *testing.T) {
	ctx := context.Background()
	bad := []Options{
		{Include: []string{""}},
		{Exclude: []string{"\xff"}},
		{PollInterval: -1},
		{BackoffMax: -time.Second},
	}
	for _, o := range bad {
		if _, err := Open(ctx, nil, o); err == nil {
			t.Errorf("Open(%+v) = nil error, want error", o)
		}
	}
	m, err := Open(ctx, nil, Options{BackoffMin: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if m.opts.BackoffMax != 3*time.Second || m.opts.PollInterval != DefaultPollInterval {
		t.Errorf("defaults not applied: %+v", m.opts)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	var got []time.Duration
	for range 7 {
		got = append(got, b.next())
	}
	want := []time.Duration{100e6, 200e6, 400e6, 800e6, 1e9, 1e9, 1e9}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	b.reset()
	if d := b.next(); d != 100*time.Millisecond {
		t.Errorf("after reset next() = %v, want 100ms", d)
	}
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		start := time.Now()
		if !sleep(ctx, 2*time.Second) || time.Since(start) != 2*time.Second {
			t.Errorf("sleep(2s) returned false or after %v", time.Since(start))
		}
		time.AfterFunc(300*time.Millisecond, cancel)
		start = time.Now()
		if sleep(ctx, time.Hour) || time.Since(start) != 300*time.Millisecond {
			t.Errorf("sleep cancelled at 300ms returned true or after %v", time.Since(start))
		}
	})
}
