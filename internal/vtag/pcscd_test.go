//go:build cgo || windows

package vtag_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ndef"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vtag"
)

// slot1 is vpcd's second slot. This test uses it so as not to disturb the
// pcsc package's tests on slot 0; packages that use vpcd should still not
// run in parallel (go test -p 1).
const slot1 = "Virtual PCD 00 01"

// TestPCSCD presents the virtual tag three times through a real pcscd and
// vsmartcard-vpcd, and reads it as nfcd does: select the NDEF application,
// read the NDEF file by SFI, verify the SUN, check the originality
// signature. It skips, loudly, when pcscd with vpcd is not running.
func TestPCSCD(t *testing.T) {
	// Skips loudly without pcscd (fails under CI=true) and holds the
	// machine-wide vpcd lock, so no other package taps slot 1 meanwhile.
	vpcdtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log := zaptest.NewLogger(t)
	m, err := pcsc.Open(ctx, log, pcsc.Options{Include: []string{slot1}})
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithCancel(ctx)
	mdone := make(chan error, 1)
	events := make(chan reader.Event, 64)
	go func() { mdone <- m.Run(mctx, events) }()
	defer func() {
		mcancel()
		<-mdone
	}()
	if !waitEvent(ctx, events, event.ReaderAdded, 3*time.Second) {
		t.Skipf("SKIPPING: no %q reader: pcscd with vsmartcard-vpcd is not running (%v)", slot1, vpcd.SecondSlotAddr)
	}

	layout := ntag424.Layout{Mode: ntag424.ModeEnc, MACInputStart: "picc_data"}
	keys := ntag424.Keys{FileRead: ntag424.Key{1: 0x42}, MetaRead: ntag424.Key{2: 0x24}}
	prof, err := ntag424.NewProfile(layout, keys)
	if err != nil {
		t.Fatal(err)
	}
	card, err := vtag.New(vtag.Config{URL: "https://sdm.example/tag", Layout: layout, Keys: keys, Counter: 100})
	if err != nil {
		t.Fatal(err)
	}
	const taps = 3
	rdone := make(chan error, 1)
	go func() {
		rdone <- vtag.Run(ctx, vpcd.SecondSlotAddr, card, vtag.TapOptions{Taps: taps, Dwell: 700 * time.Millisecond, Gap: 100 * time.Millisecond}, log)
	}()

	for i := 1; i <= taps; i++ {
		if !waitEvent(ctx, events, event.CardPresent, 5*time.Second) {
			t.Fatalf("tap %d: no CardPresent", i)
		}
		start := time.Now()
		c, err := m.Connect(ctx, slot1)
		if err != nil {
			t.Fatalf("tap %d: Connect = %v", i, err)
		}
		xfer := func(apdu []byte) []byte {
			rsp, err := c.Transmit(ctx, apdu)
			if err != nil || len(rsp) < 2 {
				t.Fatalf("tap %d: Transmit(% X) = % X, %v", i, apdu, rsp, err)
			}
			return rsp
		}
		if rsp := xfer([]byte{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01, 0x00}); !bytes.Equal(rsp, []byte{0x90, 0x00}) {
			t.Fatalf("tap %d: select = % X", i, rsp)
		}
		rsp := xfer([]byte{0x00, 0xB0, 0x82, 0x00, 0x00})
		msg, err := ndef.ParseFile(rsp[:len(rsp)-2])
		if err != nil {
			t.Fatalf("tap %d: ParseFile = %v", i, err)
		}
		url, err := msg.FirstURI()
		if err != nil {
			t.Fatalf("tap %d: FirstURI = %v", i, err)
		}
		res, err := prof.Verify(url)
		elapsed := time.Since(start)
		if err != nil || res.Ctr != ntag424.CounterOf(uint32(100+i)) || res.UID != vtag.DefaultUID {
			t.Errorf("tap %d: Verify(%s) = %+v, %v; want ctr %d", i, url, res, err, 100+i)
		}
		sig := xfer([]byte{0x90, 0x3C, 0x00, 0x00, 0x01, 0x00, 0x00})
		if err := ntag424.VerifyOriginality(res.UID[:], sig[:len(sig)-2]); err != nil {
			t.Errorf("tap %d: originality = %v", i, err)
		}
		uid := xfer([]byte{0xFF, 0xCA, 0x00, 0x00, 0x00})
		if !slices.Equal(uid[:len(uid)-2], vtag.DefaultUID[:]) {
			t.Errorf("tap %d: GET DATA = % X", i, uid)
		}
		c.Close()
		t.Logf("tap %d: connect → verified URL in %v: %s", i, elapsed, url)
		if !waitEvent(ctx, events, event.CardRemoved, 5*time.Second) {
			t.Fatalf("tap %d: no CardRemoved", i)
		}
	}
	if err := <-rdone; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// waitEvent waits up to d for an event of kind k on slot1.
func waitEvent(ctx context.Context, events <-chan reader.Event, k event.Kind, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Reader == slot1 && ev.Kind == k {
				return true
			}
			if ev.Kind == event.Error && errors.Is(ev.Err, pcsc.ErrNoService) {
				return false
			}
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}
