package ntag424

import "strconv"

// maxParams bounds how many query parameters a SUN URL may carry. A tag's
// NDEF file is at most 256 bytes, so real URLs hold a handful.
const maxParams = 32

// span is a half-open byte range [start, end) of the URL string.
type span struct{ start, end int }

func (s span) len() int { return s.end - s.start }

// query holds the parameters of a URL's query string as byte ranges into
// the URL, so that the MAC input window can be taken from the raw text.
type query struct {
	n     int
	names [maxParams]span
	vals  [maxParams]span
}

// parseQuery splits the query of rawURL (after the first '?', up to '#')
// into parameters. It decodes nothing: SUN values are hex and the MAC is
// computed over the raw ASCII. Duplicate names are a format error because a
// verifier and a browser could otherwise read different values.
func parseQuery(rawURL string, q *query) error {
	i := 0
	for i < len(rawURL) && rawURL[i] != '?' {
		if rawURL[i] == '#' {
			break
		}
		i++
	}
	if i >= len(rawURL) || rawURL[i] != '?' {
		return formatErr("url", "no query string")
	}
	q.n = 0
	pos := i + 1
	for pos <= len(rawURL) {
		end := pos
		for end < len(rawURL) && rawURL[end] != '&' && rawURL[end] != '#' {
			end++
		}
		if end > pos {
			if q.n == maxParams {
				return formatErr("url", "more than "+strconv.Itoa(maxParams)+" query parameters")
			}
			eq := pos
			for eq < end && rawURL[eq] != '=' {
				eq++
			}
			name := span{pos, eq}
			val := span{end, end}
			if eq < end {
				val.start = eq + 1
			}
			for j := 0; j < q.n; j++ {
				if rawURL[q.names[j].start:q.names[j].end] == rawURL[name.start:name.end] {
					return formatErr("url", "duplicate parameter "+quoteName(rawURL[name.start:name.end]))
				}
			}
			q.names[q.n], q.vals[q.n] = name, val
			q.n++
		}
		if end >= len(rawURL) || rawURL[end] == '#' {
			break
		}
		pos = end + 1
	}
	return nil
}

// lookup returns the index of the parameter called name, or -1.
func (q *query) lookup(rawURL, name string) int {
	for j := 0; j < q.n; j++ {
		if rawURL[q.names[j].start:q.names[j].end] == name {
			return j
		}
	}
	return -1
}

// fromHex returns the value of one upper-case hex digit and whether c is
// one. Tags mirror upper case only (NT4H2421Gx §9.3: ASCII encoding), and
// refusing lower case keeps one spelling per tap: no two URLs that differ in
// a character verify to the same UID and counter.
func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeHex decodes s into dst, which must be len(s)/2 long.
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// quoteName quotes a parameter name for an error message, cut to 32 bytes so
// that a hostile URL cannot blow up the reason string.
func quoteName(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.Quote(s)
}
