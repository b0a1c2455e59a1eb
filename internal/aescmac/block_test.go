package aescmac

import (
	"crypto/aes"
	"testing"
)

// TestBlockMatchesCryptoAES checks the AES-NI key schedule, encryption and
// decryption against crypto/aes on a chain of keys and blocks, and the
// FIPS-197 Appendix C.1 example.
func TestBlockMatchesCryptoAES(t *testing.T) {
	key := [16]byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f}
	pt := [16]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	want := [16]byte{0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30, 0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a}
	var b DecBlock
	b.Init(&key)
	var got [16]byte
	if b.Encrypt(&got, &pt); got != want {
		t.Fatalf("FIPS-197 C.1: Encrypt = %X, want %X", got, want)
	}
	if b.Decrypt(&got, &want); got != pt {
		t.Fatalf("FIPS-197 C.1: Decrypt = %X, want %X", got, pt)
	}
	for i := 0; i < 500; i++ {
		ref, _ := aes.NewCipher(key[:])
		b.Init(&key)
		var e, r, d [16]byte
		b.Encrypt(&e, &pt)
		ref.Encrypt(r[:], pt[:])
		if e != r {
			t.Fatalf("key %X: Encrypt(%X) = %X, want %X", key, pt, e, r)
		}
		if b.Decrypt(&d, &e); d != pt {
			t.Fatalf("key %X: Decrypt(%X) = %X, want %X", key, e, d, pt)
		}
		key, pt = e, r // walk on
		pt[0] ^= byte(i)
	}
}

func TestBlockFallback(t *testing.T) {
	if !useAESNI {
		t.Skip("this build already uses the fallback")
	}
	key := [16]byte{1, 2, 3}
	var fast, slow DecBlock
	fast.Init(&key)
	c, _ := aes.NewCipher(key[:])
	slow.fallback = c
	src := [16]byte{9, 8, 7}
	var a, b [16]byte
	fast.Encrypt(&a, &src)
	slow.Encrypt(&b, &src)
	if a != b {
		t.Fatalf("fallback Encrypt = %X, want %X", b, a)
	}
	fast.Decrypt(&a, &src)
	slow.Decrypt(&b, &src)
	if a != b {
		t.Fatalf("fallback Decrypt = %X, want %X", b, a)
	}
}

func TestBlockAllocations(t *testing.T) {
	if !useAESNI {
		t.Skip("crypto/aes fallback allocates")
	}
	key := [16]byte{1}
	n := testing.AllocsPerRun(100, func() {
		var b DecBlock
		b.Init(&key)
		var x [16]byte
		b.Encrypt(&x, &x)
		b.Decrypt(&x, &x)
	})
	if n != 0 {
		t.Errorf("Init+Encrypt+Decrypt allocate %v times, want 0", n)
	}
}

func BenchmarkBlockInit(b *testing.B) {
	key := [16]byte{1}
	var blk Block
	b.ReportAllocs()
	for b.Loop() {
		blk.Init(&key)
	}
}

func BenchmarkBlockEncrypt(b *testing.B) {
	var blk Block
	blk.Init(&[16]byte{1})
	var x [16]byte
	b.ReportAllocs()
	for b.Loop() {
		blk.Encrypt(&x, &x)
	}
}
