package vtag

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ndef"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// fakeVPCD is the reader side of the vpcd protocol (vsmartcard
// doc/api.txt): it accepts one card at a time, polls its ATR, powers it
// on, reads the NDEF file with two APDUs like a fast reader, then keeps
// polling until the card goes away (EOF after its half-close).
type fakeVPCD struct {
	ln net.Listener

	mu      sync.Mutex
	urls    []string // one per insertion whose read succeeded
	inserts int
	errs    []error
}

func startFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVPCD{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return f
}

func (f *fakeVPCD) addr() string { return f.ln.Addr().String() }

func (f *fakeVPCD) serve(c net.Conn) {
	defer c.Close()
	f.mu.Lock()
	f.inserts++
	f.mu.Unlock()
	fail := func(err error) {
		f.mu.Lock()
		f.errs = append(f.errs, err)
		f.mu.Unlock()
	}
	ask := func(msg []byte) ([]byte, error) {
		buf := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
		if _, err := c.Write(append(buf, msg...)); err != nil {
			return nil, err
		}
		var hdr [2]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return nil, err
		}
		rsp := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		_, err := io.ReadFull(c, rsp)
		return rsp, err
	}
	tell := func(ctrl byte) error {
		_, err := c.Write([]byte{0, 1, ctrl})
		return err
	}
	if atr, err := ask([]byte{0x04}); err != nil || !bytes.Equal(atr, h("3B8180018080")) {
		fail(errors.New("bad ATR"))
		return
	}
	if err := tell(0x01); err != nil {
		fail(err)
		return
	}
	if rsp, err := ask(h("00A4040C07D276000085010100")); err != nil || !bytes.Equal(rsp, h("9000")) {
		fail(errors.New("select failed"))
		return
	}
	rsp, err := ask(h("00B0820000"))
	if err != nil || len(rsp) < 2 {
		fail(errors.New("read failed"))
		return
	}
	if msg, err := ndef.ParseFile(rsp[:len(rsp)-2]); err == nil {
		if url, err := msg.FirstURI(); err == nil {
			f.mu.Lock()
			f.urls = append(f.urls, url)
			f.mu.Unlock()
		}
	}
	// Presence polls until the card half-closes.
	for {
		time.Sleep(5 * time.Millisecond)
		if _, err := ask([]byte{0x04}); err != nil {
			return
		}
	}
}

func TestRun(t *testing.T) {
	f := startFakeVPCD(t)
	c := newCard(t, Config{UID: testUID})
	dir := filepath.Join(t.TempDir(), "rec")
	opts := TapOptions{Taps: 3, Dwell: 60 * time.Millisecond, Gap: 5 * time.Millisecond, Record: dir}
	if err := Run(context.Background(), f.addr(), c, opts, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("Run = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inserts != 3 || len(f.urls) != 3 || len(f.errs) != 0 {
		t.Fatalf("fake vpcd saw %d insertions, %d URLs, errors %v; want 3, 3, none", f.inserts, len(f.urls), f.errs)
	}
	prof, _ := ntag424.NewProfile(layouts[0].layout, layouts[0].keys)
	for i, url := range f.urls {
		res, err := prof.Verify(url)
		if err != nil || res.Ctr != ntag424.CounterOf(uint32(i+1)) {
			t.Errorf("tap %d: Verify(%s) = ctr %s, %v; want ctr %d", i+1, url, res.Ctr, err, i+1)
		}
	}
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(filepath.Join(dir, "tap-000"+string(rune('0'+i))+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		tr := string(b)
		for _, want := range []string{"# nfcd vtag tap", "# power on\n", "> 00A4040C07D276000085010100\n< 9000\n",
			"> 00B0820000\n< 0048D101", "\n@ ", "# served " + f.urls[i-1] + "\n", "# removed\n"} {
			if !strings.Contains(tr, want) {
				t.Errorf("tap-000%d.txt lacks %q:\n%s", i, want, tr)
			}
		}
	}
}

// TestRunRemoved checks that a card pulled out mid-read (vpcd drops the
// connection) does not stop the tap driver.
func TestRunRemoved(t *testing.T) {
	f := startFakeVPCD(t)
	c := newCard(t, Config{Fault: FaultRemoved})
	opts := TapOptions{Taps: 2, Dwell: 60 * time.Millisecond}
	if err := Run(context.Background(), f.addr(), c, opts, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("Run = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inserts != 2 || len(f.urls) != 0 {
		t.Errorf("fake vpcd saw %d insertions, URLs %q; want 2, none", f.inserts, f.urls)
	}
	if c.Counter() != 2 {
		t.Errorf("Counter() = %d, want 2", c.Counter())
	}
}

// TestRunHoldAndCancel checks that Hold keeps one presentation until ctx is
// cancelled, which counts as success.
func TestRunHoldAndCancel(t *testing.T) {
	f := startFakeVPCD(t)
	c := newCard(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, f.addr(), c, TapOptions{Hold: true, Taps: 5}, zaptest.NewLogger(t)) }()
	deadline := time.Now().Add(5 * time.Second)
	for c.Taps() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // well past any dwell the test would otherwise use
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inserts != 1 || len(f.urls) != 1 {
		t.Errorf("fake vpcd saw %d insertions, %d URLs; want 1, 1", f.inserts, len(f.urls))
	}
}

func TestRunNoReader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: like pcscd without vpcd
	c := newCard(t, Config{})
	if err := Run(context.Background(), addr, c, TapOptions{Taps: 1}, zaptest.NewLogger(t)); err == nil {
		t.Fatal("Run with no reader = nil, want an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, addr, c, TapOptions{Taps: 1}, nil); err != nil {
		t.Errorf("Run with cancelled ctx = %v, want nil", err)
	}
}

func TestRecorder(t *testing.T) {
	c := newCard(t, Config{UID: testUID, Fault: FaultRemoved})
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	r := newRecorder(c, &buf, func() time.Time { now = now.Add(time.Millisecond); return now })
	r.Reset()
	r.PowerOn()
	r.Transmit(h("FFCA000000"))
	r.Transmit(h("00A4040C07D2760000850101"))
	r.Transmit(h("00B0820000"))
	r.PowerOff()
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	want := "# reset\n# power on\n" +
		"@ 1ms\n> FFCA000000\n< 041E3C8A2D6B809000\n" +
		"@ 2ms\n> 00A4040C07D2760000850101\n< 9000\n" +
		"@ 3ms\n> 00B0820000\n< \n# empty response: the tag left the field\n" +
		"# power off\n"
	if got := buf.String(); got != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
}
