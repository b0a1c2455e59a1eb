// Package lrp implements NXP's Leakage Resilient Primitive (LRP) from
// AN12304 for 16-byte AES keys, as NTAG 424 DNA uses it in LRP mode: the
// plaintext and updated-key generation (AN12304 Algorithms 1 and 2),
// EvalLRP (Algorithm 3) with m = 4, the CMAC_LRP MAC, the LRICB block
// cipher mode, and the SDM session master key of NT4H2421Gx.
//
// LRP re-keys AES at every nibble it evaluates, so each step costs one AES
// key schedule from crypto/aes (which uses AES-NI where available). The
// package keeps the number of schedules to what the algorithms need: the
// updated keys' schedules are expanded once, in Init.
//
// This code is for the reader (PCD) side. It selects plaintexts in constant
// time, but it makes no claim of leakage resilience.
package lrp

import (
	"crypto/subtle"
	"encoding/binary"
	"strconv"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// BlockSize is the LRP block size in bytes (the AES block size).
const BlockSize = aescmac.Size

// MaxUpdatedKeys is the largest number of updated keys a Cipher can hold.
// NTAG 424 DNA uses UK0 (MAC, authentication) and UK1 (encryption).
const MaxUpdatedKeys = 4

// numPlaintexts is 2^m for the nibble-wise EvalLRP, m = 4 (AN12304 §2).
const numPlaintexts = 16

// AN12304 Algorithms 1 and 2 derive chains with these two constant blocks.
var (
	const55 = [BlockSize]byte{0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55}
	constAA = [BlockSize]byte{0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA}
	zero    [BlockSize]byte
)

// Cipher is an LRP instance for one 16-byte key: its 16 plaintexts
// P0..P15 and its first q updated keys UK0..UK(q-1) with their expanded AES
// schedules. The zero value is not usable; call New or Init. A Cipher is
// safe for concurrent use once initialised: only Init and PrecomputeCMAC
// modify it.
type Cipher struct {
	p  [numPlaintexts][BlockSize]byte
	pw [numPlaintexts][2]uint64 // p as words, for the constant-time select
	uk [MaxUpdatedKeys][BlockSize]byte
	kb [MaxUpdatedKeys]aescmac.Block // AES schedules keyed with uk[i]
	q  int

	k1, k2     [BlockSize]byte // CMAC_LRP subkeys, valid if hasSubkeys
	hasSubkeys bool
}

// New returns a Cipher for key with the updated keys UK0..UK(q-1). It
// panics unless 1 <= q <= MaxUpdatedKeys.
func New(key *[16]byte, q int) *Cipher {
	c := new(Cipher)
	c.Init(key, q)
	return c
}

// Init sets c up for key with the updated keys UK0..UK(q-1), reusing c's
// memory. It panics unless 1 <= q <= MaxUpdatedKeys.
func (c *Cipher) Init(key *[16]byte, q int) {
	if q < 1 || q > MaxUpdatedKeys {
		panic("lrp: number of updated keys out of range: " + strconv.Itoa(q))
	}
	c.q = q
	c.k1, c.k2, c.hasSubkeys = zero, zero, false
	var kb, hb aescmac.Block
	kb.Init(key)

	// AN12304 Algorithm 1 (generate plaintexts): h = E(k, 55..55); then for
	// i = 0..15: P_i = E(h, AA..AA), h = E(h, 55..55). c.uk[0] serves as the
	// chaining value h here; Algorithm 2 overwrites it below.
	h := &c.uk[0]
	kb.Encrypt(h, &const55)
	for i := range c.p {
		hb.Init(h)
		hb.Encrypt(&c.p[i], &constAA)
		hb.Encrypt(h, &const55)
		c.pw[i][0] = binary.LittleEndian.Uint64(c.p[i][:8])
		c.pw[i][1] = binary.LittleEndian.Uint64(c.p[i][8:])
	}

	// AN12304 Algorithm 2 (generate updated keys): h = E(k, AA..AA); then for
	// i = 0..q-1: UK_i = E(h, AA..AA), h = E(h, 55..55). The chaining value
	// runs in c.uk[q-1], which is written last.
	h = &c.uk[q-1]
	kb.Encrypt(h, &constAA)
	for i := range q {
		hb.Init(h)
		hb.Encrypt(&c.uk[i], &constAA)
		if i < q-1 {
			hb.Encrypt(h, &const55)
		}
	}
	for i := range q {
		c.kb[i].Init(&c.uk[i])
	}
	for i := q; i < MaxUpdatedKeys; i++ {
		c.uk[i] = zero
		c.kb[i] = aescmac.Block{}
	}
}

// checkUK panics when uk is not one of c's updated keys.
func (c *Cipher) checkUK(uk int) {
	if uk < 0 || uk >= c.q {
		panic("lrp: updated key index out of range: " + strconv.Itoa(uk))
	}
}

// Eval returns EvalLRP (AN12304 Algorithm 3, m = 4) under the updated key
// UK_uk of the first nibbles 4-bit digits of x, most significant digit of
// each byte first; with final set it ends with the extra encryption of the
// zero block. nibbles may be odd: the low digit of the last byte is then
// ignored. It panics if uk is not below the q given to Init or if nibbles
// is negative or exceeds 2*len(x).
func (c *Cipher) Eval(uk int, x []byte, nibbles int, final bool) [BlockSize]byte {
	c.checkUK(uk)
	if nibbles < 0 || nibbles > 2*len(x) {
		panic("lrp: nibble count out of range: " + strconv.Itoa(nibbles))
	}
	var y [BlockSize]byte
	c.eval(y[:], uk, x, nibbles, final)
	return y
}

// eval writes EvalLRP(UK_uk, x[:nibbles], final) to y, which must be 16
// bytes and must not overlap x.
func (c *Cipher) eval(y []byte, uk int, x []byte, nibbles int, final bool) {
	var pj, yy [BlockSize]byte
	var next aescmac.Block // the schedule of the running key y
	b := &c.kb[uk]
	yy = c.uk[uk]
	// AN12304 Algorithm 3: y = UK; for each nibble x_i: y = E(y, P_{x_i}).
	// Every step encrypts under the previous output: one key schedule per
	// nibble, which aescmac.Block does without allocating.
	for i := range nibbles {
		d := x[i>>1]
		if i&1 == 0 {
			d >>= 4
		}
		c.selectP(&pj, d&0x0F)
		if i > 0 {
			next.Init(&yy)
			b = &next
		}
		b.Encrypt(&yy, &pj)
	}
	// final: y = E(y, 0^128).
	if final {
		if nibbles > 0 {
			next.Init(&yy)
			b = &next
		}
		b.Encrypt(&yy, &zero)
	}
	copy(y, yy[:])
}

// selectP copies P_j to dst without a secret-dependent memory access: the
// nibbles come from the counter and the CMAC chaining value.
func (c *Cipher) selectP(dst *[BlockSize]byte, j byte) {
	var lo, hi uint64
	for i := range c.pw {
		m := -uint64(subtle.ConstantTimeByteEq(byte(i), j))
		lo |= c.pw[i][0] & m
		hi |= c.pw[i][1] & m
	}
	binary.LittleEndian.PutUint64(dst[:8], lo)
	binary.LittleEndian.PutUint64(dst[8:], hi)
}
