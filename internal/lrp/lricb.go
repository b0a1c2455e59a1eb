package lrp

import (
	"errors"

	"github.com/nfcd/nfcd/internal/aescmac"
)

// Errors returned for malformed LRICB input. They say nothing about keys or
// plaintext.
var (
	// ErrLength means the ciphertext (or an unpadded plaintext) is not a
	// whole number of blocks, or a padded ciphertext is empty.
	ErrLength = errors.New("lrp: input is not a whole number of blocks")
	// ErrPadding means the decrypted last block does not end in 80 00..00.
	ErrPadding = errors.New("lrp: invalid padding")
	// ErrCounterSize means the LRICB counter is not 1 to 16 bytes long.
	ErrCounterSize = errors.New("lrp: counter must be 1 to 16 bytes")
)

// MaxCounterSize is the longest LRICB counter in bytes (32 nibbles).
const MaxCounterSize = BlockSize

// EncryptLRICB encrypts src into dst with LRICB (AN12304 LRICBEnc) under the
// updated key UK_uk: block i is AES-encrypted under the key
// EvalLRP(UK_uk, counter+i, final), the counter being big-endian, of any
// size from 1 to MaxCounterSize bytes, and wrapping to zero. With pad set,
// src is first padded with 80 00..00 to the next multiple of 16 bytes (a
// whole block when it already is one); without it, len(src) must be a
// multiple of 16.
//
// It returns the number of bytes written: len(src) without padding,
// (len(src)/16+1)*16 with it. dst must hold that many bytes (EncryptLRICB
// panics otherwise) and may be src itself but must not otherwise overlap
// it. counter is not modified; a caller that continues the stream adds
// n/16 to it.
func (c *Cipher) EncryptLRICB(dst, src []byte, uk int, counter []byte, pad bool) (int, error) {
	c.checkUK(uk)
	if len(counter) == 0 || len(counter) > MaxCounterSize {
		return 0, ErrCounterSize
	}
	n := len(src)
	if pad {
		n = (len(src)/BlockSize + 1) * BlockSize
	} else if len(src)%BlockSize != 0 {
		return 0, ErrLength
	}
	if len(dst) < n {
		panic("lrp: output buffer too small")
	}
	var ctr [MaxCounterSize]byte
	r := ctr[:copy(ctr[:], counter)]
	var y, last [BlockSize]byte
	full := len(src) &^ (BlockSize - 1)
	for i := 0; i < n; i += BlockSize {
		in := src[i:min(i+BlockSize, len(src))]
		if i >= full {
			// AN12304 LRICBEnc with padding: the last block is the
			// remainder followed by 80 00..00.
			last = zero
			copy(last[:], in)
			last[len(in)] = 0x80
			in = last[:]
		}
		c.eval(y[:], uk, r, 2*len(r), true)
		var b aescmac.Block
		var out [BlockSize]byte
		b.Init(&y)
		b.Encrypt(&out, (*[BlockSize]byte)(in))
		copy(dst[i:i+BlockSize], out[:])
		increment(r)
	}
	return n, nil
}

// DecryptLRICB decrypts src into dst with LRICB (AN12304 LRICBDec), the
// inverse of EncryptLRICB with the same uk, counter and pad. len(src) must
// be a multiple of 16 (and non-zero with pad). With pad set, the 80 00..00
// padding is checked and removed from the last block.
//
// It returns the plaintext length. dst must hold len(src) bytes
// (DecryptLRICB panics otherwise) and may be src itself but must not
// otherwise overlap it. On error the first len(src) bytes of dst are
// zeroed. counter is not modified.
func (c *Cipher) DecryptLRICB(dst, src []byte, uk int, counter []byte, pad bool) (int, error) {
	c.checkUK(uk)
	if len(counter) == 0 || len(counter) > MaxCounterSize {
		return 0, ErrCounterSize
	}
	if len(src)%BlockSize != 0 || pad && len(src) == 0 {
		return 0, ErrLength
	}
	if len(dst) < len(src) {
		panic("lrp: output buffer too small")
	}
	var ctr [MaxCounterSize]byte
	r := ctr[:copy(ctr[:], counter)]
	var y [BlockSize]byte
	for i := 0; i < len(src); i += BlockSize {
		c.eval(y[:], uk, r, 2*len(r), true)
		var b aescmac.DecBlock
		var out [BlockSize]byte
		b.Init(&y)
		b.Decrypt(&out, (*[BlockSize]byte)(src[i:i+BlockSize]))
		copy(dst[i:i+BlockSize], out[:])
		increment(r)
	}
	if !pad {
		return len(src), nil
	}
	n, ok := unpad(dst[len(src)-BlockSize : len(src)])
	if !ok {
		clear(dst[:len(src)])
		return 0, ErrPadding
	}
	return len(src) - BlockSize + n, nil
}

// unpad returns the length of the last block before its ISO/IEC 9797-1
// method 2 padding (80 00..00). LRICB callers check a MAC before they
// decrypt, so the early return leaks nothing an attacker can use.
func unpad(b []byte) (int, bool) {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case 0x80:
			return i, true
		case 0x00:
		default:
			return 0, false
		}
	}
	return 0, false
}

// increment adds one to the big-endian counter r, wrapping to zero.
func increment(r []byte) {
	for i := len(r) - 1; i >= 0; i-- {
		r[i]++
		if r[i] != 0 {
			return
		}
	}
}
