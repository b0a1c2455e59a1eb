package ntag424

import (
	"errors"
	"sync/atomic"
)

// urlShape is the layout of the last URL that verified under a profile:
// where each parameter value sits. A batch of tags mirrors URLs of one
// shape, so the next tap usually differs from the last only inside the
// values, and checking that costs a few comparisons instead of a parse.
type urlShape struct {
	url   string
	ps    params
	gaps  []span // the text outside every parameter value, in order
	plain []span // values that are not decoded as hex (TagTamper, foreign parameters)
}

// match reports whether rawURL parses exactly like s.url: the same length,
// the same text outside the values, and no '&' or '#' inside the values
// that are not hex-decoded (hex decoding rejects them in the others).
func (s *urlShape) match(rawURL string) bool {
	if len(rawURL) != len(s.url) {
		return false
	}
	for _, g := range s.gaps {
		if rawURL[g.start:g.end] != s.url[g.start:g.end] {
			return false
		}
	}
	for _, v := range s.plain {
		for i := v.start; i < v.end; i++ {
			if c := rawURL[i]; c == '&' || c == '#' {
				return false
			}
		}
	}
	return true
}

// newShape records the shape of rawURL, parsed into q and ps.
func newShape(rawURL string, q *query, ps params, mode Mode) *urlShape {
	s := &urlShape{url: rawURL, ps: ps}
	hex := []span{ps.cmac}
	switch mode {
	case ModePlain:
		hex = append(hex, ps.uid, ps.ctr)
	case ModeEnc:
		hex = append(hex, ps.picc)
	case ModeEncFile:
		hex = append(hex, ps.picc, ps.enc)
	}
	prev := 0
	for j := 0; j < q.n; j++ {
		v := q.val(j)
		s.gaps = append(s.gaps, span{prev, v.start})
		prev = v.end
		isHex := false
		for _, h := range hex {
			isHex = isHex || (h == v && h.len() > 0)
		}
		if !isHex {
			s.plain = append(s.plain, v)
		}
	}
	s.gaps = append(s.gaps, span{prev, len(rawURL)})
	return s
}

// shapeCache holds a profile's last URL shape.
type shapeCache struct{ p atomic.Pointer[urlShape] }

// verifyShaped checks rawURL, through the cached shape when it matches. A format
// error on the fast path is recomputed by the full parse, so that errors
// and reasons are exactly those of the parser.
func (p *Profile) verifyShaped(rawURL string, w *work, r *Result) error {
	if s := p.shape.p.Load(); s != nil && s.match(rawURL) {
		err := p.verifyAt(rawURL, s.ps, w, r)
		if err == nil || !isFormatError(err) {
			return err
		}
		*r = Result{}
		w.enc = nil
	}
	return p.verifyParsed(rawURL, w, r)
}

// verifyParsed is the full path: parse, verify, and remember the shape.
// It is a separate function so that the query (a few hundred bytes) is
// zeroed only when a URL is parsed.
func (p *Profile) verifyParsed(rawURL string, w *work, r *Result) error {
	var q query
	ps, err := p.locate(rawURL, &q)
	if err != nil {
		return err
	}
	if err := p.verifyAt(rawURL, ps, w, r); err != nil {
		return err
	}
	p.shape.p.Store(newShape(rawURL, &q, ps, p.layout.Mode))
	return nil
}

// isFormatError reports whether err is a *FormatError. (A separate function
// keeps errors.As's target off the success path's heap.)
func isFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}
