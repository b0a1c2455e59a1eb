package verifyclient

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Accepted lengths of the triple's fields, in hex digits. NTAG 424 DNA
// hardware emits 14/6/16, but the Legitimate docs show 15- and 16-digit
// UIDs, 8-digit counters and 8- to 20-digit MACs (remote-apis.md §1.2), so
// the client accepts the whole documented range and sends what it read.
const (
	MinUIDLen, MaxUIDLen   = 14, 20
	MinCtrLen, MaxCtrLen   = 6, 8
	MinCMACLen, MaxCMACLen = 8, 32
)

// ErrBadTriple is matched (errors.Is) by every *FormatError: the triple was
// refused locally and nothing was sent.
var ErrBadTriple = errors.New("verifyclient: bad triple")

// FormatError reports a parameter that is missing, of the wrong length or
// not hex. It names the field and the rule, never the value: an unconsumed
// cmac is a bearer credential.
type FormatError struct {
	Field string // "uid", "ctr", "cmac", "tamper", "walletAddress", "email", …
	Msg   string
}

func (e *FormatError) Error() string { return "verifyclient: " + e.Field + ": " + e.Msg }

// Is makes every FormatError match ErrBadTriple.
func (e *FormatError) Is(target error) bool { return target == ErrBadTriple }

// Triple is the verification parameters of one tap, exactly as the tag
// mirrored them (hex, case preserved). Tamper is "", or the 2-character
// TagTamper status ("CC" closed, "OO" open) of tags that have one.
type Triple struct {
	UID    string `json:"uid"`
	Ctr    string `json:"ctr"`
	CMAC   string `json:"cmac"`
	Tamper string `json:"tamper,omitempty"`
}

// Validate checks the character set and the length ranges; it never
// changes the values.
func (t Triple) Validate() error {
	if err := hexField("uid", t.UID, MinUIDLen, MaxUIDLen); err != nil {
		return err
	}
	if err := hexField("ctr", t.Ctr, MinCtrLen, MaxCtrLen); err != nil {
		return err
	}
	if err := hexField("cmac", t.CMAC, MinCMACLen, MaxCMACLen); err != nil {
		return err
	}
	if t.Tamper != "" && (len(t.Tamper) != 2 || !isAlnum(t.Tamper)) {
		return &FormatError{Field: "tamper", Msg: "want 2 letters or digits"}
	}
	return nil
}

// Counter returns the counter as a number (ctr is big-endian hex).
func (t Triple) Counter() (uint32, error) {
	n, err := strconv.ParseUint(t.Ctr, 16, 32)
	if err != nil {
		return 0, &FormatError{Field: "ctr", Msg: "not a 32-bit hex number"}
	}
	return uint32(n), nil
}

// Key identifies the triple regardless of letter case, for de-duplication:
// two spellings of one triple are one verification.
func (t Triple) Key() string {
	return strings.ToUpper(t.UID) + "|" + strings.ToUpper(t.Ctr) + "|" + strings.ToUpper(t.CMAC)
}

// String names the tap without the credential: uid, ctr and the first four
// digits of the cmac.
func (t Triple) String() string {
	c := t.CMAC
	if len(c) > 4 {
		c = c[:4] + "…"
	}
	return fmt.Sprintf("uid=%s ctr=%s cmac=%s", t.UID, t.Ctr, c)
}

// TripleFromURL takes exactly the uid, ctr and cmac parameters (and tamper
// if present) from a tag URL's query and validates them. Other parameters
// are ignored and never forwarded (unlike the official JS snippet, which
// posts the whole query string). A repeated parameter is an error.
func TripleFromURL(rawURL string) (Triple, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Triple{}, &FormatError{Field: "url", Msg: "not a URL"}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Triple{}, &FormatError{Field: "url", Msg: "bad query string"}
	}
	var t Triple
	for _, f := range []struct {
		name     string
		dst      *string
		optional bool
	}{{"uid", &t.UID, false}, {"ctr", &t.Ctr, false}, {"cmac", &t.CMAC, false}, {"tamper", &t.Tamper, true}} {
		switch v := q[f.name]; {
		case len(v) > 1:
			return Triple{}, &FormatError{Field: f.name, Msg: "repeated parameter"}
		case len(v) == 1:
			*f.dst = v[0]
		case !f.optional:
			return Triple{}, &FormatError{Field: f.name, Msg: "missing parameter"}
		}
	}
	if err := t.Validate(); err != nil {
		return Triple{}, err
	}
	return t, nil
}

func hexField(field, s string, min, max int) error {
	if s == "" {
		return &FormatError{Field: field, Msg: "missing"}
	}
	if len(s) < min || len(s) > max {
		return &FormatError{Field: field, Msg: fmt.Sprintf("want %d to %d hex digits, got %d", min, max, len(s))}
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return &FormatError{Field: field, Msg: "not hex"}
		}
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
