package tap

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
)

// AppendWatchJSON appends e as one `nfcd watch --json` object (no
// newline). The shape of "tag" lines is a contract used by tools outside
// the project:
//
//	{"type":"tag","reader":str,"uid":HEX,"ctr":int|null,"url":str,
//	 "verdict":str,"reason":str,"apdus":int,"elapsed_ms":num}
//
// with "detail" and "profile" (in that order, before "apdus") when there
// are any. Other types carry "type", "reader" and, where they apply, "atr"
// (hex, card_present), "code" and "error" (a message, error) or "state"
// (pcsc: the PC/SC service state). The bytes are those encoding/json
// writes with HTML escaping off (json_test.go holds it to that); they are
// appended by hand because `nfcd watch` writes them between the last APDU
// and the line reaching its reader.
func (e Event) AppendWatchJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, e.Kind.WatchName())
	if e.Kind == event.TagRead {
		r := e.Read
		b = append(b, `,"reader":`...)
		b = appendString(b, e.Reader)
		b = append(b, `,"uid":`...)
		b = appendString(b, r.UIDHex())
		b = append(b, `,"ctr":`...)
		b = r.Ctr().AppendJSON(b)
		b = append(b, `,"url":`...)
		b = appendString(b, r.URL)
		b = append(b, `,"verdict":`...)
		b = appendString(b, r.Verdict)
		b = append(b, `,"reason":`...)
		b = appendString(b, r.Reason)
		if r.Detail != "" {
			b = append(b, `,"detail":`...)
			b = appendString(b, r.Detail)
		}
		if r.Profile != "" {
			b = append(b, `,"profile":`...)
			b = appendString(b, r.Profile)
		}
		b = append(b, `,"apdus":`...)
		b = strconv.AppendInt(b, int64(r.APDUs), 10)
		b = append(b, `,"elapsed_ms":`...)
		b = appendFloat(b, ms(r.Elapsed))
		return append(b, '}')
	}
	member := func(name, v string) {
		if v != "" {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = appendString(b, v)
		}
	}
	member("reader", e.Reader)
	switch e.Kind {
	case event.CardPresent:
		member("atr", ntag424.Hex(e.ATR))
	case event.Error:
		member("code", string(e.Code))
		if e.Err != nil {
			member("error", e.Err.Error())
		}
	case event.ServiceChanged:
		member("state", string(e.Service))
	}
	return append(b, '}')
}

// MarshalJSON encodes e as one `nfcd watch --json` object.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendWatchJSON(nil), nil }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// appendString appends s as a JSON string as encoding/json writes it with
// HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029
// are escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendFloat appends f as encoding/json writes a float64 (f is a finite
// duration in milliseconds).
func appendFloat(b []byte, f float64) []byte {
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		j, err := json.Marshal(f)
		if err != nil {
			return append(b, '0')
		}
		return append(b, j...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// String formats e as one readable line for `nfcd watch`.
func (e Event) String() string {
	ts := e.Time.Format("15:04:05.000")
	switch e.Kind {
	case event.TagRead:
		r := e.Read
		reason := r.Reason
		if r.Detail != "" {
			reason += " (" + r.Detail + ")"
		}
		return fmt.Sprintf("%s %-15s %s uid=%s ctr=%s reason=%s apdus=%d elapsed=%.2fms url=%s",
			ts, r.Verdict, e.Reader, r.UIDHex(), r.Ctr(), reason, r.APDUs, ms(r.Elapsed), r.URL)
	case event.CardPresent:
		return fmt.Sprintf("%s %-15s %s atr=%X", ts, "card present", e.Reader, e.ATR)
	case event.Error:
		return fmt.Sprintf("%s %-15s %s %s: %v", ts, "error", e.Reader, e.Code, e.Err)
	case event.ServiceChanged:
		return fmt.Sprintf("%s %-15s %s", ts, "pcsc service", e.Service)
	}
	return fmt.Sprintf("%s %-15s %s", ts, strings.ReplaceAll(e.Kind.WatchName(), "_", " "), e.Reader)
}
