package ntag424

import (
	"strconv"
	"strings"
)

// maxParams bounds how many query parameters a SUN URL may carry. A tag's
// NDEF file is at most 256 bytes, so real URLs hold a handful.
const maxParams = 16

// MaxURLLen is the longest URL Verify accepts. A tag's NDEF file holds at
// most 256 bytes; the bound keeps offsets small and hostile input cheap.
const MaxURLLen = 4096

// span is a half-open byte range [start, end) of the URL string.
type span struct{ start, end int }

func (s span) len() int { return s.end - s.start }

// query holds the parameters of a URL's query string as byte ranges into
// the URL, so that the MAC input window can be taken from the raw text.
// Offsets are uint16 (MaxURLLen) to keep the per-verify state small.
type query struct {
	n     int
	names [maxParams][2]uint16
	vals  [maxParams][2]uint16
	keys  [maxParams]uint64 // nameKey of each name
}

// nameKey packs a parameter name's length and first 7 bytes into a word,
// so that names are matched by one integer comparison; names longer than 7
// bytes compare equal keys as strings too (see sameName).
func nameKey(name string) uint64 {
	k := uint64(len(name)) << 56
	n := min(len(name), 7)
	for i := 0; i < n; i++ {
		k |= uint64(name[i]) << (8 * i)
	}
	return k
}

// sameName reports whether name, whose nameKey is key, is want (with key
// wantKey).
func sameName(key, wantKey uint64, name, want string) bool {
	return key == wantKey && (len(want) <= 7 || name == want)
}

func (q *query) name(rawURL string, i int) string { return rawURL[q.names[i][0]:q.names[i][1]] }
func (q *query) val(i int) span                   { return span{int(q.vals[i][0]), int(q.vals[i][1])} }

// parseQuery splits the query of rawURL (after the first '?', up to '#')
// into parameters. It decodes nothing: SUN values are hex and the MAC is
// computed over the raw ASCII. Duplicate names are a format error because a
// verifier and a browser could otherwise read different values.
func parseQuery(rawURL string, q *query) error {
	if len(rawURL) > MaxURLLen {
		return formatErr("url", "longer than "+strconv.Itoa(MaxURLLen)+" bytes")
	}
	end := len(rawURL)
	if h := strings.IndexByte(rawURL, '#'); h >= 0 {
		end = h
	}
	i := strings.IndexByte(rawURL[:end], '?')
	if i < 0 {
		return formatErr("url", "no query string")
	}
	q.n = 0
	for pos := i + 1; pos <= end; {
		amp := strings.IndexByte(rawURL[pos:end], '&')
		segEnd := end
		if amp >= 0 {
			segEnd = pos + amp
		}
		if segEnd > pos {
			if q.n == maxParams {
				return formatErr("url", "more than "+strconv.Itoa(maxParams)+" query parameters")
			}
			// Names are short: a plain loop finds '=' faster than a call.
			nameEnd, valStart := segEnd, segEnd
			for k := pos; k < segEnd; k++ {
				if rawURL[k] == '=' {
					nameEnd, valStart = k, k+1
					break
				}
			}
			name := rawURL[pos:nameEnd]
			key := nameKey(name)
			for j := 0; j < q.n; j++ {
				if sameName(key, q.keys[j], name, q.name(rawURL, j)) {
					return formatErr("url", "duplicate parameter "+quoteName(name))
				}
			}
			q.keys[q.n] = key
			q.names[q.n] = [2]uint16{uint16(pos), uint16(nameEnd)}
			q.vals[q.n] = [2]uint16{uint16(valStart), uint16(segEnd)}
			q.n++
		}
		pos = segEnd + 1
	}
	return nil
}

// lookup returns the index of the parameter called name, or -1.
func (q *query) lookup(rawURL, name string) int {
	for j := 0; j < q.n; j++ {
		if q.name(rawURL, j) == name {
			return j
		}
	}
	return -1
}

// hexVal maps an upper-case hex digit to its value and every other byte to
// 0xFF. Tags mirror upper case only (NT4H2421Gx §9.3: ASCII encoding), and
// refusing lower case keeps one spelling per tap: no two URLs that differ in
// a character verify to the same UID and counter.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i, c := range "0123456789ABCDEF" {
		t[c] = byte(i)
	}
	return t
}()

// decodeHex decodes s into dst, which must be len(s)/2 long.
func decodeHex(dst []byte, s string) bool {
	s = s[:2*len(dst)]
	var bad byte
	for i := range dst {
		pair := s[2*i : 2*i+2] // one bounds check for both digits
		hi, lo := hexVal[pair[0]], hexVal[pair[1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0x0F
	}
	return bad&0xF0 == 0
}

// quoteName quotes a parameter name for an error message, cut to 32 bytes so
// that a hostile URL cannot blow up the reason string.
func quoteName(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.Quote(s)
}
