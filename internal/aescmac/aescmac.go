// Package aescmac implements AES-CMAC (NIST SP 800-38B, RFC 4493) for
// 16-byte AES keys in the shape the SUN verify path needs: the key schedule
// and both subkeys are computed once, and Sum allocates nothing.
//
// Go's standard library keeps its CMAC internal (golang/go#52931), so nfcd
// carries this small one. It is tested differentially against
// github.com/aead/cmac.
package aescmac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// Size is the length of an AES-CMAC tag in bytes.
const Size = aes.BlockSize

// rb is the SP 800-38B constant R_128 used to derive the subkeys.
const rb = 0x87

// MAC is an AES-CMAC key: the expanded AES key and the subkeys K1 and K2.
// The zero value is not usable; call New or Init. A MAC is safe for
// concurrent use once initialised, because Sum keeps its state on the stack.
type MAC struct {
	block  cipher.Block
	k1, k2 [Size]byte
}

// New returns a MAC for the 16-byte key. It panics if key is not 16 bytes:
// keys are fixed-size arrays everywhere in nfcd, so a wrong length is a
// programmer error.
func New(key *[16]byte) *MAC {
	m := new(MAC)
	m.Init(key)
	return m
}

// Init sets m up for key. It lets a caller keep a MAC on the stack; the only
// allocation is the AES key schedule inside crypto/aes.
func (m *MAC) Init(key *[16]byte) {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		panic("aescmac: " + err.Error()) // unreachable: the key is 16 bytes
	}
	m.InitBlock(b)
}

// InitBlock sets m up with an already expanded AES-128 block cipher.
func (m *MAC) InitBlock(b cipher.Block) {
	m.block = b
	// SP 800-38B §6.1: L = CIPH_K(0^128); K1 = L<<1 (^Rb); K2 = K1<<1 (^Rb).
	// L passes through m.k2 so that no buffer escapes through the interface
	// call (cipher.Block hides the concrete type from escape analysis).
	clear(m.k1[:])
	b.Encrypt(m.k2[:], m.k1[:])
	shift(&m.k1, &m.k2)
	shift(&m.k2, &m.k1)
}

// Block returns the expanded AES cipher behind m.
func (m *MAC) Block() cipher.Block { return m.block }

// shift sets dst to src<<1 in GF(2^128), xoring in Rb when the top bit falls off.
func shift(dst, src *[Size]byte) {
	var carry byte
	for i := Size - 1; i >= 0; i-- {
		b := src[i]
		dst[i] = b<<1 | carry
		carry = b >> 7
	}
	// Constant time: mask is 0xFF when the shifted-out bit was set.
	dst[Size-1] ^= rb & -carry
}

// Sum returns the full 16-byte CMAC of msg. It allocates its 16-byte
// state, because buffers handed to a cipher.Block method escape; hot paths
// use SumTo with state they own.
func (m *MAC) Sum(msg []byte) [Size]byte {
	x := new([Size]byte)
	sum(m, x, msg)
	return *x
}

// SumTo writes the CMAC of msg to x without allocating.
func (m *MAC) SumTo(x *[Size]byte, msg []byte) { sum(m, x, msg) }

// SumStringTo writes the CMAC of the bytes of s to x without allocating. It
// lets the SUN verifier MAC a window of the URL string in place.
func (m *MAC) SumStringTo(x *[Size]byte, s string) { sum(m, x, s) }

func sum[T string | []byte](m *MAC, x *[Size]byte, msg T) {
	var blk [Size]byte
	clear(x[:])
	// SP 800-38B §6.2: every complete block but the last is chained as CBC.
	for len(msg) > Size {
		copy(blk[:], msg[:Size])
		subtle.XORBytes(x[:], x[:], blk[:])
		m.block.Encrypt(x[:], x[:])
		msg = msg[Size:]
	}
	// The last block: complete → xor K1; partial or empty → pad 10* and xor K2.
	n := copy(blk[:], msg)
	k := &m.k1
	if n < Size {
		blk[n] = 0x80
		clear(blk[n+1:])
		k = &m.k2
	}
	subtle.XORBytes(x[:], x[:], blk[:])
	subtle.XORBytes(x[:], x[:], k[:])
	m.block.Encrypt(x[:], x[:])
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
