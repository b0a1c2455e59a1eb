package station

import (
	"io"
	"time"
)

// crockford is the ULID alphabet (Crockford's base32).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newULID returns a ULID (github.com/ulid/spec): 48 bits of Unix
// milliseconds and 80 random bits, 26 characters, sortable by time.
func newULID(t time.Time, rand io.Reader) (string, error) {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := io.ReadFull(rand, b[6:]); err != nil {
		return "", err
	}
	// 128 bits as 26 base32 digits, the first carrying 3 bits.
	var out [26]byte
	var acc uint32
	bits := 2 // 130 - 128: the first digit has two leading zero bits
	j := 0
	for _, x := range b {
		acc = acc<<8 | uint32(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = crockford[(acc>>uint(bits))&31]
			j++
		}
	}
	return string(out[:]), nil
}
