// Package batch verifies SUN URLs given as JSON Lines, one result line per
// input line in the same order. It implements the contract of
// `nfcd verify --batch`, which tools outside the project rely on:
//
// Input, one object per line (unknown fields are ignored):
//
//	{"id": "...", "url": "...",
//	 "layout": {"mode": "plain"|"enc"|"encfile", "crypto": "aes"|"lrp",
//	            "mac_input_start": "cmac", "names": {"uid": ..., "cmac": ...},
//	            "tt_param": false, "tt_in_enc_offset": 0, "ctr": true},
//	 "keys": {"sdm_file_read_key": "HEX", "sdm_meta_read_key": "HEX"}}
//
// Output, one object per line:
//
//	{"id": "...", "valid": true, "reason": "ok", "uid": "HEX", "ctr": 61,
//	 "tt_status": "CC", "file_data": "HEX", "picc_data_tag": "C7"}
//	{"id": "...", "valid": false, "reason": "bad_format", "detail": "uid: want 14 hex digits, got 13"}
//
// reason is a code of internal/verdict (ok, bad_mac, bad_format,
// bad_picc_data, unknown_profile, bad_input); detail, when present, says
// more for humans. uid and ctr appear only when valid (ctr is null for tags
// that mirror no counter); tt_status, file_data and picc_data_tag only when
// present. A line that is not a valid request yields {"id": ..., "valid":
// false, "reason": "bad_input", "detail": "..."} and processing goes on.
//
// Keys missing from a line are the factory all-zero keys, as for `nfcd
// verify URL`. A line without a layout is verified with the Verifier's
// profiles (`nfcd verify --batch --profile FILE`), if it has any.
package batch

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/verdict"
)

// MaxLine is the longest input line accepted, in bytes. Longer lines are
// answered with bad_input and skipped.
const MaxLine = 1 << 20

// request is one input line.
type request struct {
	ID     *string             `json:"id"`
	URL    *string             `json:"url"`
	Layout *ntag424.LayoutSpec `json:"layout"`
	Keys   struct {
		FileRead string `json:"sdm_file_read_key"`
		MetaRead string `json:"sdm_meta_read_key"`
	} `json:"keys"`
}

// cacheSize bounds the compiled-profile cache. Batches usually repeat a few
// layouts and keys; compiling costs two AES key schedules per line otherwise.
const cacheSize = 64

// Verifier processes batch lines. It keeps a small cache of compiled
// profiles keyed by layout and keys; it is not safe for concurrent use.
type Verifier struct {
	// Profiles verify the lines that carry no layout, matched by URL
	// prefix; without profiles such a line is bad_input.
	Profiles profile.Set

	cache map[string]*profile.Profile
	out   []byte
}

// NewVerifier returns a Verifier with an empty cache and no profiles.
func NewVerifier() *Verifier {
	return &Verifier{cache: make(map[string]*profile.Profile)}
}

// Run reads JSON Lines from r and writes one result line per input line to
// w. It returns only on a read or write error; bad lines are answered.
func (v *Verifier) Run(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		line, tooLong, err := readLine(br)
		if len(line) > 0 || tooLong || (err == nil) {
			if tooLong {
				v.out = appendBadInput(v.out[:0], nil, "line longer than "+strconv.Itoa(MaxLine)+" bytes")
			} else {
				v.out = v.Line(v.out[:0], line)
			}
			if _, werr := bw.Write(v.out); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			bw.Flush()
			return err
		}
	}
}

// readLine returns the next line without its terminator. A line over
// MaxLine is drained and reported as tooLong.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLine {
			tooLong = true
			buf = buf[:0]
		} else if !tooLong {
			if buf == nil && err == nil {
				return trimEOL(chunk), false, nil // common case: no copy
			}
			buf = append(buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(buf) == 0 && !tooLong {
			return nil, false, io.EOF
		}
		return trimEOL(buf), tooLong, err
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// Line verifies one input line and appends the result line (with its
// newline) to dst.
func (v *Verifier) Line(dst, line []byte) []byte {
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		var id *string
		return appendBadInput(dst, id, jsonErr(err))
	}
	switch {
	case req.URL == nil:
		return appendBadInput(dst, req.ID, "missing url")
	case req.Layout == nil && len(v.Profiles) == 0:
		return appendBadInput(dst, req.ID, "missing layout")
	case req.Layout == nil:
		return appendOutcome(dst, req.ID, v.Profiles.Verify(*req.URL))
	}
	p, err := v.profile(req.Layout, req.Keys.FileRead, req.Keys.MetaRead)
	if err != nil {
		var fe *ntag424.FormatError
		if errors.As(err, &fe) && fe.Field != "mode" && fe.Field != "crypto" && fe.Field != "ctr" {
			// A layout the verifier understands but that cannot be trusted,
			// such as a TagTamper status outside the MAC window.
			return appendOutcome(dst, req.ID, profile.Outcome{Verdict: verdict.Malformed, Reason: verdict.ReasonBadFormat, Detail: fe.Field + ": " + fe.Msg})
		}
		return appendBadInput(dst, req.ID, errDetail(err))
	}
	return appendOutcome(dst, req.ID, p.Verify(*req.URL))
}

// errDetail is the text of a layout or key error without the package
// prefix. Key errors never carry key material.
func errDetail(err error) string {
	var fe *ntag424.FormatError
	var ke *profile.KeyError
	switch {
	case errors.As(err, &fe):
		return fe.Field + ": " + fe.Msg
	case errors.As(err, &ke):
		return ke.Field + ": " + ke.Msg
	}
	return err.Error()
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "invalid JSON at offset " + strconv.FormatInt(se.Offset, 10)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field " + strconv.Quote(te.Field) + ": wrong type"
	}
	return "invalid JSON"
}

// profile returns the compiled profile for a layout and keys, from the cache
// when it has been seen before.
func (v *Verifier) profile(l *ntag424.LayoutSpec, fileKey, metaKey string) (*profile.Profile, error) {
	key := cacheKey(l, fileKey, metaKey)
	if p, ok := v.cache[key]; ok {
		return p, nil
	}
	spec := profile.Spec{LayoutSpec: *l, FileReadKey: fileKey, MetaReadKey: metaKey}
	if spec.Mode == "" {
		return nil, &ntag424.FormatError{Field: "mode", Msg: "missing"}
	}
	p, err := spec.Compile(true)
	if err != nil {
		return nil, err
	}
	if len(v.cache) >= cacheSize {
		clear(v.cache)
	}
	v.cache[key] = &p
	return &p, nil
}

func cacheKey(l *ntag424.LayoutSpec, fileKey, metaKey string) string {
	b := make([]byte, 0, 128)
	b = append(b, l.Mode...)
	b = append(b, 0)
	b = append(b, l.Crypto...)
	b = append(b, 0)
	b = append(b, l.MACInputStart...)
	for _, s := range []string{l.Names.UID, l.Names.Ctr, l.Names.CMAC, l.Names.PICCData, l.Names.Enc, l.Names.TT} {
		b = append(b, 0)
		b = append(b, s...)
	}
	b = strconv.AppendBool(append(b, 0), l.TTParam)
	if l.TTInEncOffset != nil {
		b = strconv.AppendInt(append(b, 0, 'o'), int64(*l.TTInEncOffset), 10)
	}
	if l.Ctr != nil {
		b = strconv.AppendBool(append(b, 0, 'c'), *l.Ctr)
	}
	b = append(append(b, 0), fileKey...)
	b = append(append(b, 0), metaKey...)
	return string(b)
}

func appendID(dst []byte, id *string) []byte {
	dst = append(dst, `{"id":`...)
	if id == nil {
		return append(dst, "null"...)
	}
	return verdict.AppendJSONString(dst, *id)
}

func appendBadInput(dst []byte, id *string, why string) []byte {
	return appendOutcome(dst, id, profile.Outcome{Reason: verdict.ReasonBadInput, Detail: why})
}

// appendOutcome appends the result line of one request.
func appendOutcome(dst []byte, id *string, o profile.Outcome) []byte {
	dst = appendID(dst, id)
	if !o.Authentic() {
		dst = append(dst, `,"valid":false,"reason":`...)
		dst = verdict.AppendJSONString(dst, o.Reason)
		if o.Detail != "" {
			dst = append(dst, `,"detail":`...)
			dst = verdict.AppendJSONString(dst, o.Detail)
		}
		return append(dst, "}\n"...)
	}
	r := &o.Result
	dst = append(dst, `,"valid":true,"reason":"ok","uid":"`...)
	dst = ntag424.AppendHex(dst, r.UID[:])
	dst = append(dst, `","ctr":`...)
	dst = r.Ctr.AppendJSON(dst)
	if r.HasTT {
		dst = append(dst, `,"tt_status":`...)
		dst = verdict.AppendJSONString(dst, string(r.TT[:]))
	}
	if fd := r.FileData(); fd != nil {
		dst = append(dst, `,"file_data":"`...)
		dst = append(ntag424.AppendHex(dst, fd), '"')
	}
	if r.HasPICCDataTag {
		dst = append(dst, `,"picc_data_tag":"`...)
		dst = append(ntag424.AppendHex(dst, []byte{r.PICCDataTag}), '"')
	}
	return append(dst, "}\n"...)
}
