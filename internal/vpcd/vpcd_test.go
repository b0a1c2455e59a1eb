package vpcd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// fakeVPCD is the reader side of the protocol, played by the test: it
// accepts one card connection and lets the test exchange frames.
type fakeVPCD struct {
	t  *testing.T
	ln net.Listener
	c  net.Conn
	r  *bufio.Reader
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVPCD{t: t, ln: ln}
}

func (f *fakeVPCD) accept() {
	f.t.Helper()
	c, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	f.c, f.r = c, bufio.NewReader(c)
}

func (f *fakeVPCD) send(payload ...byte) {
	f.t.Helper()
	b, err := appendFrame(nil, payload)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.c.Write(b); err != nil {
		f.t.Fatal(err)
	}
}

// recv reads one frame; io.EOF when the card half-closed.
func (f *fakeVPCD) recv() ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(f.r, b)
	return b, err
}

func (f *fakeVPCD) expect(want []byte) {
	f.t.Helper()
	got, err := f.recv()
	if err != nil || !bytes.Equal(got, want) {
		f.t.Fatalf("card sent % X, %v; want % X", got, err, want)
	}
}

// recordingCard answers GET DATA and records notifications.
type recordingCard struct {
	mu     sync.Mutex
	log    []string
	atr    []byte
	vanish bool // answer APDUs with nothing
}

func (c *recordingCard) note(s string) { c.mu.Lock(); c.log = append(c.log, s); c.mu.Unlock() }
func (c *recordingCard) ATR() []byte   { c.note("atr"); return c.atr }
func (c *recordingCard) PowerOn()      { c.note("on") }
func (c *recordingCard) PowerOff()     { c.note("off") }
func (c *recordingCard) Reset()        { c.note("reset") }
func (c *recordingCard) Transmit(apdu []byte) []byte {
	c.note("apdu")
	if c.vanish {
		return nil
	}
	if bytes.Equal(apdu, []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}) {
		return []byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80, 0x90, 0x00}
	}
	return []byte{0x6D, 0x00}
}

func (c *recordingCard) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

var ntagATR = []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}

// serve dials f and runs Serve in the background.
func serve(t *testing.T, f *fakeVPCD, card Card) (cancel func(), result <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	conn, err := Dial(ctx, f.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	f.accept()
	done := make(chan error, 1)
	go func() { done <- conn.Serve(ctx, card) }()
	return cancel, done
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

func TestServeProtocol(t *testing.T) {
	f := newFakeVPCD(t)
	card := &recordingCard{atr: ntagATR}
	cancel, done := serve(t, f, card)

	f.send(ctrlGetATR)
	f.expect(ntagATR)
	f.send(ctrlPowerOn)
	f.send(ctrlReset)
	f.send(0x03) // unknown control byte: ignored, no answer
	f.send(0xFF, 0xCA, 0x00, 0x00, 0x00)
	f.expect([]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80, 0x90, 0x00})
	f.send(0x00, 0xA4) // any multi-byte payload is an APDU
	f.expect([]byte{0x6D, 0x00})
	f.send(ctrlPowerOff)
	f.send(ctrlGetATR)
	f.expect(ntagATR) // everything before has been handled

	// Removal: the card half-closes and answers nothing more, but keeps
	// reading until the reader closes.
	cancel()
	if _, err := f.recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after removal vpcd read %v, want EOF (half-close)", err)
	}
	f.send(ctrlGetATR) // the presence poll still reaches the card...
	f.c.Close()        // ...and vpcd gives up on it
	if err := wait(t, done); err != nil {
		t.Errorf("Serve() after removal = %v, want nil", err)
	}
	want := []string{"atr", "on", "reset", "apdu", "apdu", "off", "atr"}
	if got := card.events(); !equalStrings(got, want) {
		t.Errorf("card saw %v, want %v", got, want)
	}
}

func TestServeCardVanishes(t *testing.T) {
	tests := []struct {
		name string
		card *recordingCard
		poke []byte
	}{
		{"empty response", &recordingCard{atr: ntagATR, vanish: true}, []byte{0x00, 0xB0, 0x00, 0x00, 0x00}},
		{"empty ATR", &recordingCard{}, []byte{ctrlGetATR}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVPCD(t)
			_, done := serve(t, f, tc.card)
			f.send(tc.poke...)
			// No frame at all (an empty one hangs Debian's vpcd 3.3): EOF.
			if b, err := f.recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("vpcd read % X, %v; want EOF", b, err)
			}
			f.c.Close()
			if err := wait(t, done); err != nil {
				t.Errorf("Serve() = %v, want nil", err)
			}
		})
	}
}

func TestServeErrors(t *testing.T) {
	t.Run("closed by reader", func(t *testing.T) {
		f := newFakeVPCD(t)
		_, done := serve(t, f, &recordingCard{atr: ntagATR})
		f.send(ctrlGetATR)
		f.expect(ntagATR)
		f.c.Close()
		if err := wait(t, done); !errors.Is(err, ErrClosedByReader) {
			t.Errorf("Serve() = %v, want ErrClosedByReader", err)
		}
	})
	t.Run("zero-length frame", func(t *testing.T) {
		f := newFakeVPCD(t)
		_, done := serve(t, f, &recordingCard{atr: ntagATR})
		f.c.Write([]byte{0x00, 0x00})
		if err := wait(t, done); !errors.Is(err, ErrMalformedFrame) {
			t.Errorf("Serve() = %v, want ErrMalformedFrame", err)
		}
	})
	t.Run("truncated frame", func(t *testing.T) {
		f := newFakeVPCD(t)
		_, done := serve(t, f, &recordingCard{atr: ntagATR})
		f.c.Write([]byte{0x00, 0x05, 0xFF, 0xCA})
		f.c.Close()
		if err := wait(t, done); !errors.Is(err, ErrClosedByReader) {
			t.Errorf("Serve() = %v, want ErrClosedByReader", err)
		}
	})
	t.Run("serve twice", func(t *testing.T) {
		f := newFakeVPCD(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn, err := Dial(ctx, f.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		f.accept()
		go conn.Serve(ctx, &recordingCard{atr: ntagATR})
		f.send(ctrlGetATR)
		f.expect(ntagATR) // first Serve is running
		if err := conn.Serve(ctx, &recordingCard{}); err == nil {
			t.Errorf("second Serve() = nil, want error")
		}
	})
	t.Run("dial refused", func(t *testing.T) {
		f := newFakeVPCD(t)
		addr := f.ln.Addr().String()
		f.ln.Close()
		if _, err := Dial(context.Background(), addr); err == nil {
			t.Errorf("Dial(closed port) = nil error")
		}
	})
}

func TestAppendFrame(t *testing.T) {
	b, err := appendFrame([]byte{0xAA}, []byte{1, 2, 3})
	if err != nil || !bytes.Equal(b, []byte{0xAA, 0x00, 0x03, 1, 2, 3}) {
		t.Errorf("appendFrame = % X, %v", b, err)
	}
	if _, err := appendFrame(nil, make([]byte, MaxFrame+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("appendFrame(64 KiB) = %v, want ErrFrameTooLarge", err)
	}
	if b, err := appendFrame(nil, make([]byte, MaxFrame)); err != nil || len(b) != MaxFrame+2 {
		t.Errorf("appendFrame(MaxFrame) = %d bytes, %v", len(b), err)
	}
}

// FuzzReadFrame feeds arbitrary bytes from "vpcd" to the frame reader: it
// must never panic, never return an empty frame, and never data with an
// error.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x04, 0x00, 0x05, 0xFF, 0xCA, 0x00, 0x00, 0x00})
	f.Add([]byte{0x00, 0x00})
	f.Add([]byte{0xFF, 0xFF, 0x01})
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00, 0x01, 0x02})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &Conn{r: bufio.NewReader(bytes.NewReader(in))}
		for {
			msg, err := c.readFrame()
			if err != nil {
				if msg != nil {
					t.Fatalf("readFrame error %v with data", err)
				}
				return
			}
			if len(msg) == 0 {
				t.Fatal("readFrame returned an empty frame")
			}
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
