//go:build cgo || windows

package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
)

// These tests drive the real pcscd through vsmartcard's vpcd with an
// in-process virtual card. They need pcscd running with vsmartcard-vpcd
// installed (.ci/install-pcscd.sh). Without pcscd they skip, except under
// CI=true, where they fail. They use vpcd slot 0 ("Virtual PCD 00 00"), so
// test packages that use vpcd must not run in parallel (go test -p 1).

const (
	slot0 = vpcdtest.Slot0
	slot1 = vpcdtest.Slot1
)

// ntag424ATR is the PC/SC Part 3 pseudo-ATR of an NTAG 424 DNA.
var ntag424ATR = []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}

var testUID = []byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}

// requirePCSCD skips (or, under CI=true, fails) the test unless pcscd is
// reachable and vpcd listens, and holds the machine-wide vpcd lock for the
// rest of the test so that other test packages do not tap the same slots.
func requirePCSCD(t testing.TB) {
	t.Helper()
	vpcdtest.Require(t)
	sc, err := scard.EstablishContext()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pcscd not running: %v", err)
		}
		t.Skipf("pcscd not running: %v (start it with .ci/install-pcscd.sh)", err)
	}
	sc.Release()
}

// fakeTag is a virtual card answering GET DATA (UID) like an NTAG 424 DNA
// in a reader that forwards pseudo-APDUs.
type fakeTag struct {
	mu       sync.Mutex
	powerOns int
	apdus    int
	// dropAt, if >0, makes the dropAt-th APDU get an empty answer: the card
	// vanishes mid-exchange.
	dropAt int
}

func (f *fakeTag) ATR() []byte { return ntag424ATR }
func (f *fakeTag) PowerOn()    { f.mu.Lock(); f.powerOns++; f.mu.Unlock() }
func (f *fakeTag) PowerOff()   {}
func (f *fakeTag) Reset()      {}
func (f *fakeTag) Transmit(apdu []byte) []byte {
	f.mu.Lock()
	f.apdus++
	n := f.apdus
	f.mu.Unlock()
	if f.dropAt > 0 && n == f.dropAt {
		return nil
	}
	if bytes.Equal(apdu, []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}) {
		return append(slices.Clone(testUID), 0x90, 0x00)
	}
	return []byte{0x6D, 0x00}
}

// insert dials the card into addr and serves it until the returned remove
// func is called; remove waits until vpcd has dropped the connection.
func insert(t *testing.T, addr string, card vpcd.Card) (remove func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := vpcd.Dial(ctx, addr)
	if err != nil {
		cancel()
		t.Fatalf("vpcd.Dial(%s) = %v", addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- conn.Serve(ctx, card) }()
	var once sync.Once
	remove = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve() = %v, want nil after removal", err)
			}
		})
	}
	t.Cleanup(remove)
	return remove
}

// startMonitor runs a Monitor for the test's lifetime and checks that Run
// returns nil promptly after cancellation.
func startMonitor(t *testing.T, opts pcsc.Options) *monitor {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pm, err := pcsc.Open(ctx, zaptest.NewLogger(t), opts)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	m := &monitor{Monitor: pm, events: make(chan reader.Event, 64)}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, m.events) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v after cancel, want nil", err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("Run() did not return within 2s of cancel")
		}
	})
	return m
}

// monitor is a running Monitor with the channel it reports to.
type monitor struct {
	*pcsc.Monitor
	events chan reader.Event
	// services are the service states reported so far, in order.
	services []reader.Service
}

// waitEvent returns the next event for reader (any reader if empty),
// failing on a timeout. Events for other readers and the service state
// events (expectService) are skipped.
func waitEvent(t *testing.T, m *monitor, name string, timeout time.Duration) reader.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-m.events:
			if ev.Kind == event.Error {
				t.Logf("error event: %v", ev.Err)
			}
			if ev.Kind == event.ServiceChanged {
				m.services = append(m.services, ev.Service)
				continue
			}
			if name == "" || ev.Reader == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no event for %q within %v", name, timeout)
		}
	}
}

func expectEvent(t *testing.T, m *monitor, name string, kind event.Kind, timeout time.Duration) reader.Event {
	t.Helper()
	ev := waitEvent(t, m, name, timeout)
	if ev.Kind != kind {
		t.Fatalf("event for %q = %v (%v), want %v", name, ev.Kind, ev.Err, kind)
	}
	return ev
}

// expectQuiet fails if any event for reader arrives within d.
func expectQuiet(t *testing.T, m *monitor, name string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-m.events:
			if ev.Reader == name {
				t.Fatalf("unexpected event %v for %q", ev.Kind, name)
			}
		case <-deadline:
			return
		}
	}
}

func TestVPCDEndToEnd(t *testing.T) {
	requirePCSCD(t)
	m := startMonitor(t, pcsc.Options{Include: []string{"Virtual PCD*"}})
	expectEvent(t, m, slot0, event.ReaderAdded, 3*time.Second)
	// The service was reported running before the reader was added.
	if len(m.services) == 0 || m.services[0] != reader.ServiceRunning || m.Service() != reader.ServiceRunning {
		t.Errorf("service states %v, Service() %q; want running first", m.services, m.Service())
	}

	tag := &fakeTag{}
	inserted := time.Now()
	remove := insert(t, vpcd.DefaultAddr, tag)
	ev := expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)
	t.Logf("insert → CardPresent: %v", time.Since(inserted))
	if !bytes.Equal(ev.ATR, ntag424ATR) {
		t.Errorf("CardPresent ATR = % X, want % X", ev.ATR, ntag424ATR)
	}
	if got := m.Readers(); !slices.ContainsFunc(got, func(r pcsc.ReaderInfo) bool {
		return r.Name == slot0 && r.CardPresent && bytes.Equal(r.ATR, ntag424ATR)
	}) {
		t.Errorf("Readers() = %+v, want %q with card", got, slot0)
	}

	ctx := context.Background()
	card, err := m.Connect(ctx, slot0)
	if err != nil {
		t.Fatalf("Connect(%q) = %v", slot0, err)
	}
	if !bytes.Equal(card.ATR(), ntag424ATR) {
		t.Errorf("Card.ATR() = % X, want % X", card.ATR(), ntag424ATR)
	}
	if q := card.Quirks(); !q.ForwardsPseudoAPDUs || !q.Contactless {
		t.Errorf("Card.Quirks() = %+v, want vpcd + contactless", q)
	}
	getUID := []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}
	rsp, err := card.Transmit(ctx, getUID)
	if want := append(slices.Clone(testUID), 0x90, 0x00); err != nil || !bytes.Equal(rsp, want) {
		t.Fatalf("Transmit(FF CA 00 00 00) = % X, %v; want % X", rsp, err, want)
	}
	if _, err := card.Transmit(ctx, nil); !errors.Is(err, pcsc.ErrEmptyAPDU) {
		t.Errorf("Transmit(nil) = %v, want ErrEmptyAPDU", err)
	}

	// Round trip over 500 APDUs, reported as p50/p99.
	const n = 500
	rtts := make([]time.Duration, n)
	for i := range rtts {
		start := time.Now()
		if _, err := card.Transmit(ctx, getUID); err != nil {
			t.Fatalf("Transmit #%d = %v", i, err)
		}
		rtts[i] = time.Since(start)
	}
	slices.Sort(rtts)
	t.Logf("Transmit RTT over %d APDUs: min %v p50 %v p90 %v p99 %v max %v",
		n, rtts[0], rtts[n/2], rtts[n*90/100], rtts[n*99/100], rtts[n-1])

	// Connecting and talking to the card must not produce events.
	if err := card.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := card.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := card.Transmit(ctx, getUID); !errors.Is(err, pcsc.ErrClosed) {
		t.Errorf("Transmit after Close = %v, want ErrClosed", err)
	}
	expectQuiet(t, m, slot0, 1200*time.Millisecond)

	removed := time.Now()
	remove()
	t.Logf("half-close → vpcd dropped the connection: %v", time.Since(removed))
	expectEvent(t, m, slot0, event.CardRemoved, 3*time.Second)
	t.Logf("remove → CardRemoved: %v", time.Since(removed))
	if _, err := m.Connect(ctx, slot0); !errors.Is(err, pcsc.ErrNoCard) {
		t.Errorf("Connect on empty reader = %v, want ErrNoCard", err)
	}
}

// TestVPCDTapsAreCountedOnce inserts and removes the card several times
// and requires exactly one CardPresent and one CardRemoved per tap, in
// order.
func TestVPCDTapsAreCountedOnce(t *testing.T) {
	requirePCSCD(t)
	m := startMonitor(t, pcsc.Options{Include: []string{slot0}})
	expectEvent(t, m, slot0, event.ReaderAdded, 3*time.Second)
	const taps = 4
	for i := range taps {
		remove := insert(t, vpcd.DefaultAddr, &fakeTag{})
		expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)
		// Dwell ≥ 500 ms, as a real tap would (notes Addendum).
		expectQuiet(t, m, slot0, 600*time.Millisecond)
		remove()
		expectEvent(t, m, slot0, event.CardRemoved, 3*time.Second)
		t.Logf("tap %d ok", i+1)
	}
	expectQuiet(t, m, slot0, 900*time.Millisecond)
}

// TestVPCDCardPulledMidAPDU checks both ways a card can vanish under a
// connected handle: an empty response (what pcsc-lite reports when the
// card goes during SCardTransmit) and removal between APDUs.
func TestVPCDCardPulledMidAPDU(t *testing.T) {
	requirePCSCD(t)
	m := startMonitor(t, pcsc.Options{Include: []string{slot0}})
	expectEvent(t, m, slot0, event.ReaderAdded, 3*time.Second)
	ctx := context.Background()
	getUID := []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}

	t.Run("empty response", func(t *testing.T) {
		remove := insert(t, vpcd.DefaultAddr, &fakeTag{dropAt: 2})
		expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)
		card, err := m.Connect(ctx, slot0)
		if err != nil {
			t.Fatalf("Connect = %v", err)
		}
		defer card.Close()
		if _, err := card.Transmit(ctx, getUID); err != nil {
			t.Fatalf("first Transmit = %v", err)
		}
		_, err = card.Transmit(ctx, getUID)
		if !errors.Is(err, pcsc.ErrCardRemoved) {
			t.Fatalf("Transmit with card vanishing = %v, want ErrCardRemoved", err)
		}
		t.Logf("mid-APDU loss: %v", err)
		remove()
		expectEvent(t, m, slot0, event.CardRemoved, 3*time.Second)
	})

	t.Run("removed between APDUs", func(t *testing.T) {
		remove := insert(t, vpcd.DefaultAddr, &fakeTag{})
		expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)
		card, err := m.Connect(ctx, slot0)
		if err != nil {
			t.Fatalf("Connect = %v", err)
		}
		defer card.Close()
		remove()
		expectEvent(t, m, slot0, event.CardRemoved, 3*time.Second)
		_, err = card.Transmit(ctx, getUID)
		if !errors.Is(err, pcsc.ErrCardRemoved) {
			t.Fatalf("Transmit after removal = %v, want ErrCardRemoved", err)
		}
		if !errors.Is(err, scard.ErrRemovedCard) {
			t.Errorf("Transmit after removal = %v, want it to wrap scard.ErrRemovedCard", err)
		}
	})
}

// TestVPCDFilterAndPolling watches only slot 1 without PnP and checks that
// slot 0 is never reported.
func TestVPCDFilterAndPolling(t *testing.T) {
	requirePCSCD(t)
	m := startMonitor(t, pcsc.Options{
		Include:      []string{"virtual pcd *"},
		Exclude:      []string{"*00 00"},
		ForcePolling: true,
		PollInterval: 200 * time.Millisecond,
	})
	ev := expectEvent(t, m, "", event.ReaderAdded, 3*time.Second)
	if ev.Reader != slot1 {
		t.Fatalf("ReaderAdded(%q), want only %q", ev.Reader, slot1)
	}
	insert(t, vpcd.DefaultAddr, &fakeTag{}) // slot 0: filtered out
	remove := insert(t, vpcd.SecondSlotAddr, &fakeTag{})
	ev = expectEvent(t, m, "", event.CardPresent, 3*time.Second)
	if ev.Reader != slot1 {
		t.Fatalf("CardPresent(%q), want %q", ev.Reader, slot1)
	}
	remove()
	ev = expectEvent(t, m, "", event.CardRemoved, 3*time.Second)
	if ev.Reader != slot1 {
		t.Fatalf("CardRemoved(%q), want %q", ev.Reader, slot1)
	}
	if got := m.Readers(); len(got) != 1 || got[0].Name != slot1 || got[0].CardPresent {
		t.Errorf("Readers() = %+v, want only empty %q", got, slot1)
	}
}

// TestVPCDCancelIsPrompt checks that cancelling Run unblocks every
// SCardGetStatusChange at once (WaitTimeout is long on purpose).
func TestVPCDCancelIsPrompt(t *testing.T) {
	requirePCSCD(t)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	pm, err := pcsc.Open(ctx, zaptest.NewLogger(t), pcsc.Options{WaitTimeout: time.Minute, PollInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m := &monitor{Monitor: pm, events: make(chan reader.Event, 64)}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, m.events) }()
	expectEvent(t, m, "", event.ReaderAdded, 3*time.Second)
	time.Sleep(200 * time.Millisecond) // let the reader goroutines block
	start := time.Now()
	cancel()
	drainDone := make(chan struct{})
	go func() { // Run blocks on a full channel, never on an unread one
		for {
			select {
			case <-m.events:
			case <-drainDone:
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
		t.Logf("Run returned %v after cancel", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatalf("Run() still blocked 2s after cancel")
	}
	close(drainDone)
	if err := m.Run(context.Background(), m.events); err == nil {
		t.Errorf("second Run() = nil, want error")
	}
	// Every goroutine Run started has exited.
	for deadline := time.Now().Add(2 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkTransmit measures one GET DATA round trip through pcscd and
// vpcd to the in-process card.
func BenchmarkTransmit(b *testing.B) {
	requirePCSCD(b)
	ctx := context.Background()
	conn, err := vpcd.Dial(ctx, vpcd.DefaultAddr)
	if err != nil {
		b.Skipf("vpcd not listening: %v", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- conn.Serve(sctx, &fakeTag{}) }()
	defer func() { cancel(); <-done }()
	m, err := pcsc.Open(ctx, nil, pcsc.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var card *pcsc.Card
	for deadline := time.Now().Add(3 * time.Second); ; {
		card, err = m.Connect(ctx, slot0)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("Connect = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer card.Close()
	apdu := []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := card.Transmit(ctx, apdu); err != nil {
			b.Fatal(err)
		}
	}
}
