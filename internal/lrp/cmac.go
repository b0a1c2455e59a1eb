package lrp

import "crypto/subtle"

// CMAC returns the 16-byte CMAC_LRP of msg (AN12304, "CMAC_LRP"): NIST SP 800-38B
// CMAC in which the block cipher is EvalLRP under UK0 with final set, and
// whose subkeys come from K0 = EvalLRP(UK0, 0^128, final). NTAG 424 DNA
// truncates it to MACt like an AES CMAC.
//
// Without a prior PrecomputeCMAC, each call derives the subkeys afresh,
// which costs 32 AES key schedules.
func (c *Cipher) CMAC(msg []byte) [BlockSize]byte {
	var x, y [BlockSize]byte
	k1, k2 := c.k1, c.k2
	if !c.hasSubkeys {
		k1, k2 = c.subkeys()
	}

	// Every complete block but the last is chained as in CBC-MAC.
	for len(msg) > BlockSize {
		subtle.XORBytes(x[:], y[:], msg[:BlockSize])
		c.eval(y[:], 0, x[:], 2*BlockSize, true)
		msg = msg[BlockSize:]
	}
	// The last block: complete → xor K1; partial or empty → pad 80 00.. and
	// xor K2.
	x = y
	subtle.XORBytes(x[:len(msg)], x[:len(msg)], msg)
	if len(msg) == BlockSize {
		subtle.XORBytes(x[:], x[:], k1[:])
	} else {
		x[len(msg)] ^= 0x80
		subtle.XORBytes(x[:], x[:], k2[:])
	}
	c.eval(y[:], 0, x[:], 2*BlockSize, true)
	return y
}

// PrecomputeCMAC derives and keeps the CMAC_LRP subkeys, so that later
// CMAC calls on c run one EvalLRP per block only. It suits a long-lived
// Cipher (a fixed, undiversified SDMFileReadKey). Like Init, it modifies c:
// call it before c is shared between goroutines.
func (c *Cipher) PrecomputeCMAC() {
	c.k1, c.k2 = c.subkeys()
	c.hasSubkeys = true
}

// subkeys returns the CMAC_LRP subkeys K1 = K0·x and K2 = K0·x² in
// GF(2^128) (SP 800-38B §6.1), with K0 = EvalLRP(UK0, 0^128, final).
func (c *Cipher) subkeys() (k1, k2 [BlockSize]byte) {
	var k0 [BlockSize]byte
	c.eval(k0[:], 0, zero[:], 2*BlockSize, true)
	double(&k1, &k0)
	double(&k2, &k1)
	return k1, k2
}

// double sets dst to src·x in GF(2^128) with the CMAC polynomial
// x^128 + x^7 + x^2 + x + 1, in constant time.
func double(dst, src *[BlockSize]byte) {
	var carry byte
	for i := BlockSize - 1; i >= 0; i-- {
		b := src[i]
		dst[i] = b<<1 | carry
		carry = b >> 7
	}
	dst[BlockSize-1] ^= 0x87 & -carry
}
