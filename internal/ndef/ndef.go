package ndef

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// TNF is the 3-bit Type Name Format of a record: it says how to read the
// record's Type field.
type TNF uint8

// Type Name Format values, NFCForum-TS-NDEF_1.0 §3.2.6.
const (
	TNFEmpty       TNF = 0x00 // no type, ID or payload
	TNFWellKnown   TNF = 0x01 // NFC Forum well-known type (RTD), e.g. "U", "T"
	TNFMedia       TNF = 0x02 // media type, RFC 2046
	TNFAbsoluteURI TNF = 0x03 // absolute URI, RFC 3986
	TNFExternal    TNF = 0x04 // NFC Forum external type
	TNFUnknown     TNF = 0x05 // unknown payload type; the Type must be empty
	TNFUnchanged   TNF = 0x06 // middle or last chunk of a chunked record
	TNFReserved    TNF = 0x07 // reserved
)

var tnfNames = [...]string{
	TNFEmpty:       "Empty",
	TNFWellKnown:   "WellKnown",
	TNFMedia:       "Media",
	TNFAbsoluteURI: "AbsoluteURI",
	TNFExternal:    "External",
	TNFUnknown:     "Unknown",
	TNFUnchanged:   "Unchanged",
	TNFReserved:    "Reserved",
}

// String returns the name of t, such as "WellKnown", or "TNF(0x09)" for a
// value that does not fit in three bits.
func (t TNF) String() string {
	if int(t) < len(tnfNames) {
		return tnfNames[t]
	}
	return "TNF(0x" + strconv.FormatUint(uint64(t), 16) + ")"
}

// Record header flags, NFCForum-TS-NDEF_1.0 §3.2: the first byte
// of every record is MB ME CF SR IL TNF(3).
const (
	flagMB  = 0x80 // message begin
	flagME  = 0x40 // message end
	flagCF  = 0x20 // chunk flag
	flagSR  = 0x10 // short record: 1-byte PAYLOAD_LENGTH
	flagIL  = 0x08 // ID_LENGTH present
	tnfMask = 0x07
)

// nlenSize is the size of the NLEN field that starts a Type 4 Tag NDEF file
// (NFC Forum Type 4 Tag specification, mapping version 2.0).
const nlenSize = 2

// Record is one NDEF record. Parse leaves Type, ID and Payload aliasing its
// input; see the package documentation.
type Record struct {
	TNF     TNF
	Type    []byte
	ID      []byte
	Payload []byte
}

// String formats r for logs and test failures, e.g.
// {WellKnown type="U" id="" payload=04612E62}.
func (r Record) String() string {
	return fmt.Sprintf("{%v type=%q id=%q payload=%X}", r.TNF, r.Type, r.ID, r.Payload)
}

// Message is an NDEF message: one or more records, in order. A valid Message
// is never empty.
type Message []Record

// Sentinel errors. Parse errors are *SyntaxError values that wrap these where
// a caller may branch on the cause, so test with errors.Is.
var (
	// ErrTruncated means a length field points past the end of the input,
	// or the input ends before a record with the ME flag.
	ErrTruncated = errors.New("ndef: truncated")
	// ErrChunked means the message holds a chunked record (CF flag or TNF
	// Unchanged), which this package does not reassemble.
	ErrChunked = errors.New("ndef: chunked records not supported")
	// ErrNoMessage means there is no NDEF message at all: empty input, or
	// an NDEF file whose NLEN is zero (an initialised but empty tag).
	ErrNoMessage = errors.New("ndef: no NDEF message")
	// ErrTooLarge means a message or record is too long to encode: a
	// payload of 2^32 bytes or more, or an NDEF file message over 65535
	// bytes.
	ErrTooLarge = errors.New("ndef: too large")
	// ErrNotURI is returned by Record.URI for a record that is not a
	// well-known "U" record.
	ErrNotURI = errors.New("ndef: not a URI record")
	// ErrNotText is returned by Record.Text for a record that is not a
	// well-known "T" record.
	ErrNotText = errors.New("ndef: not a text record")
	// ErrNoURI is returned by Message.FirstURI when no record holds a URI.
	ErrNoURI = errors.New("ndef: no URI record")
)

// SyntaxError describes malformed NDEF bytes and where they are.
//
// For errors from Parse, Offset counts from the start of the message; for
// errors from ParseFile, from the start of the file (so the first record
// header is at offset 2). For errors from the payload decoders
// (Record.URI, Record.Text) Part names the payload and Offset counts from
// the start of that record's payload.
type SyntaxError struct {
	Offset int    // byte offset of the fault
	Part   string // "" for a message or file, else e.g. "URI payload"
	Msg    string // what is wrong, lowercase
	Err    error  // sentinel cause such as ErrTruncated, or nil
}

// Error prints e as "ndef: offset 5: msg", or "ndef: URI payload offset 0:
// msg" for a payload error.
func (e *SyntaxError) Error() string {
	if e.Part != "" {
		return fmt.Sprintf("ndef: %s offset %d: %s", e.Part, e.Offset, e.Msg)
	}
	return fmt.Sprintf("ndef: offset %d: %s", e.Offset, e.Msg)
}

// Unwrap returns the sentinel cause, if any.
func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxErr(off int, sentinel error, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

// Parse parses b as exactly one NDEF message (NFCForum-TS-NDEF_1.0 §3).
// Bytes after the record with the ME flag are an error. The returned
// records alias b. On error the Message is nil and the error is a
// *SyntaxError.
func Parse(b []byte) (Message, error) {
	return parse(b, 0)
}

// ParseFile parses the content of a Type 4 Tag NDEF file: a 2-byte
// big-endian NLEN followed by an NLEN-byte NDEF message. b may be longer
// than NLEN+2, because an NDEF file has a fixed size and is often read
// whole; the bytes after the message are ignored. NLEN 0 (a formatted but
// empty tag) gives an error wrapping ErrNoMessage. Error offsets count from
// the start of the file. The returned records alias b.
func ParseFile(b []byte) (Message, error) {
	if len(b) < nlenSize {
		return nil, syntaxErr(len(b), ErrTruncated, "truncated: NLEN needs %d bytes, have %d", nlenSize, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if n > len(b)-nlenSize {
		return nil, syntaxErr(0, ErrTruncated, "truncated: NLEN %d exceeds the %d bytes after it", n, len(b)-nlenSize)
	}
	return parse(b[nlenSize:nlenSize+n], nlenSize)
}

// parse parses msg, reporting offsets plus base. It makes two passes over
// the bytes: the first validates and counts the records, so the second can
// fill a Message of exactly the right size with one allocation.
func parse(msg []byte, base int) (Message, error) {
	if len(msg) == 0 {
		return nil, syntaxErr(base, ErrNoMessage, "empty NDEF message")
	}
	n, err := walk(msg, base, nil)
	if err != nil {
		return nil, err
	}
	m := make(Message, n)
	if _, err := walk(msg, base, m); err != nil {
		// Unreachable: the first walk accepted the same bytes.
		return nil, err
	}
	return m, nil
}

// walk checks the records in msg and stores them in dst if dst is not nil.
// It returns the number of records.
func walk(msg []byte, base int, dst Message) (int, error) {
	off := 0
	for i := 0; ; i++ {
		r, hdr, next, err := readRecord(msg, off, base)
		if err != nil {
			return 0, err
		}
		// NFCForum-TS-NDEF_1.0 §3.2.1: MB marks the first record and
		// only the first; ME marks the last (§3.2.2).
		if i == 0 && hdr&flagMB == 0 {
			return 0, syntaxErr(base+off, nil, "first record lacks the MB flag")
		}
		if i > 0 && hdr&flagMB != 0 {
			return 0, syntaxErr(base+off, nil, "MB flag on record %d", i)
		}
		if dst != nil {
			dst[i] = r
		}
		off = next
		if hdr&flagME != 0 {
			if off != len(msg) {
				return 0, syntaxErr(base+off, nil, "%d trailing bytes after the ME record", len(msg)-off)
			}
			return i + 1, nil
		}
		if off == len(msg) {
			return 0, syntaxErr(base+off, ErrTruncated, "truncated: message ends without an ME record")
		}
	}
}

// readRecord decodes the record whose header byte is msg[off]
// (NFCForum-TS-NDEF_1.0 §3.2). It returns the record, its header
// byte and the offset just past it.
func readRecord(msg []byte, off, base int) (r Record, hdr byte, next int, err error) {
	hdr = msg[off]
	if hdr&flagCF != 0 {
		return Record{}, 0, 0, syntaxErr(base+off, ErrChunked, "chunked record (CF flag set)")
	}
	tnf := TNF(hdr & tnfMask)
	switch tnf {
	case TNFUnchanged:
		// §3.2.6: Unchanged is only valid in the middle and last chunks.
		return Record{}, 0, 0, syntaxErr(base+off, ErrChunked, "TNF Unchanged outside a chunked record")
	case TNFReserved:
		return Record{}, 0, 0, syntaxErr(base+off, nil, "reserved TNF 0x07")
	}
	p := off + 1

	need := func(field string, n int) error {
		if n > len(msg)-p {
			return syntaxErr(base+p, ErrTruncated, "truncated: %s needs %d bytes, have %d", field, n, len(msg)-p)
		}
		return nil
	}

	if err := need("TYPE_LENGTH", 1); err != nil {
		return Record{}, 0, 0, err
	}
	typeLenOff := p
	typeLen := int(msg[p])
	p++

	payloadLenOff := p
	var payloadLen uint32
	if hdr&flagSR != 0 {
		if err := need("PAYLOAD_LENGTH", 1); err != nil {
			return Record{}, 0, 0, err
		}
		payloadLen = uint32(msg[p])
		p++
	} else {
		if err := need("PAYLOAD_LENGTH", 4); err != nil {
			return Record{}, 0, 0, err
		}
		payloadLen = binary.BigEndian.Uint32(msg[p:])
		p += 4
	}

	idLenOff := p
	idLen := 0
	if hdr&flagIL != 0 {
		if err := need("ID_LENGTH", 1); err != nil {
			return Record{}, 0, 0, err
		}
		idLen = int(msg[p])
		p++
	}

	switch tnf {
	case TNFEmpty:
		// §3.2.6: an Empty record has TYPE_LENGTH, ID_LENGTH and
		// PAYLOAD_LENGTH all zero.
		switch {
		case typeLen != 0:
			return Record{}, 0, 0, syntaxErr(base+typeLenOff, nil, "TNF Empty record with TYPE_LENGTH %d", typeLen)
		case payloadLen != 0:
			return Record{}, 0, 0, syntaxErr(base+payloadLenOff, nil, "TNF Empty record with PAYLOAD_LENGTH %d", payloadLen)
		case idLen != 0:
			return Record{}, 0, 0, syntaxErr(base+idLenOff, nil, "TNF Empty record with ID_LENGTH %d", idLen)
		}
	case TNFUnknown:
		// §3.2.6: an Unknown record has TYPE_LENGTH zero.
		if typeLen != 0 {
			return Record{}, 0, 0, syntaxErr(base+typeLenOff, nil, "TNF Unknown record with TYPE_LENGTH %d", typeLen)
		}
	}

	if err := need("TYPE", typeLen); err != nil {
		return Record{}, 0, 0, err
	}
	r.Type = msg[p : p+typeLen : p+typeLen]
	p += typeLen

	if err := need("ID", idLen); err != nil {
		return Record{}, 0, 0, err
	}
	r.ID = msg[p : p+idLen : p+idLen]
	p += idLen

	// Compare in uint64 so that a 32-bit PAYLOAD_LENGTH cannot overflow
	// int on 32-bit platforms.
	if uint64(payloadLen) > uint64(len(msg)-p) {
		return Record{}, 0, 0, syntaxErr(base+p, ErrTruncated, "truncated: PAYLOAD needs %d bytes, have %d", payloadLen, len(msg)-p)
	}
	pl := int(payloadLen)
	r.Payload = msg[p : p+pl : p+pl]
	p += pl

	r.TNF = tnf
	if typeLen == 0 {
		r.Type = nil
	}
	if idLen == 0 {
		r.ID = nil
	}
	if pl == 0 {
		r.Payload = nil
	}
	return r, hdr, p, nil
}

// MarshalBinary encodes m as an NDEF message. It implements
// encoding.BinaryMarshaler.
func (m Message) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(nil)
}

// AppendBinary appends the encoding of m to b. It sets MB on the first
// record and ME on the last, uses the short record form whenever a payload
// is shorter than 256 bytes, and sets IL only for a non-empty ID. It
// implements encoding.BinaryAppender. On error b is returned unchanged.
//
// It rejects an empty Message (ErrNoMessage), TNF Unchanged (ErrChunked),
// TNF Reserved and larger values, TNF Empty records with a type, ID or
// payload, TNF Unknown records with a type, a Type or ID over 255 bytes, and
// a payload of 2^32 bytes or more (ErrTooLarge).
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	size, err := m.encodedLen()
	if err != nil {
		return b, err
	}
	return m.appendRecords(slices.Grow(b, size)), nil
}

// encodedLen checks that m can be encoded and returns its encoded size.
func (m Message) encodedLen() (int, error) {
	if len(m) == 0 {
		return 0, ErrNoMessage
	}
	size := 0
	for i, r := range m {
		if err := r.check(); err != nil {
			return 0, fmt.Errorf("ndef: record %d: %w", i, err)
		}
		size += r.encodedLen()
	}
	return size, nil
}

// appendRecords appends the encoding of m, which passed encodedLen, to b
// (NFCForum-TS-NDEF_1.0 §3.2).
func (m Message) appendRecords(b []byte) []byte {
	for i, r := range m {
		hdr := byte(r.TNF)
		if i == 0 {
			hdr |= flagMB
		}
		if i == len(m)-1 {
			hdr |= flagME
		}
		short := len(r.Payload) <= math.MaxUint8
		if short {
			hdr |= flagSR
		}
		if len(r.ID) > 0 {
			hdr |= flagIL
		}
		b = append(b, hdr, byte(len(r.Type)))
		if short {
			b = append(b, byte(len(r.Payload)))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(len(r.Payload)))
		}
		if len(r.ID) > 0 {
			b = append(b, byte(len(r.ID)))
		}
		b = append(b, r.Type...)
		b = append(b, r.ID...)
		b = append(b, r.Payload...)
	}
	return b
}

// EncodeFile encodes m as the content of a Type 4 Tag NDEF file: NLEN and
// the message, with no padding.
func EncodeFile(m Message) ([]byte, error) {
	return AppendFile(nil, m)
}

// AppendFile appends the Type 4 Tag NDEF file encoding of m (NLEN, then the
// message) to b. A message over 65535 bytes gives ErrTooLarge. On error b is
// returned unchanged.
func AppendFile(b []byte, m Message) ([]byte, error) {
	n, err := m.encodedLen()
	if err != nil {
		return b, err
	}
	if n > math.MaxUint16 {
		return b, fmt.Errorf("ndef: NDEF message of %d bytes exceeds NLEN: %w", n, ErrTooLarge)
	}
	b = binary.BigEndian.AppendUint16(slices.Grow(b, nlenSize+n), uint16(n))
	return m.appendRecords(b), nil
}

// check reports why r cannot be encoded, or nil.
func (r Record) check() error {
	switch r.TNF {
	case TNFEmpty:
		if len(r.Type) != 0 || len(r.ID) != 0 || len(r.Payload) != 0 {
			return errors.New("TNF Empty record with a type, ID or payload")
		}
	case TNFUnknown:
		if len(r.Type) != 0 {
			return errors.New("TNF Unknown record with a type")
		}
	case TNFUnchanged:
		return ErrChunked
	case TNFWellKnown, TNFMedia, TNFAbsoluteURI, TNFExternal:
	default:
		return fmt.Errorf("invalid TNF %v", r.TNF)
	}
	if len(r.Type) > math.MaxUint8 {
		return fmt.Errorf("type of %d bytes exceeds 255", len(r.Type))
	}
	if len(r.ID) > math.MaxUint8 {
		return fmt.Errorf("ID of %d bytes exceeds 255", len(r.ID))
	}
	if uint64(len(r.Payload)) > math.MaxUint32 {
		return fmt.Errorf("payload of %d bytes: %w", len(r.Payload), ErrTooLarge)
	}
	return nil
}

// encodedLen returns the encoded size of a record that passed check.
func (r Record) encodedLen() int {
	n := 2 + len(r.Type) + len(r.ID) + len(r.Payload) // header, TYPE_LENGTH
	if len(r.Payload) <= math.MaxUint8 {
		n++
	} else {
		n += 4
	}
	if len(r.ID) > 0 {
		n++
	}
	return n
}
