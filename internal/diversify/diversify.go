// Package diversify derives per-tag keys from master keys, with the three
// schemes nfcd meets in the field:
//
//   - NXP AN10922 §2.2 CMAC-based diversification (AES-128, -192, -256),
//     the NXP-recommended scheme for DESFire and NTAG 424 DNA keys;
//   - the HMAC-SHA256/CMAC scheme of nfc-developer/sdm-backend
//     (libsdm/derive.py), used by tags provisioned with that backend;
//   - the Bolt Card deterministic scheme (boltcard docs/DETERMINISTIC.md).
//
// Derived keys are returned as arrays. Functions reject inputs of the wrong
// length with ErrInputLength; they never put key bytes in errors.
package diversify

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
)

// ErrInputLength reports diversification input of a length the scheme does
// not allow. Errors wrapping it name the field and its length.
var ErrInputLength = errors.New("diversify: bad input length")

// MaxAN10922Input is the longest diversification input M of AN10922 §2.2:
// the constant byte and M must fit in two AES blocks.
const MaxAN10922Input = 31

// AN10922 §2.2 diversification constants, the first byte of D.
const (
	divAES128   = 0x01
	divAES192_1 = 0x11
	divAES192_2 = 0x12
	divAES256_1 = 0x41
	divAES256_2 = 0x42
)

// AN10922 returns the AES-128 key diversified from master with the
// diversification input m (AN10922 §2.2.1): CMAC(master, 01h || M || pad),
// where D = 01h || M is padded with 80 00.. to 32 bytes and the last block
// uses subkey K2 when padded, K1 when M is 31 bytes. m must be 1 to 31
// bytes.
func AN10922(master *[16]byte, m []byte) ([16]byte, error) {
	var out [16]byte
	if err := checkAN10922(m); err != nil {
		return out, err
	}
	out = an10922CMAC(newBlock(master[:]), divAES128, m)
	return out, nil
}

// AN10922AES192 returns the AES-192 key diversified from master with the
// input m (AN10922 §2.2.2): with A = CMAC(11h || M) and B = CMAC(12h || M),
// the key is A[0:8] || A[8:16] ⊕ B[0:8] || B[8:16]. m must be 1 to 31 bytes.
func AN10922AES192(master *[24]byte, m []byte) ([24]byte, error) {
	var out [24]byte
	if err := checkAN10922(m); err != nil {
		return out, err
	}
	b := newBlock(master[:])
	a1 := an10922CMAC(b, divAES192_1, m)
	a2 := an10922CMAC(b, divAES192_2, m)
	copy(out[:8], a1[:8])
	subtle.XORBytes(out[8:16], a1[8:], a2[:8])
	copy(out[16:], a2[8:])
	return out, nil
}

// AN10922AES256 returns the AES-256 key diversified from master with the
// input m (AN10922 §2.2.3): CMAC(41h || M) || CMAC(42h || M). m must be 1
// to 31 bytes.
func AN10922AES256(master *[32]byte, m []byte) ([32]byte, error) {
	var out [32]byte
	if err := checkAN10922(m); err != nil {
		return out, err
	}
	b := newBlock(master[:])
	a1 := an10922CMAC(b, divAES256_1, m)
	a2 := an10922CMAC(b, divAES256_2, m)
	copy(out[:16], a1[:])
	copy(out[16:], a2[:])
	return out, nil
}

// AN10922Input returns the usual AN10922 diversification input
// M = UID || AID || SystemIdentifier (AN10922 §2.2.1 example). aid is
// given as it goes on the wire, least significant byte first (F54230h is
// 30 42 F5). The result must fit MaxAN10922Input bytes.
func AN10922Input(uid []byte, aid [3]byte, sysID []byte) ([]byte, error) {
	n := len(uid) + len(aid) + len(sysID)
	if n > MaxAN10922Input {
		return nil, fmt.Errorf("%w: UID, AID and system identifier are %d bytes, want at most %d",
			ErrInputLength, n, MaxAN10922Input)
	}
	m := make([]byte, 0, n)
	m = append(m, uid...)
	m = append(m, aid[:]...)
	return append(m, sysID...), nil
}

func checkAN10922(m []byte) error {
	if len(m) < 1 || len(m) > MaxAN10922Input {
		return fmt.Errorf("%w: diversification input is %d bytes, want 1 to %d",
			ErrInputLength, len(m), MaxAN10922Input)
	}
	return nil
}

// an10922CMAC computes CMAC_K(c || m) the AN10922 §2.2 way: the input is
// always two blocks, padded with 80 00.. to 32 bytes. That differs from
// SP 800-38B padding when c || m is shorter than 16 bytes, so it cannot use
// a general CMAC. b may be AES-128, -192 or -256.
func an10922CMAC(b cipher.Block, c byte, m []byte) [16]byte {
	// SP 800-38B §6.1 subkeys: L = E(0); K1 = L·x; K2 = K1·x.
	var l, k [16]byte
	b.Encrypt(l[:], l[:])
	double(&k, &l) // K1
	var d [32]byte
	d[0] = c
	copy(d[1:], m)
	if 1+len(m) < len(d) {
		d[1+len(m)] = 0x80
		double(&k, &k) // K2 for padded input
	}
	// CBC-MAC over the two blocks with the subkey xored into the last.
	subtle.XORBytes(d[16:], d[16:], k[:])
	b.Encrypt(d[:16], d[:16])
	subtle.XORBytes(d[16:], d[16:], d[:16])
	b.Encrypt(d[16:], d[16:])
	return [16]byte(d[16:])
}

// double sets dst to src·x in GF(2^128) (SP 800-38B §6.1), in constant
// time. dst may be src.
func double(dst, src *[16]byte) {
	var carry byte
	for i := 15; i >= 0; i-- {
		b := src[i]
		dst[i] = b<<1 | carry
		carry = b >> 7
	}
	dst[15] ^= 0x87 & -carry
}

// newBlock expands an AES key whose length is fixed by the caller's array
// type, so an error is a programmer error.
func newBlock(key []byte) cipher.Block {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("diversify: " + err.Error())
	}
	return b
}
