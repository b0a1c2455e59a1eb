package aescmac

import (
	"crypto/aes"
	"crypto/cipher"
)

// Block is an expanded AES-128 encryption key. Unlike a cipher.Block from
// crypto/aes it is a plain value: Init allocates nothing where AES-NI is
// available, and Encrypt takes fixed-size arrays that never escape, so a
// per-tap session key can live on the stack. Elsewhere it falls back to
// crypto/aes, which allocates.
type Block struct {
	enc      [11][16]byte // round keys, in the layout AESENC uses
	fallback cipher.Block // non-nil when AES-NI is not used
}

// Init expands key for encryption.
func (b *Block) Init(key *[16]byte) { b.init(key, nil) }

func (b *Block) init(key *[16]byte, dec *[11][16]byte) {
	if useAESNI {
		b.fallback = nil
		expandKey128(key, &b.enc, dec)
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

// DecBlock is an expanded AES-128 key for encryption and decryption
// (AESIMC of the round keys); only PICCData and SDMENCFileData need it.
type DecBlock struct {
	Block
	dec [11][16]byte
}

// Init expands key for encryption and decryption.
func (b *DecBlock) Init(key *[16]byte) { b.init(key, &b.dec) }

// Decrypt sets dst to the decryption of src; dst and src may be the same.
func (b *DecBlock) Decrypt(dst, src *[16]byte) {
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
