package ndef

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// fuzzSeeds are NDEF messages (no NLEN): the AN12196 record, every record
// kind the table tests use, and a few near misses.
var fuzzSeeds = []string{
	"D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D303030303030303030303030303030303030303030303030303030303030303026633D30303030303030303030303030303030",
	"D00000",
	"D101045504612E62",
	"C1010000000155 00",
	"D90100005 5",
	"DA0A0301746578742F706C61696E31616263",
	"D40901 6E78702E636F6D3A78FF",
	"D50002ABCD",
	"9101035402656E 5101015500",
	"9101015500 150000 500000",
	"D1010F5402656E48656C6C6F2C20776F726C6421",
	"D1010982656EFEFF00480069",
	"D102085370D1010455046 12E62",
	"B101015500",
	"D60000",
	"D70000",
	"D1010155",
	"C101FFFFFFFF5500",
}

func fuzzSeedBytes(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, s := range fuzzSeeds {
		b, err := hex.DecodeString(string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
		if err != nil {
			f.Fatalf("bad seed %q: %v", s, err)
		}
		out = append(out, b)
	}
	return out
}

// checkMessage checks the invariants of a successfully parsed message: it
// re-encodes, the encoding parses back to an equal message, and the payload
// decoders neither panic nor break their own round trips.
func checkMessage(t *testing.T, m Message) {
	t.Helper()
	if len(m) == 0 {
		t.Fatal("parse succeeded with no records")
	}
	enc, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary(%v) error: %v", m, err)
	}
	m2, err := Parse(enc)
	if err != nil {
		t.Fatalf("Parse(MarshalBinary(%v)) = %X: %v", m, enc, err)
	}
	if !equalMessages(m, m2) {
		t.Fatalf("round trip changed the message:\n%v\n%v", m, m2)
	}
	// The encoder is canonical: a second encoding is identical.
	if enc2, err := m2.MarshalBinary(); err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("re-encoding differs: %X, %v, want %X", enc2, err, enc)
	}
	file, err := EncodeFile(m)
	if len(enc) > 0xFFFF {
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("EncodeFile of %d bytes error %v, want ErrTooLarge", len(enc), err)
		}
	} else {
		m3, err := ParseFile(file)
		if err != nil || !equalMessages(m, m3) {
			t.Fatalf("ParseFile(EncodeFile(%v)) = %v, %v", m, m3, err)
		}
	}

	for _, r := range m {
		if u, err := r.URI(); err != nil {
			if u != "" {
				t.Fatalf("URI() = %q with error %v", u, err)
			}
		} else if got, err := NewURIRecord(u).URI(); err != nil || got != u {
			t.Fatalf("NewURIRecord(%q).URI() = %q, %v", u, got, err)
		}
		if text, lang, err := r.Text(); err != nil {
			if text != "" || lang != "" {
				t.Fatalf("Text() = %q, %q with error %v", text, lang, err)
			}
		} else {
			nr, err := NewTextRecord(text, lang)
			if err != nil {
				t.Fatalf("NewTextRecord(%q, %q) error: %v", text, lang, err)
			}
			if t2, l2, err := nr.Text(); err != nil || t2 != text || l2 != lang {
				t.Fatalf("text round trip of %q, %q = %q, %q, %v", text, lang, t2, l2, err)
			}
		}
	}
	if u, err := m.FirstURI(); err != nil && u != "" {
		t.Fatalf("FirstURI() = %q with error %v", u, err)
	}
}

func checkParseError(t *testing.T, in []byte, m Message, err error) {
	t.Helper()
	if m != nil {
		t.Fatalf("parse(%X) = %v with error %v, want nil", in, m, err)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("parse(%X) error %v (%T), want *SyntaxError", in, err, err)
	}
	if se.Offset < 0 || se.Offset > len(in) {
		t.Fatalf("parse(%X) error %v: offset outside the input", in, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, b := range fuzzSeedBytes(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Parse(in)
		if err != nil {
			checkParseError(t, in, m, err)
			return
		}
		checkMessage(t, m)
	})
}

func FuzzParseFile(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xFF, 0xFF, 0xD0, 0, 0})
	for _, b := range fuzzSeedBytes(f) {
		file := append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
		f.Add(file)
		f.Add(append(file, 0, 0, 0, 0)) // fixed-size file with padding
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseFile(in)
		if err != nil {
			checkParseError(t, in, m, err)
			return
		}
		checkMessage(t, m)
		// ParseFile and Parse agree on the message inside NLEN.
		n := int(in[0])<<8 | int(in[1])
		m2, err := Parse(in[2 : 2+n])
		if err != nil || !equalMessages(m, m2) {
			t.Fatalf("Parse(file body) = %v, %v, want %v", m2, err, m)
		}
	})
}
