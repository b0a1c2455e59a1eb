// Package aescmac implements AES-CMAC (NIST SP 800-38B, RFC 4493) for
// 16-byte AES keys in the shape the SUN verify path needs: the key schedule
// and both subkeys are computed once, and Sum allocates nothing.
//
// Go's standard library keeps its CMAC internal (golang/go#52931), so nfcd
// carries this small one. It is tested differentially against
// github.com/aead/cmac.
package aescmac

import (
	"encoding/binary"
	"unsafe"
)

// Size is the length of an AES-CMAC tag in bytes.
const Size = 16

// rb is the SP 800-38B constant R_128 used to derive the subkeys.
const rb = 0x87

// MAC is an AES-CMAC key: the expanded AES key and the subkeys K1 and K2.
// The zero value is not usable; call New or Init. A MAC is a plain value:
// it can live on the stack, and where AES-NI is available neither Init nor
// Sum allocates. It is safe for concurrent use once initialised.
type MAC struct {
	blk    Block
	k1, k2 [Size]byte
}

// New returns a MAC for the 16-byte key.
func New(key *[16]byte) *MAC {
	m := new(MAC)
	m.Init(key)
	return m
}

// Init sets m up for key.
func (m *MAC) Init(key *[16]byte) {
	m.blk.Init(key)
	// SP 800-38B §6.1: L = CIPH_K(0^128); K1 = L<<1 (^Rb); K2 = K1<<1 (^Rb).
	var l [Size]byte
	m.blk.Encrypt(&l, &l)
	shift(&m.k1, &l)
	shift(&m.k2, &m.k1)
}

// Block returns the expanded AES key behind m.
func (m *MAC) Block() *Block { return &m.blk }

// shift sets dst to src<<1 in GF(2^128), xoring in Rb when the top bit
// falls off, in constant time.
func shift(dst, src *[Size]byte) {
	hi := binary.BigEndian.Uint64(src[:8])
	lo := binary.BigEndian.Uint64(src[8:])
	carry := hi >> 63
	hi = hi<<1 | lo>>63
	lo = lo<<1 ^ (rb & -carry)
	binary.BigEndian.PutUint64(dst[:8], hi)
	binary.BigEndian.PutUint64(dst[8:], lo)
}

// SumString returns the full 16-byte CMAC of the bytes of s. It lets the
// SUN verifier MAC a window of the URL string in place: Sum only reads
// msg, so viewing the string's bytes without a copy is safe. (A generic
// Sum over string|[]byte would do without unsafe, but escape analysis
// cannot see through generic shape calls and would move every caller's
// buffers to the heap.)
func (m *MAC) SumString(s string) [Size]byte {
	return m.Sum(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Sum returns the full 16-byte CMAC of msg.
func (m *MAC) Sum(msg []byte) [Size]byte {
	var x [Size]byte
	// SP 800-38B §6.2: every complete block but the last is chained as CBC.
	for len(msg) > Size {
		xor16(&x, (*[Size]byte)(msg))
		m.blk.Encrypt(&x, &x)
		msg = msg[Size:]
	}
	// The last block: complete → xor K1; partial or empty → pad 10* and xor K2.
	if len(msg) == Size {
		xor16(&x, (*[Size]byte)(msg))
		xor16(&x, &m.k1)
	} else {
		var last [Size]byte
		copy(last[:], msg)
		last[len(msg)] = 0x80
		xor16(&x, &last)
		xor16(&x, &m.k2)
	}
	m.blk.Encrypt(&x, &x)
	return x
}

// xor16 sets x ^= y, a word at a time.
func xor16(x, y *[Size]byte) {
	a := binary.LittleEndian.Uint64(x[:8]) ^ binary.LittleEndian.Uint64(y[:8])
	b := binary.LittleEndian.Uint64(x[8:]) ^ binary.LittleEndian.Uint64(y[8:])
	binary.LittleEndian.PutUint64(x[:8], a)
	binary.LittleEndian.PutUint64(x[8:], b)
}

// Truncate returns the 8-byte MACt used by NTAG 424 DNA and DESFire EV2:
// the odd-indexed bytes 1, 3, ..., 15 of the full CMAC (NT4H2421Gx §9.3.6,
// AN12196 §4.4.4: "MACt ... even-numbered bytes" counting from 1).
func Truncate(full [Size]byte) [8]byte {
	var t [8]byte
	for i := range t {
		t[i] = full[2*i+1]
	}
	return t
}
