package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/nfcd/nfcd/internal/ntag424"
)

// The binary forms below are what a durable Queue stores (the daemon's
// bbolt outbox). Decoding accepts only what encoding produces, so a stored
// item decodes and re-encodes to the same bytes.

// Format bytes: the first byte of each encoding.
const (
	advanceFormat = 1
	tapFormat     = 1
)

const (
	tapHasCtr = 1 << 0
	tapHasUID = 1 << 1
)

// ErrBadEncoding is returned by UnmarshalBinary for bytes that AppendBinary
// did not produce.
var ErrBadEncoding = errors.New("fleet: malformed queue item")

var be = binary.BigEndian

// AppendBinary appends the binary form of a to b:
//
//	format (1) | uvarint len | Profile | uvarint len | UID | Ctr (uint32 BE)
//	| Time (unix nanoseconds, int64 BE) | Nonce (uint64 BE) | uvarint len | Tap
func (a Advance) AppendBinary(b []byte) ([]byte, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	if a.Time.IsZero() {
		return nil, fmt.Errorf("%w: advance without a time", ErrInvalid)
	}
	b = append(b, advanceFormat)
	b = appendField(b, a.Profile)
	b = appendField(b, string(a.UID))
	b = be.AppendUint32(b, a.Ctr)
	b = be.AppendUint64(b, uint64(a.Time.UnixNano()))
	b = be.AppendUint64(b, a.Nonce)
	return appendField(b, a.Tap), nil
}

// MarshalBinary returns the binary form of a (see AppendBinary).
func (a Advance) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

// UnmarshalBinary decodes what AppendBinary produced. On error a is
// unchanged.
func (a *Advance) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if d.byte() != advanceFormat {
		return ErrBadEncoding
	}
	var v Advance
	v.Profile = d.text(MaxProfileLen)
	v.UID = d.bytes(MaxUIDLen)
	v.Ctr = d.uint32()
	v.Time = d.time()
	v.Nonce = d.uint64()
	v.Tap = d.text(MaxTapIDLen)
	if !d.done() || len(v.UID) == 0 {
		return ErrBadEncoding
	}
	*a = v
	return nil
}

// AppendBinary appends the binary form of t to b:
//
//	format (1) | flags (1: counter, 2: UID) | Seq (uint64 BE)
//	| Time (unix nanoseconds, int64 BE) | [Ctr (uint32 BE)]
//	| uvarint len | text, for Kiosk, Reader, Profile, [UID], Verdict,
//	  Reason, Detail, KeyID, Fleet, ID
//
// Text fields longer than their limits are cut as shipping would cut them.
func (t Tap) AppendBinary(b []byte) ([]byte, error) {
	kiosk := t.Kiosk
	if err := t.prepare(kiosk); err != nil {
		return nil, err
	}
	if kiosk == "" || !validText(kiosk, MaxKioskLen) {
		return nil, fmt.Errorf("%w: kiosk", ErrInvalid)
	}
	var flags byte
	if t.Ctr.Valid {
		flags |= tapHasCtr
	}
	if len(t.UID) > 0 {
		flags |= tapHasUID
	}
	b = append(b, tapFormat, flags)
	b = be.AppendUint64(b, t.Seq)
	b = be.AppendUint64(b, uint64(t.Time.UnixNano()))
	if t.Ctr.Valid {
		b = be.AppendUint32(b, t.Ctr.Value)
	}
	b = appendField(b, t.Kiosk)
	b = appendField(b, t.Reader)
	b = appendField(b, t.Profile)
	if len(t.UID) > 0 {
		b = appendField(b, string(t.UID))
	}
	for _, s := range [...]string{t.Verdict, t.Reason, t.Detail, t.KeyID, t.Fleet, t.ID} {
		b = appendField(b, s)
	}
	return b, nil
}

// MarshalBinary returns the binary form of t (see AppendBinary).
func (t Tap) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// UnmarshalBinary decodes what AppendBinary produced. On error t is
// unchanged.
func (t *Tap) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if d.byte() != tapFormat {
		return ErrBadEncoding
	}
	flags := d.byte()
	if flags&^(tapHasCtr|tapHasUID) != 0 {
		return ErrBadEncoding
	}
	var v Tap
	v.Seq = d.uint64()
	v.Time = d.time()
	if flags&tapHasCtr != 0 {
		v.Ctr = ntag424.CounterOf(d.uint32())
	}
	v.Kiosk = d.text(MaxKioskLen)
	v.Reader = d.text(MaxReaderLen)
	v.Profile = d.text(MaxProfileLen)
	if flags&tapHasUID != 0 {
		if v.UID = d.bytes(MaxUIDLen); len(v.UID) == 0 {
			return ErrBadEncoding
		}
	}
	v.Verdict = d.text(MaxVerdictLen)
	v.Reason = d.text(MaxReasonLen)
	v.Detail = d.text(MaxDetailLen)
	v.KeyID = d.text(MaxKeyIDLen)
	v.Fleet = d.text(MaxStateLen)
	v.ID = d.text(MaxTapIDLen)
	if !d.done() || v.Seq > math.MaxInt64 || v.Kiosk == "" {
		return ErrBadEncoding
	}
	*t = v
	return nil
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads fields; after the first error every read returns the zero
// value and done reports false.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || n < 0 || n > len(d.b) {
		d.bad = true
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) byte() byte {
	if p := d.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	if p := d.take(4); p != nil {
		return be.Uint32(p)
	}
	return 0
}

func (d *decoder) uint64() uint64 {
	if p := d.take(8); p != nil {
		return be.Uint64(p)
	}
	return 0
}

func (d *decoder) time() time.Time {
	n := d.uint64()
	if n > math.MaxInt64 {
		d.bad = true
		return time.Time{}
	}
	return time.Unix(0, int64(n))
}

// field reads a uvarint length (minimally encoded, at most max) and that
// many bytes.
func (d *decoder) field(max int) []byte {
	if d.bad {
		return nil
	}
	n, m := binary.Uvarint(d.b)
	if m <= 0 || n > uint64(max) || m != uvarintLen(n) {
		d.bad = true
		return nil
	}
	d.b = d.b[m:]
	return d.take(int(n))
}

// text reads a field that must be text as cleanText leaves it.
func (d *decoder) text(max int) string {
	p := d.field(max)
	if !utf8.Valid(p) || containsNUL(p) {
		d.bad = true
		return ""
	}
	return string(p)
}

func (d *decoder) bytes(max int) []byte {
	p := d.field(max)
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) done() bool { return !d.bad && len(d.b) == 0 }

func containsNUL(p []byte) bool {
	for _, c := range p {
		if c == 0 {
			return true
		}
	}
	return false
}

func uvarintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}
