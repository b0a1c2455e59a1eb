package aescmac

import (
	"crypto/aes"
	"crypto/cipher"
)

// Block is an expanded AES-128 key. Unlike a cipher.Block from crypto/aes
// it is a plain value: Init allocates nothing where AES-NI is available, and
// Encrypt and Decrypt take fixed-size arrays that never escape, so a
// per-tap session key can live on the stack. Elsewhere it falls back to
// crypto/aes, which allocates.
type Block struct {
	enc, dec [11][16]byte // round keys, in the layout AESENC/AESDEC use
	hasDec   bool
	fallback cipher.Block // non-nil when AES-NI is not used
}

// Init expands key. withDecrypt also prepares the decryption schedule
// (AESIMC of the round keys), which only PICCData decryption needs.
func (b *Block) Init(key *[16]byte, withDecrypt bool) {
	b.hasDec = withDecrypt
	if useAESNI {
		b.fallback = nil
		if withDecrypt {
			expandKey128(key, &b.enc, &b.dec)
		} else {
			expandKey128(key, &b.enc, nil)
		}
		return
	}
	c, err := aes.NewCipher(key[:])
	if err != nil {
		panic("aescmac: " + err.Error()) // unreachable: the key is 16 bytes
	}
	b.fallback = c
}

// Encrypt sets dst to the encryption of src; dst and src may be the same.
func (b *Block) Encrypt(dst, src *[16]byte) {
	if b.fallback != nil {
		b.viaFallback(dst, src, false)
		return
	}
	encrypt128(&b.enc, dst, src)
}

// Decrypt sets dst to the decryption of src. It panics unless Init was
// called withDecrypt.
func (b *Block) Decrypt(dst, src *[16]byte) {
	if !b.hasDec {
		panic("aescmac: Decrypt without a decryption schedule")
	}
	if b.fallback != nil {
		b.viaFallback(dst, src, true)
		return
	}
	decrypt128(&b.dec, dst, src)
}

// viaFallback runs crypto/aes on a heap copy: slices handed to a
// cipher.Block method escape, and copying keeps dst and src themselves on
// the caller's stack on the AES-NI path.
func (b *Block) viaFallback(dst, src *[16]byte, decrypt bool) {
	buf := new([16]byte)
	*buf = *src
	if decrypt {
		b.fallback.Decrypt(buf[:], buf[:])
	} else {
		b.fallback.Encrypt(buf[:], buf[:])
	}
	*dst = *buf
}

// HasAESNI reports whether Block runs on AES-NI. Without it Block falls
// back to crypto/aes, which allocates.
var HasAESNI = useAESNI
