package fleet_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/ntag424"
)

func advances() []fleet.Advance {
	return []fleet.Advance{
		{Profile: "shop", UID: []byte{4, 1, 2, 3, 4, 5, 6}, Ctr: 42, Time: time.Unix(1_800_000_000, 123456789), Tap: "3f9a1c0b22d4-7", Nonce: 1 << 62},
		{Profile: "", UID: []byte{1}, Ctr: 0, Time: time.Unix(0, 0), Nonce: 1},
		{Profile: strings.Repeat("é", fleet.MaxProfileLen/2), UID: bytes.Repeat([]byte{0xFF}, fleet.MaxUIDLen), Ctr: 1<<32 - 1, Time: time.Unix(0, 1<<63-1), Tap: strings.Repeat("t", fleet.MaxTapIDLen), Nonce: 1<<63 - 1},
	}
}

func taps() []fleet.Tap {
	ctr := ntag424.CounterOf(0xFFFFFF)
	return []fleet.Tap{
		{Kiosk: "store-1", ID: "3f9a1c0b22d4-17", Seq: 1, Time: time.Unix(1_800_000_000, 1000), Reader: "ACS ACR1252 00 00", Profile: "shop",
			UID: []byte{4, 1, 2, 3, 4, 5, 6}, Ctr: ctr, Verdict: "authentic", Reason: "ok", Detail: "", KeyID: "0123456789abcdef", Fleet: fleet.StateConfirmed},
		{Kiosk: "k", Seq: 1<<63 - 1, Time: time.Unix(0, 0), Verdict: "malformed", Reason: "bad_format", Detail: "picc_data: not hex"},
	}
}

func TestAdvanceEncoding(t *testing.T) {
	for i, a := range advances() {
		b, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("advance %d: %v", i, err)
		}
		var got fleet.Advance
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("advance %d: Unmarshal: %v", i, err)
		}
		if !got.Time.Equal(a.Time) {
			t.Errorf("advance %d: time %v, want %v", i, got.Time, a.Time)
		}
		got.Time = a.Time
		if !reflect.DeepEqual(got, a) {
			t.Errorf("advance %d: round trip %+v, want %+v", i, got, a)
		}
		// Every strict prefix and any extra byte is refused.
		for n := range len(b) {
			if err := got.UnmarshalBinary(b[:n]); !errors.Is(err, fleet.ErrBadEncoding) {
				t.Errorf("advance %d: %d of %d bytes: %v", i, n, len(b), err)
			}
		}
		if err := got.UnmarshalBinary(append(b, 0)); !errors.Is(err, fleet.ErrBadEncoding) {
			t.Errorf("advance %d: trailing byte: %v", i, err)
		}
	}
	for _, a := range []fleet.Advance{
		{UID: nil, Time: time.Now()},
		{UID: make([]byte, fleet.MaxUIDLen+1), Time: time.Now()},
		{UID: []byte{1}},                         // no time
		{UID: []byte{1}, Time: time.Unix(-1, 0)}, // before 1970
		{UID: []byte{1}, Profile: "a\x00", Time: time.Now()},
		{UID: []byte{1}, Profile: "\xff", Time: time.Now()},
		{UID: []byte{1}, Tap: strings.Repeat("t", fleet.MaxTapIDLen+1), Time: time.Now()},
	} {
		if _, err := a.MarshalBinary(); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("MarshalBinary(%+v) = %v, want ErrInvalid", a, err)
		}
	}
}

func TestTapEncoding(t *testing.T) {
	for i, tp := range taps() {
		b, err := tp.MarshalBinary()
		if err != nil {
			t.Fatalf("tap %d: %v", i, err)
		}
		var got fleet.Tap
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("tap %d: Unmarshal: %v", i, err)
		}
		got.Time = tp.Time
		if !reflect.DeepEqual(got, tp) {
			t.Errorf("tap %d: round trip %+v, want %+v", i, got, tp)
		}
		for n := range len(b) {
			if err := got.UnmarshalBinary(b[:n]); !errors.Is(err, fleet.ErrBadEncoding) {
				t.Errorf("tap %d: %d of %d bytes: %v", i, n, len(b), err)
			}
		}
	}
	// Text is cleaned and cut, never refused.
	long := fleet.Tap{Kiosk: "k", Time: time.Now(), Reader: strings.Repeat("r", 300), Detail: "bad \xff and \x00 " + strings.Repeat("é", 600)}
	b, err := long.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got fleet.Tap
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if len(got.Reader) != fleet.MaxReaderLen || len(got.Detail) > fleet.MaxDetailLen || strings.ContainsAny(got.Detail, "\x00") || !strings.HasPrefix(got.Detail, "bad \uFFFD and \uFFFD ") {
		t.Errorf("cleaned tap: reader %d bytes, detail %q", len(got.Reader), got.Detail[:20])
	}
	for _, tp := range []fleet.Tap{
		{Time: time.Now()}, // no kiosk
		{Kiosk: "k"},       // no time
		{Kiosk: "k", Time: time.Now(), Seq: 1 << 63},
		{Kiosk: "k", Time: time.Now(), UID: make([]byte, 33)},
	} {
		if _, err := tp.MarshalBinary(); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("MarshalBinary(%+v) = %v, want ErrInvalid", tp, err)
		}
	}
}

// FuzzAdvanceUnmarshal: no panic; on error the advance is untouched; on
// success the bytes re-encode identically.
func FuzzAdvanceUnmarshal(f *testing.F) {
	for _, a := range advances() {
		b, _ := a.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a := fleet.Advance{Profile: "sentinel"}
		if err := a.UnmarshalBinary(b); err != nil {
			if a.Profile != "sentinel" {
				t.Fatalf("failed Unmarshal changed the advance: %+v", a)
			}
			return
		}
		out, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", a, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gives %x", b, out)
		}
	})
}

// FuzzTapUnmarshal: as FuzzAdvanceUnmarshal, for audit rows.
func FuzzTapUnmarshal(f *testing.F) {
	for _, tp := range taps() {
		b, _ := tp.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		tp := fleet.Tap{Kiosk: "sentinel"}
		if err := tp.UnmarshalBinary(b); err != nil {
			if tp.Kiosk != "sentinel" {
				t.Fatalf("failed Unmarshal changed the tap: %+v", tp)
			}
			return
		}
		out, err := tp.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", tp, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %x gives %x", b, out)
		}
	})
}
