package lrp

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/nfcd/nfcd/internal/aescmac"
	"strconv"
	"testing"

	"github.com/nfcd/nfcd/internal/testvectors"
)

// intField returns the integer field key of m (JSON numbers decode as float64).
func intField(t *testing.T, m map[string]any, key string) int {
	t.Helper()
	f, ok := m[key].(float64)
	if !ok {
		t.Fatalf("field %q missing or not a number", key)
	}
	return int(f)
}

func boolField(t *testing.T, m map[string]any, key string) bool {
	t.Helper()
	b, ok := m[key].(bool)
	if !ok {
		t.Fatalf("field %q missing or not a bool", key)
	}
	return b
}

// indexed returns the {"index": hex} map field key of m.
func indexed(t *testing.T, m map[string]any, key string) map[int][]byte {
	t.Helper()
	raw, ok := m[key].(map[string]any)
	if !ok || len(raw) == 0 {
		t.Fatalf("field %q missing or empty", key)
	}
	out := make(map[int][]byte)
	for k := range raw {
		i, err := strconv.Atoi(k)
		if err != nil {
			t.Fatalf("field %q: index %q: %v", key, k, err)
		}
		out[i] = testvectors.Hex(t, raw, k)
	}
	return out
}

// TestPlaintexts checks AN12304's "generate plaintexts" vector (Algorithm 1).
func TestPlaintexts(t *testing.T) {
	for _, v := range testvectors.Load(t, "lrp_plaintexts") {
		t.Run(v.ID, func(t *testing.T) {
			c := New(testvectors.Key16(t, v.Input, "key"), 1)
			for i, want := range indexed(t, v.Expected, "p") {
				if got := c.p[i]; !bytes.Equal(got[:], want) {
					t.Errorf("P%d = %X, want %X", i, got, want)
				}
			}
		})
	}
}

// TestUpdatedKeys checks AN12304's "generate updated keys" vector
// (Algorithm 2), for every q that covers the expected indices: the chain
// must not depend on how many keys are asked for.
func TestUpdatedKeys(t *testing.T) {
	for _, v := range testvectors.Load(t, "lrp_updated_keys") {
		t.Run(v.ID, func(t *testing.T) {
			key := testvectors.Key16(t, v.Input, "key")
			for q := 1; q <= MaxUpdatedKeys; q++ {
				c := New(key, q)
				for i, want := range indexed(t, v.Expected, "uk") {
					if i >= q {
						continue
					}
					if got := c.uk[i]; !bytes.Equal(got[:], want) {
						t.Errorf("New(q=%d): UK%d = %X, want %X", q, i, got, want)
					}
				}
			}
		})
	}
}

// TestEval checks AN12304's EvalLRP vectors, including odd nibble counts.
func TestEval(t *testing.T) {
	for _, v := range testvectors.Load(t, "lrp_eval") {
		t.Run(v.ID, func(t *testing.T) {
			uk := intField(t, v.Input, "updated_key")
			digits := testvectors.String(v.Input, "iv_nibbles")
			final := boolField(t, v.Input, "final")
			x := make([]byte, (len(digits)+1)/2)
			for i, d := range digits {
				n, err := strconv.ParseUint(string(d), 16, 4)
				if err != nil {
					t.Fatalf("iv_nibbles %q: %v", digits, err)
				}
				x[i/2] |= byte(n) << (4 * (1 - i%2))
			}
			c := New(testvectors.Key16(t, v.Input, "key"), MaxUpdatedKeys)
			got := c.Eval(uk, x, len(digits), final)
			if want := testvectors.Hex(t, v.Expected, "result"); !bytes.Equal(got[:], want) {
				t.Errorf("Eval(UK%d, %s, final=%v) = %X, want %X", uk, digits, final, got, want)
			}
			// The ignored low digit of an odd count must not matter.
			if len(digits)%2 == 1 {
				x[len(x)-1] ^= 0x0F
				if again := c.Eval(uk, x, len(digits), final); again != got {
					t.Errorf("Eval(UK%d, %s) depends on the digit past the count", uk, digits)
				}
			}
		})
	}
}

// TestCMAC checks AN12304's CMAC_LRP vectors and that flipping any one bit
// of a short message changes the MAC.
func TestCMAC(t *testing.T) {
	for _, v := range testvectors.Load(t, "lrp_cmac") {
		t.Run(v.ID, func(t *testing.T) {
			c := New(testvectors.Key16(t, v.Input, "key"), 1)
			msg := testvectors.Hex(t, v.Input, "message")
			got := c.CMAC(msg)
			if want := testvectors.Hex(t, v.Expected, "mac"); !bytes.Equal(got[:], want) {
				t.Fatalf("CMAC(%X) = %X, want %X", msg, got, want)
			}
			p := New(testvectors.Key16(t, v.Input, "key"), 1)
			p.PrecomputeCMAC()
			if pre := p.CMAC(msg); pre != got {
				t.Errorf("CMAC(%X) after PrecomputeCMAC = %X, want %X", msg, pre, got)
			}
			if len(msg) > 0 && len(msg) <= 16 {
				m := bytes.Clone(msg)
				m[len(m)-1] ^= 1
				if c.CMAC(m) == got {
					t.Errorf("CMAC(%X) = CMAC(%X)", m, msg)
				}
			}
		})
	}
}

// TestLRICB checks AN12304's LRICB encryption vectors, then that
// DecryptLRICB inverts them, in place as well.
func TestLRICB(t *testing.T) {
	for _, v := range testvectors.Load(t, "lrp_lricb") {
		t.Run(v.ID, func(t *testing.T) {
			c := New(testvectors.Key16(t, v.Input, "key"), 1)
			ctr := testvectors.Hex(t, v.Input, "counter")
			pad := boolField(t, v.Input, "padding")
			pt := testvectors.Hex(t, v.Input, "plaintext")
			want := testvectors.Hex(t, v.Expected, "ciphertext")
			ctrCopy := bytes.Clone(ctr)

			ct := make([]byte, len(want))
			n, err := c.EncryptLRICB(ct, pt, 0, ctr, pad)
			if err != nil || !bytes.Equal(ct[:n], want) {
				t.Fatalf("EncryptLRICB(%X, ctr %X, pad %v) = %X, %v, want %X", pt, ctr, pad, ct[:n], err, want)
			}
			if !bytes.Equal(ctr, ctrCopy) {
				t.Errorf("EncryptLRICB modified the counter: %X, want %X", ctr, ctrCopy)
			}
			buf := bytes.Clone(want)
			n, err = c.DecryptLRICB(buf, buf, 0, ctr, pad)
			if err != nil || !bytes.Equal(buf[:n], pt) {
				t.Fatalf("DecryptLRICB(%X, ctr %X, pad %v) = %X, %v, want %X", want, ctr, pad, buf[:n], err, pt)
			}
			// A different counter must not decrypt to the plaintext.
			other := bytes.Clone(ctr)
			other[0] ^= 0x80
			n, err = c.DecryptLRICB(buf, want, 0, other, pad)
			if err == nil && bytes.Equal(buf[:n], pt) {
				t.Errorf("DecryptLRICB with counter %X also yields the plaintext", other)
			}
		})
	}
}

// TestSDMSessionKey checks the LRP records of sdm_session_keys
// (nfc-developer/sdm-backend tests/test_lrp_sdm.py).
func TestSDMSessionKey(t *testing.T) {
	n := 0
	for _, v := range testvectors.Load(t, "sdm_session_keys") {
		if testvectors.String(v.Input, "crypto") != "lrp" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			key := testvectors.Key16(t, v.Input, "sdm_file_read_key")
			uid := testvectors.Hex(t, v.Input, "uid")
			ctr := testvectors.Hex(t, v.Input, "ctr_le")
			got := SDMSessionKey(key, uid, ctr)
			if want := testvectors.Hex(t, v.Expected, "ses_master_key"); !bytes.Equal(got[:], want) {
				t.Errorf("SDMSessionKey(UID %X, ctr %X) = %X, want %X", uid, ctr, got, want)
			}
			uid[0] ^= 1
			if SDMSessionKey(key, uid, ctr) == got {
				t.Errorf("SDMSessionKey ignores a flipped UID bit")
			}
		})
	}
	if n == 0 {
		t.Fatal("no LRP sdm_session_keys records")
	}
}

// TestSUNDecrypt runs the LRP records of picc_decrypt_raw and
// sdm_encfile_raw through the decryptions SUN needs: PICCData with UK0 of
// SDMMetaReadKey and the 8-byte PICCRand as counter, SDMENCFileData with UK1
// of the session master key and ctr_le || 000000 as counter, both unpadded.
func TestSUNDecrypt(t *testing.T) {
	n := 0
	for _, v := range testvectors.Load(t, "picc_decrypt_raw", "sdm_encfile_raw") {
		if testvectors.String(v.Input, "crypto") != "lrp" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			switch v.Category {
			case "picc_decrypt_raw":
				enc := testvectors.Hex(t, v.Input, "picc_enc_data")
				if len(enc) != 24 {
					t.Fatalf("picc_enc_data is %d bytes, want 24", len(enc))
				}
				c := New(testvectors.Key16(t, v.Input, "sdm_meta_read_key"), 1)
				var pt [16]byte
				if _, err := c.DecryptLRICB(pt[:], enc[8:], 0, enc[:8], false); err != nil {
					t.Fatal(err)
				}
				if _, ok := v.Expected["plaintext"]; ok {
					if want := testvectors.Hex(t, v.Expected, "plaintext"); !bytes.Equal(pt[:], want) {
						t.Errorf("PICCData = %X, want %X", pt, want)
					}
				}
				// PICCDataTag C7: UID (7 bytes) and SDMReadCtr mirrored.
				uid := testvectors.Hex(t, v.Expected, "uid")
				ctr := intField(t, v.Expected, "ctr")
				gotCtr := int(pt[8]) | int(pt[9])<<8 | int(pt[10])<<16
				if pt[0] != 0xC7 || !bytes.Equal(pt[1:8], uid) || gotCtr != ctr {
					t.Errorf("PICCData = %X, want tag C7, UID %X, ctr %d", pt, uid, ctr)
				}
			case "sdm_encfile_raw":
				uid := testvectors.Hex(t, v.Input, "uid")
				ctrLE := testvectors.Hex(t, v.Input, "ctr_le")
				enc := testvectors.Hex(t, v.Input, "enc_file_data")
				master := SDMSessionKey(testvectors.Key16(t, v.Input, "sdm_file_read_key"), uid, ctrLE)
				c := New(&master, 2)
				pt := make([]byte, len(enc))
				if _, err := c.DecryptLRICB(pt, enc, 1, append(ctrLE, 0, 0, 0), false); err != nil {
					t.Fatal(err)
				}
				if want := testvectors.Hex(t, v.Expected, "plaintext"); !bytes.Equal(pt, want) {
					t.Errorf("SDMENCFileData = %X, want %X", pt, want)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("no LRP picc_decrypt_raw or sdm_encfile_raw records")
	}
}

func TestLRICBErrors(t *testing.T) {
	c := New(new([16]byte), 2)
	ctr := make([]byte, 4)
	buf := make([]byte, 64)
	tests := []struct {
		name    string
		encrypt bool
		src     []byte
		ctr     []byte
		pad     bool
		want    error
	}{
		{"encrypt empty counter", true, make([]byte, 16), nil, false, ErrCounterSize},
		{"encrypt 17-byte counter", true, make([]byte, 16), make([]byte, 17), false, ErrCounterSize},
		{"encrypt unpadded 15 bytes", true, make([]byte, 15), ctr, false, ErrLength},
		{"decrypt empty counter", false, make([]byte, 16), nil, false, ErrCounterSize},
		{"decrypt 17 bytes", false, make([]byte, 17), ctr, false, ErrLength},
		{"decrypt 15 bytes padded", false, make([]byte, 15), ctr, true, ErrLength},
		{"decrypt empty padded", false, nil, ctr, true, ErrLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.encrypt {
				_, err = c.EncryptLRICB(buf, tc.src, 1, tc.ctr, tc.pad)
			} else {
				_, err = c.DecryptLRICB(buf, tc.src, 1, tc.ctr, tc.pad)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestPadding encrypts blocks whose last byte pattern is or is not valid
// 80 00.. padding, unpadded, and decrypts them with padding on.
func TestPadding(t *testing.T) {
	c := New(new([16]byte), 1)
	ctr := []byte{0, 0, 0, 0}
	tests := []struct {
		last []byte // the last block's plaintext
		n    int    // the length after unpadding, -1 for ErrPadding
	}{
		{append([]byte{0x80}, make([]byte, 15)...), 0},
		{append(bytes.Repeat([]byte{1}, 15), 0x80), 15},
		{append(bytes.Repeat([]byte{0x80}, 3), make([]byte, 13)...), 2},
		{make([]byte, 16), -1},
		{append(bytes.Repeat([]byte{1}, 15), 0x81), -1},
		{append([]byte{0x80}, append(make([]byte, 14), 1)...), -1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%X", tc.last), func(t *testing.T) {
			pt := append(bytes.Repeat([]byte{0xEE}, 16), tc.last...)
			ct := make([]byte, len(pt))
			if _, err := c.EncryptLRICB(ct, pt, 0, ctr, false); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, len(ct))
			n, err := c.DecryptLRICB(out, ct, 0, ctr, true)
			if tc.n < 0 {
				if !errors.Is(err, ErrPadding) || n != 0 || !bytes.Equal(out, make([]byte, len(out))) {
					t.Errorf("DecryptLRICB = %d, %v, dst %X; want 0, ErrPadding, zeroed dst", n, err, out)
				}
				return
			}
			if err != nil || n != 16+tc.n || !bytes.Equal(out[:n], pt[:n]) {
				t.Errorf("DecryptLRICB = %X, %v, want %X", out[:n], err, pt[:16+tc.n])
			}
		})
	}
}

// TestCounterWrap checks that an all-FF counter wraps to zero: the second
// block of a stream started at FF..FF equals the first block of a stream
// started at 00..00.
func TestCounterWrap(t *testing.T) {
	c := New(new([16]byte), 1)
	pt := make([]byte, 32)
	a := make([]byte, 32)
	b := make([]byte, 16)
	if _, err := c.EncryptLRICB(a, pt, 0, []byte{0xFF, 0xFF}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EncryptLRICB(b, pt[:16], 0, []byte{0, 0}, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a[16:], b) {
		t.Errorf("block after FFFF = %X, want the block at 0000 %X", a[16:], b)
	}
}

// TestInitReuse re-initialises one Cipher with other keys and q, and
// checks it matches a fresh one (stale subkeys or updated keys would not).
func TestInitReuse(t *testing.T) {
	a, b := &[16]byte{1}, &[16]byte{2}
	c := New(a, MaxUpdatedKeys)
	c.PrecomputeCMAC()
	c.Init(b, 1)
	want := New(b, 1)
	if got, w := c.CMAC([]byte("x")), want.CMAC([]byte("x")); got != w {
		t.Errorf("CMAC after Init = %X, want %X", got, w)
	}
	if c.q != 1 || c.kb[1] != (aescmac.Block{}) || c.uk[1] != zero {
		t.Errorf("Init(q=1) kept updated keys beyond UK0")
	}
}

func TestPanics(t *testing.T) {
	c := New(new([16]byte), 2)
	tests := []struct {
		name string
		f    func()
	}{
		{"New q=0", func() { New(new([16]byte), 0) }},
		{"New q=5", func() { New(new([16]byte), MaxUpdatedKeys+1) }},
		{"Eval UK2 of 2", func() { c.Eval(2, nil, 0, true) }},
		{"Eval UK-1", func() { c.Eval(-1, nil, 0, true) }},
		{"Eval too many nibbles", func() { c.Eval(0, []byte{1}, 3, true) }},
		{"Encrypt short dst", func() { _, _ = c.EncryptLRICB(make([]byte, 16), make([]byte, 16), 0, []byte{0}, true) }},
		{"Decrypt short dst", func() { _, _ = c.DecryptLRICB(make([]byte, 15), make([]byte, 16), 0, []byte{0}, false) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", tc.name)
				}
			}()
			tc.f()
		})
	}
}

// FuzzLRICB decrypts arbitrary bytes (no panic; an error leaves n = 0) and
// checks that encryption round-trips.
func FuzzLRICB(f *testing.F) {
	f.Add([]byte{}, []byte{0}, true)
	f.Add(make([]byte, 16), make([]byte, 8), false)
	f.Add(bytes.Repeat([]byte{0x80}, 33), []byte{0xFF, 0xFF, 0xFF, 0xFF}, true)
	c := New(new([16]byte), 2)
	f.Fuzz(func(t *testing.T, data, ctr []byte, pad bool) {
		dst := make([]byte, len(data))
		n, err := c.DecryptLRICB(dst, data, 1, ctr, pad)
		if err != nil && n != 0 {
			t.Fatalf("DecryptLRICB = %d, %v; want n = 0 on error", n, err)
		}
		ct := make([]byte, len(data)+BlockSize)
		n, err = c.EncryptLRICB(ct, data, 1, ctr, pad)
		if err != nil {
			return
		}
		pt := make([]byte, n)
		m, err := c.DecryptLRICB(pt, ct[:n], 1, ctr, pad)
		if err != nil || !bytes.Equal(pt[:m], data) {
			t.Fatalf("round trip of %X = %X, %v", data, pt[:m], err)
		}
	})
}

// BenchmarkLRPCMAC is the per-tap cost of an LRP MAC: a fresh Cipher for a
// new session key, then CMAC_LRP of an empty message (the SDMMAC input when
// the MAC is mirrored right after PICCData).
func BenchmarkLRPCMAC(b *testing.B) {
	key := new([16]byte)
	b.ReportAllocs()
	for b.Loop() {
		m := New(key, 1).CMAC(nil)
		key[0] = m[0]
	}
}

// BenchmarkLRICBDecrypt16 decrypts one block with an 8-byte counter, the
// PICCData case, on an existing Cipher.
func BenchmarkLRICBDecrypt16(b *testing.B) {
	c := New(new([16]byte), 1)
	src := make([]byte, 16)
	dst := make([]byte, 16)
	ctr := make([]byte, 8)
	b.ReportAllocs()
	b.SetBytes(16)
	for b.Loop() {
		if _, err := c.DecryptLRICB(dst, src, 0, ctr, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLRPCMACPrecomputed is a 16-byte CMAC_LRP (an SV) on a
// long-lived Cipher with PrecomputeCMAC.
func BenchmarkLRPCMACPrecomputed(b *testing.B) {
	c := New(new([16]byte), 1)
	c.PrecomputeCMAC()
	msg := make([]byte, 16)
	b.ReportAllocs()
	for b.Loop() {
		c.CMAC(msg)
	}
}

func BenchmarkNew(b *testing.B) {
	key := new([16]byte)
	b.ReportAllocs()
	for b.Loop() {
		New(key, 2)
	}
}

func BenchmarkSDMSessionKey(b *testing.B) {
	key := new([16]byte)
	uid := []byte{0x04, 0x2E, 0x1D, 0x22, 0x2A, 0x63, 0x80}
	ctr := []byte{0x6A, 0, 0}
	b.ReportAllocs()
	for b.Loop() {
		SDMSessionKey(key, uid, ctr)
	}
}
