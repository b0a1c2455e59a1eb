package ndef

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Text record status byte, NFCForum-TS-RTD_Text_1.0, status byte:
// bit 7 selects UTF-16 (1) or UTF-8 (0), bit 6 is RFU, bits 5..0 hold the
// length of the language code.
const (
	textUTF16   = 0x80
	textLangLen = 0x3F
)

// Text returns the text and language code of a text record
// (NFCForum-TS-RTD_Text_1.0). UTF-16 text is big-endian unless it
// starts with a byte order mark; the BOM is not part of the
// returned text. Both strings are copies and do not alias r.
//
// It returns ErrNotText if r is not a text record, and a *SyntaxError
// (offsets relative to the payload) for a missing status byte, an empty or
// truncated language code, a language code with characters outside
// [A-Za-z0-9-] (IANA language tags, RFC 5646), UTF-8 that is not valid, or
// UTF-16 of odd length or with an unpaired surrogate. The RFU bit 6 of the
// status byte is ignored.
func (r Record) Text() (text, lang string, err error) {
	if !r.IsText() {
		return "", "", ErrNotText
	}
	p := r.Payload
	if len(p) == 0 {
		return "", "", textErr(0, ErrTruncated, "truncated: no status byte")
	}
	status := p[0]
	n := int(status & textLangLen)
	if n == 0 {
		return "", "", textErr(0, nil, "empty language code")
	}
	if n > len(p)-1 {
		return "", "", textErr(1, ErrTruncated, "truncated: language code needs %d bytes, have %d", n, len(p)-1)
	}
	if i := badLangByte(p[1 : 1+n]); i >= 0 {
		return "", "", textErr(1+i, nil, "invalid byte 0x%02X in language code", p[1+i])
	}
	start := 1 + n
	t := p[start:]
	if status&textUTF16 == 0 {
		if i := invalidUTF8(t); i >= 0 {
			return "", "", textErr(start+i, nil, "invalid UTF-8 in text")
		}
		return string(t), string(p[1 : 1+n]), nil
	}
	s, err := decodeUTF16(t, start)
	if err != nil {
		return "", "", err
	}
	return s, string(p[1 : 1+n]), nil
}

// NewTextRecord returns a UTF-8 text record holding text in language lang,
// an IANA language tag such as "en" or "en-US" of 1 to 63 bytes
// (NFCForum-TS-RTD_Text_1.0, status byte). text must be valid UTF-8.
func NewTextRecord(text, lang string) (Record, error) {
	if len(lang) == 0 || len(lang) > textLangLen {
		return Record{}, fmt.Errorf("ndef: language code of %d bytes, want 1 to %d", len(lang), textLangLen)
	}
	if badLangByte([]byte(lang)) >= 0 {
		return Record{}, fmt.Errorf("ndef: invalid language code %q", lang)
	}
	if !utf8.ValidString(text) {
		return Record{}, errors.New("ndef: text is not valid UTF-8")
	}
	payload := make([]byte, 0, 1+len(lang)+len(text))
	payload = append(payload, byte(len(lang)))
	payload = append(payload, lang...)
	payload = append(payload, text...)
	return Record{TNF: TNFWellKnown, Type: []byte(rtdText), Payload: payload}, nil
}

// decodeUTF16 decodes t, which starts at payload offset base. Without a
// byte order mark it is big-endian, as NFCForum-TS-RTD_Text_1.0 requires.
func decodeUTF16(t []byte, base int) (string, error) {
	if len(t)%2 != 0 {
		return "", textErr(base+len(t)-1, ErrTruncated, "truncated: odd-length UTF-16 text")
	}
	bigEndian := true
	i := 0
	if len(t) >= 2 {
		switch {
		case t[0] == 0xFE && t[1] == 0xFF:
			i = 2
		case t[0] == 0xFF && t[1] == 0xFE:
			bigEndian = false
			i = 2
		}
	}
	unit := func(j int) rune {
		if bigEndian {
			return rune(t[j])<<8 | rune(t[j+1])
		}
		return rune(t[j+1])<<8 | rune(t[j])
	}
	out := make([]byte, 0, len(t)-i) // ASCII-heavy text shrinks by half; grows if needed
	for i < len(t) {
		u := unit(i)
		switch {
		case utf16.IsSurrogate(u):
			// A high surrogate (D800-DBFF) must be followed by a
			// low one (DC00-DFFF).
			if u >= 0xDC00 || i+4 > len(t) {
				return "", textErr(base+i, nil, "unpaired UTF-16 surrogate 0x%04X", u)
			}
			r := utf16.DecodeRune(u, unit(i+2))
			if r == utf8.RuneError {
				return "", textErr(base+i, nil, "unpaired UTF-16 surrogate 0x%04X", u)
			}
			out = utf8.AppendRune(out, r)
			i += 4
		default:
			out = utf8.AppendRune(out, u)
			i += 2
		}
	}
	return string(out), nil
}

// badLangByte returns the index of the first byte of lang outside
// [A-Za-z0-9-], or -1.
func badLangByte(lang []byte) int {
	for i, c := range lang {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		default:
			return i
		}
	}
	return -1
}

func textErr(off int, sentinel error, format string, args ...any) error {
	return &SyntaxError{Offset: off, Part: "text payload", Msg: fmt.Sprintf(format, args...), Err: sentinel}
}
