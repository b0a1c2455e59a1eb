package ndef

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Record type names of the NFC Forum well-known types this package decodes
// (NFCForum-TS-RTD_URI_1.0, NFCForum-TS-RTD_Text_1.0, NFCForum-SmartPoster_RTD_1.0).
const (
	rtdURI         = "U"
	rtdText        = "T"
	rtdSmartPoster = "Sp"
)

// uriPrefixes maps a URI identifier code to the prefix it abbreviates,
// NFCForum-TS-RTD_URI_1.0, table of URI identifier codes. Codes 0x24 to 0xFF are RFU.
var uriPrefixes = [...]string{
	0x00: "",
	0x01: "http://www.",
	0x02: "https://www.",
	0x03: "http://",
	0x04: "https://",
	0x05: "tel:",
	0x06: "mailto:",
	0x07: "ftp://anonymous:anonymous@",
	0x08: "ftp://ftp.",
	0x09: "ftps://",
	0x0A: "sftp://",
	0x0B: "smb://",
	0x0C: "nfs://",
	0x0D: "ftp://",
	0x0E: "dav://",
	0x0F: "news:",
	0x10: "telnet://",
	0x11: "imap:",
	0x12: "rtsp://",
	0x13: "urn:",
	0x14: "pop:",
	0x15: "sip:",
	0x16: "sips:",
	0x17: "tftp:",
	0x18: "btspp://",
	0x19: "btl2cap://",
	0x1A: "btgoep://",
	0x1B: "tcpobex://",
	0x1C: "irdaobex://",
	0x1D: "file://",
	0x1E: "urn:epc:id:",
	0x1F: "urn:epc:tag:",
	0x20: "urn:epc:pat:",
	0x21: "urn:epc:raw:",
	0x22: "urn:epc:",
	0x23: "urn:nfc:",
}

// IsURI reports whether r is an NFC Forum well-known URI record (TNF
// WellKnown, type "U").
func (r Record) IsURI() bool {
	return r.TNF == TNFWellKnown && string(r.Type) == rtdURI
}

// IsText reports whether r is an NFC Forum well-known text record (TNF
// WellKnown, type "T").
func (r Record) IsText() bool {
	return r.TNF == TNFWellKnown && string(r.Type) == rtdText
}

// URI returns the full URI held by a URI record: the prefix named by the
// identifier code in the first payload byte, followed by the rest of the
// payload (NFCForum-TS-RTD_URI_1.0). It returns ErrNotURI if r is not
// a URI record, and a *SyntaxError (offsets relative to the payload) for an
// empty payload, a reserved identifier code (0x24 and above) or a URI field
// that is not valid UTF-8. The string is a copy and does not alias r.
func (r Record) URI() (string, error) {
	if !r.IsURI() {
		return "", ErrNotURI
	}
	p := r.Payload
	if len(p) == 0 {
		return "", &SyntaxError{Offset: 0, Part: "URI payload", Msg: "truncated: no identifier code", Err: ErrTruncated}
	}
	code := p[0]
	if int(code) >= len(uriPrefixes) {
		return "", &SyntaxError{Offset: 0, Part: "URI payload", Msg: fmt.Sprintf("reserved identifier code 0x%02X", code)}
	}
	// URI RTD: the URI field is UTF-8 (an IRI, RFC 3987).
	if i := invalidUTF8(p[1:]); i >= 0 {
		return "", &SyntaxError{Offset: 1 + i, Part: "URI payload", Msg: "invalid UTF-8 in URI field"}
	}
	// One allocation: prefix + string(p[1:]) would copy p[1:] twice.
	var sb strings.Builder
	sb.Grow(len(uriPrefixes[code]) + len(p) - 1)
	sb.WriteString(uriPrefixes[code])
	sb.Write(p[1:])
	return sb.String(), nil
}

// NewURIRecord returns a URI record for uri, abbreviated with the longest
// identifier code whose prefix uri starts with (NFCForum-TS-RTD_URI_1.0). Prefixes match case-sensitively, so URI returns uri exactly.
// The caller should pass valid UTF-8; URI rejects anything else.
func NewURIRecord(uri string) Record {
	code := 0
	for c, prefix := range uriPrefixes {
		if len(prefix) > len(uriPrefixes[code]) && strings.HasPrefix(uri, prefix) {
			code = c
		}
	}
	rest := uri[len(uriPrefixes[code]):]
	payload := make([]byte, 1+len(rest))
	payload[0] = byte(code)
	copy(payload[1:], rest)
	return Record{TNF: TNFWellKnown, Type: []byte(rtdURI), Payload: payload}
}

// FirstURI returns the URI of the first record in m that carries one: a
// well-known URI record, or the URI record inside a well-known Smart Poster
// record. It is how nfcd reads the SUN URL from a tag's NDEF file. A
// malformed URI or Smart Poster record is an error, wrapped with the
// record's index; a message with neither gives ErrNoURI.
func (m Message) FirstURI() (string, error) {
	for i, r := range m {
		switch {
		case r.IsURI():
			u, err := r.URI()
			if err != nil {
				return "", fmt.Errorf("record %d: %w", i, err)
			}
			return u, nil
		case r.TNF == TNFWellKnown && string(r.Type) == rtdSmartPoster:
			u, err := smartPosterURI(r.Payload)
			if err != nil {
				return "", fmt.Errorf("smart poster record %d: %w", i, err)
			}
			return u, nil
		}
	}
	return "", ErrNoURI
}

// smartPosterURI returns the URI of the URI record inside a Smart Poster
// payload, which is itself an NDEF message (NFCForum-SmartPoster_RTD_1.0). It
// does not descend into nested Smart Posters.
func smartPosterURI(payload []byte) (string, error) {
	inner, err := Parse(payload)
	if err != nil {
		// Parse counts offsets from the start of its input, which here
		// is the Smart Poster payload: say so.
		if se, ok := err.(*SyntaxError); ok {
			se.Part = "smart poster payload"
		}
		return "", err
	}
	for i, r := range inner {
		if r.IsURI() {
			u, err := r.URI()
			if err != nil {
				return "", fmt.Errorf("record %d: %w", i, err)
			}
			return u, nil
		}
	}
	return "", ErrNoURI
}

// invalidUTF8 returns the index of the first byte of b that does not start
// a valid UTF-8 sequence, or -1 if b is valid UTF-8.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1 // unreachable: utf8.Valid said otherwise
}
