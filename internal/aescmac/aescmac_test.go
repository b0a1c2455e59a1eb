package aescmac

import (
	"bytes"
	"crypto/aes"
	"testing"

	"github.com/aead/cmac"

	"github.com/nfcd/nfcd/internal/testvectors"
)

// TestVectors checks RFC 4493 §4 and the AN12196 MACt examples from the
// shared vector file.
func TestVectors(t *testing.T) {
	for _, v := range testvectors.Load(t, "aes_cmac") {
		t.Run(v.ID, func(t *testing.T) {
			key := testvectors.Key16(t, v.Input, "key")
			msg := testvectors.Hex(t, v.Input, "message")
			m := New(key)
			got := m.Sum(msg)
			if want := testvectors.Hex(t, v.Expected, "cmac"); !bytes.Equal(got[:], want) {
				t.Errorf("Sum(%X) = %X, want %X", msg, got, want)
			}
			if s := m.SumString(string(msg)); s != got {
				t.Errorf("SumString(%X) = %X, want %X", msg, s, got)
			}
			if _, ok := v.Expected["mact"]; ok {
				tr := Truncate(got)
				if want := testvectors.Hex(t, v.Expected, "mact"); !bytes.Equal(tr[:], want) {
					t.Errorf("Truncate(%X) = %X, want %X", got, tr, want)
				}
			}
		})
	}
}

// reference computes AES-CMAC with github.com/aead/cmac, the independent
// implementation ours is checked against.
func reference(t testing.TB, key *[16]byte, msg []byte) []byte {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	sum, err := cmac.Sum(msg, b, aes.BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestDifferential compares every message length from 0 to 100 bytes, which
// covers the empty, partial, exact and multi-block paths.
func TestDifferential(t *testing.T) {
	var key [16]byte
	for i := range key {
		key[i] = byte(i * 7)
	}
	m := New(&key)
	msg := make([]byte, 100)
	for i := range msg {
		msg[i] = byte(i*31 + 5)
	}
	for n := 0; n <= len(msg); n++ {
		got := m.Sum(msg[:n])
		if want := reference(t, &key, msg[:n]); !bytes.Equal(got[:], want) {
			t.Fatalf("Sum(len %d) = %X, want %X", n, got, want)
		}
	}
}

func FuzzDifferential(f *testing.F) {
	f.Add(make([]byte, 16), []byte{})
	f.Add(bytes.Repeat([]byte{0xFF}, 16), []byte("0123456789abcdef"))
	f.Add(make([]byte, 16), bytes.Repeat([]byte("x"), 33))
	f.Fuzz(func(t *testing.T, key, msg []byte) {
		if len(key) != 16 {
			return
		}
		k := (*[16]byte)(key)
		got := New(k).Sum(msg)
		if want := reference(t, k, msg); !bytes.Equal(got[:], want) {
			t.Fatalf("Sum(%X) = %X, want %X", msg, got, want)
		}
	})
}

func TestSumAllocations(t *testing.T) {
	if !useAESNI {
		t.Skip("the crypto/aes fallback allocates")
	}
	msg := []byte("CEE9A53E3E463EF1F459635736738962&cmac=")
	if n := testing.AllocsPerRun(100, func() {
		var m MAC
		m.Init(&[16]byte{1})
		m.Sum(msg)
		m.SumString("abc")
	}); n != 0 {
		t.Errorf("Sum allocates %v times, want 0", n)
	}
}

func BenchmarkSum16(b *testing.B) {
	m := New(new([16]byte))
	msg := make([]byte, 16)
	b.ReportAllocs()
	b.SetBytes(16)
	for b.Loop() {
		m.Sum(msg)
	}
}

// BenchmarkReference16 is the usual pattern with github.com/aead/cmac: a
// fresh cipher per call.
func BenchmarkReference16(b *testing.B) {
	key := new([16]byte)
	msg := make([]byte, 16)
	b.ReportAllocs()
	for b.Loop() {
		reference(b, key, msg)
	}
}
