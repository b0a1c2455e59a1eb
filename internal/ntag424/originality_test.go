package ntag424

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nfcd/nfcd/internal/testvectors"
)

// TestVerifyOriginality checks AN12196 Table 30 and the real-tag signatures
// of icedevml/nfc-ev2-crypto, with their NEGATIVE twins (a flipped byte, a
// random signature, another UID), then flips one bit of each valid UID and
// signature.
func TestVerifyOriginality(t *testing.T) {
	for _, v := range testvectors.Load(t, "originality_signature") {
		t.Run(v.ID, func(t *testing.T) {
			uid := testvectors.Hex(t, v.Input, "uid")
			sig := testvectors.Hex(t, v.Input, "signature")
			valid, ok := v.Expected["valid"].(bool)
			if !ok {
				t.Fatal("expected.valid missing")
			}
			if v.Negative() && valid {
				t.Fatal("NEGATIVE record expects valid")
			}
			err := VerifyOriginality(uid, sig)
			if valid {
				if err != nil {
					t.Fatalf("VerifyOriginality(%X, %X) = %v, want nil", uid, sig, err)
				}
				for _, m := range []struct {
					name     string
					uid, sig []byte
				}{
					{"UID bit 0", flip(uid, 0), sig},
					{"UID last bit", flip(uid, 8*len(uid)-1), sig},
					{"r bit 100", uid, flip(sig, 100)},
					{"s last bit", uid, flip(sig, 8*len(sig)-1)},
					{"r and s swapped", uid, append(bytes.Clone(sig[28:]), sig[:28]...)},
				} {
					if err := VerifyOriginality(m.uid, m.sig); !errors.Is(err, ErrNotOriginal) {
						t.Errorf("VerifyOriginality with %s = %v, want ErrNotOriginal", m.name, err)
					}
				}
				return
			}
			if !errors.Is(err, ErrNotOriginal) {
				t.Errorf("VerifyOriginality(%X, %X) = %v, want ErrNotOriginal", uid, sig, err)
			}
		})
	}
}

// flip returns a copy of b with bit i (0 = most significant bit of b[0]) inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i/8] ^= 0x80 >> (i % 8)
	return c
}

func TestVerifyOriginalityErrors(t *testing.T) {
	uid := []byte{0x04, 0x51, 0x8D, 0xFA, 0xA9, 0x61, 0x80}
	tests := []struct {
		name     string
		uid, sig []byte
		want     error
	}{
		{"empty UID", nil, make([]byte, 56), ErrOriginalityLength},
		{"4-byte UID", uid[:4], make([]byte, 56), ErrOriginalityLength},
		{"10-byte UID", make([]byte, 10), make([]byte, 56), ErrOriginalityLength},
		{"empty signature", uid, nil, ErrOriginalityLength},
		{"55-byte signature", uid, make([]byte, 55), ErrOriginalityLength},
		{"64-byte signature", uid, make([]byte, 64), ErrOriginalityLength},
		{"zero r and s", uid, make([]byte, 56), ErrNotOriginal},
		{"r and s = 2^224-1", uid, bytes.Repeat([]byte{0xFF}, 56), ErrNotOriginal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyOriginality(tc.uid, tc.sig); !errors.Is(err, tc.want) {
				t.Errorf("VerifyOriginality(%X, %X) = %v, want %v", tc.uid, tc.sig, err, tc.want)
			}
		})
	}
}

// FuzzVerifyOriginality feeds arbitrary bytes: no panic, and nothing but
// the AN12196 Table 30 pair (or a fuzzer-found forgery, which would be a
// bug) verifies.
func FuzzVerifyOriginality(f *testing.F) {
	uid := []byte{0x04, 0x51, 0x8D, 0xFA, 0xA9, 0x61, 0x80}
	sig := []byte{
		0xD1, 0x94, 0x0D, 0x17, 0xCF, 0xED, 0xA4, 0xBF, 0xF8, 0x03, 0x59, 0xAB, 0x97, 0x5F, 0x9F, 0x65,
		0x14, 0x31, 0x3E, 0x8F, 0x90, 0xC1, 0xD3, 0xCA, 0xAF, 0x59, 0x41, 0xAD, 0x74, 0x4A, 0x1C, 0xDF,
		0x9A, 0x83, 0xF8, 0x83, 0xCA, 0xFE, 0x0F, 0xE9, 0x5D, 0x19, 0x39, 0xB1, 0xB7, 0xE4, 0x71, 0x13,
		0x99, 0x33, 0x24, 0x47, 0x3B, 0x78, 0x5D, 0x21,
	}
	f.Add(uid, sig)
	f.Add(uid[:4], sig[:8])
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, u, s []byte) {
		err := VerifyOriginality(u, s)
		if err == nil && !(bytes.Equal(u, uid) && bytes.Equal(s, sig)) {
			t.Fatalf("VerifyOriginality(%X, %X) verified", u, s)
		}
	})
}

func BenchmarkVerifyOriginality(b *testing.B) {
	uid := []byte{0x04, 0x77, 0x28, 0x82, 0x4D, 0x65, 0x80}
	sig := []byte{
		0x9C, 0x70, 0x68, 0x63, 0x6A, 0x28, 0x5F, 0xEB, 0xA1, 0xE2, 0x40, 0x66, 0x54, 0x00, 0x9D, 0xCE,
		0x6E, 0x8A, 0x9C, 0x9C, 0xE3, 0x18, 0xBE, 0x02, 0x62, 0xED, 0x16, 0x25, 0x19, 0xB9, 0x70, 0xB3,
		0x2F, 0xB8, 0x02, 0x85, 0x84, 0x20, 0xD6, 0x67, 0xD1, 0x2C, 0xEB, 0xCD, 0x32, 0xBB, 0x4B, 0xC8,
		0xAF, 0xE2, 0x1C, 0x75, 0x3A, 0x5A, 0x6C, 0x26,
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyOriginality(uid, sig); err != nil {
			b.Fatal(err)
		}
	}
}
