//go:build cgo || windows

package pcsc_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/vpcd"
)

type fakeMetrics struct {
	mu      sync.Mutex
	resets  int
	readers []int
}

func (f *fakeMetrics) PCSCContextReset() { f.mu.Lock(); f.resets++; f.mu.Unlock() }
func (f *fakeMetrics) SetReaders(n int)  { f.mu.Lock(); f.readers = append(f.readers, n); f.mu.Unlock() }

// TestVPCDStateMetricsTrace: on the real pcscd the monitor reports the
// service running, counts its readers, and with TraceAPDU logs an exchange
// without the UID it carried.
func TestVPCDStateMetricsTrace(t *testing.T) {
	requirePCSCD(t)
	fm := &fakeMetrics{}
	core, logs := observer.New(zapcore.DebugLevel)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pm, err := pcsc.Open(ctx, zap.New(core), pcsc.Options{Include: []string{slot0}, Metrics: fm, TraceAPDU: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := pm.ServiceState(); st != pcsc.StateStarting {
		t.Errorf("state before Run = %v, want starting", st)
	}
	m := &monitor{Monitor: pm, events: make(chan reader.Event, 64)}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, m.events) }()
	defer func() { cancel(); <-done }()
	expectEvent(t, m, slot0, event.ReaderAdded, 3*time.Second)
	st, since := pm.ServiceState()
	if st != pcsc.StateRunning || since.IsZero() || time.Since(since) > 5*time.Second {
		t.Errorf("state = %v since %v, want running since just now", st, since)
	}
	fm.mu.Lock()
	if len(fm.readers) == 0 || fm.readers[len(fm.readers)-1] != 1 || fm.resets != 0 {
		t.Errorf("readers %v, resets %d; want 1 reader and no reset", fm.readers, fm.resets)
	}
	fm.mu.Unlock()

	insert(t, vpcd.DefaultAddr, &fakeTag{})
	expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)
	card, err := m.Connect(ctx, slot0)
	if err != nil {
		t.Fatal(err)
	}
	defer card.Close()
	if _, err := card.Transmit(ctx, []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}); err != nil {
		t.Fatal(err)
	}
	lines := logs.FilterMessage("apdu").All()
	if len(lines) != 1 {
		t.Fatalf("%d apdu lines, want 1", len(lines))
	}
	f := lines[0].ContextMap()
	if f["cmd"] != "FFCA0000" || f["sw"] != "9000" || f["rsp_len"] != int64(7) || f["reader"] != slot0 {
		t.Errorf("apdu line %v", f)
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(strings.ToUpper(s), "041E3C8A2D6B80") {
				t.Errorf("log field %s shows the UID: %s", k, s)
			}
		}
	}
}
