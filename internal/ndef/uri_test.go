package ndef

import (
	"errors"
	"strings"
	"testing"
)

// TestURIPrefixes round-trips every identifier code of
// NFCForum-TS-RTD_URI_1.0 (its table of URI identifier codes).
func TestURIPrefixes(t *testing.T) {
	// The table, written out again from the specification so that a typo
	// in uriPrefixes fails here.
	want := []string{
		"", "http://www.", "https://www.", "http://", "https://", "tel:", "mailto:",
		"ftp://anonymous:anonymous@", "ftp://ftp.", "ftps://", "sftp://", "smb://", "nfs://",
		"ftp://", "dav://", "news:", "telnet://", "imap:", "rtsp://", "urn:", "pop:", "sip:",
		"sips:", "tftp:", "btspp://", "btl2cap://", "btgoep://", "tcpobex://", "irdaobex://",
		"file://", "urn:epc:id:", "urn:epc:tag:", "urn:epc:pat:", "urn:epc:raw:", "urn:epc:",
		"urn:nfc:",
	}
	if len(want) != 36 || len(uriPrefixes) != 36 {
		t.Fatalf("%d prefixes in test, %d in package, want 36", len(want), len(uriPrefixes))
	}
	for code, prefix := range want {
		if uriPrefixes[code] != prefix {
			t.Errorf("uriPrefixes[0x%02X] = %q, want %q", code, uriPrefixes[code], prefix)
		}
		// Decode a payload that uses the code.
		r := Record{TNF: TNFWellKnown, Type: []byte("U"), Payload: append([]byte{byte(code)}, "x9"...)}
		if got, err := r.URI(); err != nil || got != prefix+"x9" {
			t.Errorf("URI(code 0x%02X) = %q, %v, want %q", code, got, err, prefix+"x9")
		}
		// Encode: the encoder must pick this code, and the record must
		// survive a file round trip.
		uri := prefix + "x9"
		rec := NewURIRecord(uri)
		if rec.Payload[0] != byte(code) {
			t.Errorf("NewURIRecord(%q) code = 0x%02X, want 0x%02X", uri, rec.Payload[0], code)
		}
		f, err := EncodeFile(Message{rec})
		if err != nil {
			t.Fatalf("EncodeFile(%q) error: %v", uri, err)
		}
		m, err := ParseFile(f)
		if err != nil {
			t.Fatalf("ParseFile(%X) error: %v", f, err)
		}
		if got, err := m.FirstURI(); err != nil || got != uri {
			t.Errorf("round trip of %q = %q, %v", uri, got, err)
		}
	}
}

func TestNewURIRecord(t *testing.T) {
	tests := []struct {
		uri     string
		code    byte
		payload string // after the code
	}{
		{"https://www.nxp.com", 0x02, "nxp.com"},
		{"https://nxp.com", 0x04, "nxp.com"},
		{"http://www.", 0x01, ""},
		{"ftp://anonymous:anonymous@host/", 0x07, "host/"},
		{"ftp://ftp.host", 0x08, "host"},
		{"ftp://host", 0x0D, "host"},
		{"urn:epc:id:sgtin", 0x1E, "sgtin"},
		{"urn:epc:x", 0x22, "x"},
		{"urn:isbn:1", 0x13, "isbn:1"},
		{"HTTPS://nxp.com", 0x00, "HTTPS://nxp.com"}, // prefixes are case-sensitive
		{"", 0x00, ""},
		{"geo:1,2", 0x00, "geo:1,2"},
	}
	for _, tc := range tests {
		r := NewURIRecord(tc.uri)
		if r.TNF != TNFWellKnown || string(r.Type) != "U" {
			t.Errorf("NewURIRecord(%q) = %v, want a well-known U record", tc.uri, r)
		}
		if r.Payload[0] != tc.code || string(r.Payload[1:]) != tc.payload {
			t.Errorf("NewURIRecord(%q) payload = %X, want code 0x%02X then %q", tc.uri, r.Payload, tc.code, tc.payload)
		}
		if got, err := r.URI(); err != nil || got != tc.uri {
			t.Errorf("NewURIRecord(%q).URI() = %q, %v", tc.uri, got, err)
		}
	}
}

func TestURIErrors(t *testing.T) {
	u := func(p ...byte) Record { return Record{TNF: TNFWellKnown, Type: []byte("U"), Payload: p} }
	tests := []struct {
		name   string
		r      Record
		offset int // -1: not a SyntaxError
		is     error
	}{
		{"not well-known", Record{TNF: TNFMedia, Type: []byte("U"), Payload: []byte{0}}, -1, ErrNotURI},
		{"text record", Record{TNF: TNFWellKnown, Type: []byte("T"), Payload: []byte{0}}, -1, ErrNotURI},
		{"lowercase type", Record{TNF: TNFWellKnown, Type: []byte("u"), Payload: []byte{0}}, -1, ErrNotURI},
		{"empty payload", u(), 0, ErrTruncated},
		{"RFU code 0x24", u(0x24, 'a'), 0, nil},
		{"RFU code 0xFF", u(0xFF), 0, nil},
		{"invalid UTF-8", u(0x04, 'a', 'b', 0xFF, 'c'), 3, nil},
		{"truncated UTF-8", u(0x00, 'a', 0xE2, 0x82), 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.r.URI()
			if err == nil || got != "" {
				t.Fatalf("URI(%v) = %q, %v, want error", tc.r, got, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("URI(%v) error %v, want errors.Is %v", tc.r, err, tc.is)
			}
			var se *SyntaxError
			if tc.offset < 0 {
				if errors.As(err, &se) {
					t.Errorf("URI(%v) error %v is a SyntaxError, want plain sentinel", tc.r, err)
				}
				return
			}
			if !errors.As(err, &se) || se.Offset != tc.offset || se.Part != "URI payload" {
				t.Errorf("URI(%v) error %v, want URI payload SyntaxError at offset %d", tc.r, err, tc.offset)
			}
		})
	}
	// Every RFU code is rejected.
	for c := 0x24; c <= 0xFF; c++ {
		if got, err := u(byte(c), 'a').URI(); err == nil {
			t.Errorf("URI(code 0x%02X) = %q, want error", c, got)
		}
	}
}

func TestFirstURI(t *testing.T) {
	text, err := NewTextRecord("hello", "en")
	if err != nil {
		t.Fatal(err)
	}
	uri := NewURIRecord("https://a.example/1")
	uri2 := NewURIRecord("https://b.example/2")
	sp := func(inner Message) Record {
		p, err := inner.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return Record{TNF: TNFWellKnown, Type: []byte("Sp"), Payload: p}
	}
	bad := Record{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte{0x30}}

	tests := []struct {
		name string
		m    Message
		want string
		is   error // wanted sentinel, if an error is expected
		bad  bool  // an error is expected
	}{
		{"single", Message{uri}, "https://a.example/1", nil, false},
		{"after text", Message{text, uri, uri2}, "https://a.example/1", nil, false},
		{"first of two", Message{uri2, uri}, "https://b.example/2", nil, false},
		{"smart poster", Message{sp(Message{text, uri})}, "https://a.example/1", nil, false},
		{"smart poster before URI", Message{sp(Message{uri2}), uri}, "https://b.example/2", nil, false},
		{"absolute URI TNF is not a U record", Message{{TNF: TNFAbsoluteURI, Type: []byte("https://x")}}, "", ErrNoURI, true},
		{"text only", Message{text}, "", ErrNoURI, true},
		{"empty message", nil, "", ErrNoURI, true},
		{"smart poster without URI", Message{sp(Message{text}), uri}, "", ErrNoURI, true},
		{"smart poster malformed", Message{{TNF: TNFWellKnown, Type: []byte("Sp"), Payload: []byte{0xD1, 0x01}}}, "", ErrTruncated, true},
		{"bad URI", Message{text, bad, uri}, "", nil, true},
		{"bad URI in smart poster", Message{sp(Message{bad})}, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.FirstURI()
			if tc.bad {
				if err == nil || got != "" {
					t.Fatalf("FirstURI(%v) = %q, %v, want error", tc.m, got, err)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("FirstURI(%v) error %v, want errors.Is %v", tc.m, err, tc.is)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("FirstURI(%v) = %q, %v, want %q", tc.m, got, err, tc.want)
			}
		})
	}

	// Errors say which record failed and where.
	_, err = Message{text, bad}.FirstURI()
	if want := "record 1: ndef: URI payload offset 0: reserved identifier code 0x30"; err == nil || err.Error() != want {
		t.Errorf("FirstURI error = %v, want %q", err, want)
	}
	_, err = Message{{TNF: TNFWellKnown, Type: []byte("Sp"), Payload: []byte{0xD1, 0x01}}}.FirstURI()
	if err == nil || !strings.Contains(err.Error(), "smart poster payload offset 2") {
		t.Errorf("FirstURI(bad smart poster) error = %v, want smart poster payload offset 2", err)
	}
}
