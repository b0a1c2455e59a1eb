package ndef

import (
	"errors"
	"testing"
)

func TestText(t *testing.T) {
	tests := []struct {
		name    string
		payload string // hex
		text    string
		lang    string
	}{
		// NFCForum-TS-RTD_Text_1.0: status 02 (UTF-8, 2-byte
		// language code), "en", "Hello, world!".
		{"UTF-8", "02 656E 48656C6C6F2C20776F726C6421", "Hello, world!", "en"},
		{"UTF-8 empty text", "05 656E2D5553", "", "en-US"},
		{"UTF-8 non-ASCII", "02 6672 C3A974C3A9", "été", "fr"},
		{"UTF-8 RFU bit ignored", "42 656E 6869", "hi", "en"},
		{"UTF-16 BE no BOM", "82 656E 00480069", "Hi", "en"},
		{"UTF-16 BE BOM", "82 656E FEFF 00480069", "Hi", "en"},
		{"UTF-16 LE BOM", "82 656E FFFE 48006900", "Hi", "en"},
		{"UTF-16 BMP", "82 6A61 65E5672C", "日本", "ja"},
		{"UTF-16 surrogate pair BE", "82 656E D83DDE00", "😀", "en"},
		{"UTF-16 surrogate pair LE", "82 656E FFFE 3DD800DE", "😀", "en"},
		{"UTF-16 only BOM", "82 656E FEFF", "", "en"},
		{"UTF-16 empty", "82 656E", "", "en"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Record{TNF: TNFWellKnown, Type: []byte("T"), Payload: unhex(t, tc.payload)}
			text, lang, err := r.Text()
			if err != nil || text != tc.text || lang != tc.lang {
				t.Errorf("Text(%s) = %q, %q, %v, want %q, %q", tc.payload, text, lang, err, tc.text, tc.lang)
			}
		})
	}
}

func TestNewTextRecord(t *testing.T) {
	r, err := NewTextRecord("Hello, world!", "en")
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "02 656E 48656C6C6F2C20776F726C6421")
	if r.TNF != TNFWellKnown || string(r.Type) != "T" || string(r.Payload) != string(want) {
		t.Errorf("NewTextRecord = %v, want well-known T with payload %X", r, want)
	}
	enc, err := Message{r}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(enc)
	if err != nil {
		t.Fatal(err)
	}
	if text, lang, err := m[0].Text(); err != nil || text != "Hello, world!" || lang != "en" {
		t.Errorf("round trip = %q, %q, %v", text, lang, err)
	}

	for _, tc := range []struct{ text, lang string }{
		{"x", ""},
		{"x", "e n"},
		{"x", "é"},
		{"x", string(make([]byte, 64))},
		{"\xff", "en"},
	} {
		if r, err := NewTextRecord(tc.text, tc.lang); err == nil {
			t.Errorf("NewTextRecord(%q, %q) = %v, want error", tc.text, tc.lang, r)
		}
	}
	long := "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" // 63 bytes
	if r, err := NewTextRecord("x", long); err != nil || r.Payload[0] != 63 {
		t.Errorf("NewTextRecord(x, 63-byte lang) = %v, %v", r, err)
	}
}

func TestTextErrors(t *testing.T) {
	tests := []struct {
		name    string
		r       Record
		offset  int // -1: not a SyntaxError
		is      error
		payload string
	}{
		{"not text", Record{TNF: TNFWellKnown, Type: []byte("U")}, -1, ErrNotText, ""},
		{"media text", Record{TNF: TNFMedia, Type: []byte("T")}, -1, ErrNotText, ""},
		{"empty payload", Record{}, 0, ErrTruncated, ""},
		{"empty language", Record{}, 0, nil, "00 6869"},
		{"language truncated", Record{}, 1, ErrTruncated, "05 656E"},
		{"language bad byte", Record{}, 2, nil, "02 65 00"},
		{"UTF-8 invalid", Record{}, 4, nil, "02 656E 61 FF"},
		{"UTF-16 odd", Record{}, 5, ErrTruncated, "82 656E 004800"},
		{"UTF-16 lone low surrogate", Record{}, 5, nil, "82 656E 0048 DC00"},
		{"UTF-16 high surrogate at end", Record{}, 3, nil, "82 656E D83D"},
		{"UTF-16 high surrogate then BMP", Record{}, 3, nil, "82 656E D83D 0048"},
		{"UTF-16 LE lone surrogate", Record{}, 5, nil, "82 656E FFFE 3DD8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			if r.Type == nil {
				r = Record{TNF: TNFWellKnown, Type: []byte("T"), Payload: unhex(t, tc.payload)}
			}
			text, lang, err := r.Text()
			if err == nil || text != "" || lang != "" {
				t.Fatalf("Text(%v) = %q, %q, %v, want error", r, text, lang, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Text(%v) error %v, want errors.Is %v", r, err, tc.is)
			}
			var se *SyntaxError
			if tc.offset < 0 {
				if errors.As(err, &se) {
					t.Errorf("Text(%v) error %v is a SyntaxError, want plain sentinel", r, err)
				}
				return
			}
			if !errors.As(err, &se) || se.Offset != tc.offset || se.Part != "text payload" {
				t.Errorf("Text(%v) error %v, want text payload SyntaxError at offset %d", r, err, tc.offset)
			}
		})
	}
}
