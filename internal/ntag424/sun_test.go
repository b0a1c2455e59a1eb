package ntag424

import (
	"bytes"
	"crypto/aes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/aescmac"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// vectorProfile builds the Profile a sun_* vector describes.
func vectorProfile(t *testing.T, v testvectors.Vector) (*Profile, error) {
	t.Helper()
	raw, err := json.Marshal(v.Input["layout"])
	if err != nil {
		t.Fatal(err)
	}
	var spec LayoutSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("layout %s: %v", raw, err)
	}
	l, err := spec.Layout()
	if err != nil {
		return nil, err
	}
	var k Keys
	k.FileRead = Key(*testvectors.Key16(t, v.Input, "sdm_file_read_key"))
	if _, ok := v.Input["sdm_meta_read_key"]; ok {
		k.MetaRead = Key(*testvectors.Key16(t, v.Input, "sdm_meta_read_key"))
	}
	return NewProfile(l, k)
}

// TestSUNVectors runs every sun_plain, sun_enc_picc and sun_encfile record
// of the shared vectors (NXP AN12196 worked examples, sdm-backend, Bolt Card,
// and their NEGATIVE mutations).
func TestSUNVectors(t *testing.T) {
	for _, v := range testvectors.Load(t, "sun_plain", "sun_enc_picc", "sun_encfile") {
		t.Run(v.ID, func(t *testing.T) {
			url := testvectors.String(v.Input, "url")
			p, err := vectorProfile(t, v)
			var r Result
			if err == nil {
				r, err = p.Verify(url)
			}
			if v.Negative() {
				if err == nil {
					t.Fatalf("Verify(%s) = ok, want an error", url)
				}
				if !reflect.DeepEqual(r, Result{}) {
					t.Errorf("Verify(%s) returned a non-zero Result with error %v", url, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify(%s) = %v (%s), want ok", url, err, reasonOf(err))
			}
			if got, want := testvectors.Upper(r.UID[:]), testvectors.String(v.Expected, "uid"); got != want {
				t.Errorf("Verify(%s) UID = %s, want %s", url, got, want)
			}
			if want, ok := v.Expected["ctr"].(float64); ok {
				if !r.Ctr.Valid || r.Ctr.Value != uint32(want) {
					t.Errorf("Verify(%s) ctr = %d (has %v), want %v", url, r.Ctr.Value, r.Ctr.Valid, want)
				}
			}
			if want, ok := v.Expected["file_data"].(string); ok {
				if got := testvectors.Upper(r.FileData()); got != want {
					t.Errorf("Verify(%s) file data = %s, want %s", url, got, want)
				}
			}
			if want, ok := v.Expected["tt_status"].(string); ok {
				if !r.HasTT || string(r.TT[:]) != want {
					t.Errorf("Verify(%s) TT = %q (has %v), want %q", url, r.TT, r.HasTT, want)
				}
			}
			if want, ok := v.Expected["picc_plaintext"].(string); ok {
				if got := testvectors.Upper([]byte{r.PICCDataTag}); got != want[:2] {
					t.Errorf("Verify(%s) PICCDataTag = %s, want %s", url, got, want[:2])
				}
			}
		})
	}
}

// TestSessionKeyVectors checks AN12196 Table 2 style SV1/SV2 and session
// keys for AES.
func TestSessionKeyVectors(t *testing.T) {
	skipped := 0
	for _, v := range testvectors.Load(t, "sdm_session_keys") {
		t.Run(v.ID, func(t *testing.T) {
			if testvectors.String(v.Input, "crypto") != "aes" {
				skipped++
				t.Skip("LRP session keys are checked in lrp_test.go")
			}
			key := testvectors.Key16(t, v.Input, "sdm_file_read_key")
			var r Result
			copy(r.UID[:], testvectors.Hex(t, v.Input, "uid"))
			le := testvectors.Hex(t, v.Input, "ctr_le")
			r.Ctr = Counter{Value: uint32(le[0]) | uint32(le[1])<<8 | uint32(le[2])<<16, Valid: true}
			var sv [16]byte
			sessionVector(&sv, CryptoAES, &r)
			m := aescmac.New(key)
			for _, c := range []struct {
				label    [2]byte
				sv, sesK string
			}{{[2]byte{0xC3, 0x3C}, "sv1", "ses_enc_key"}, {[2]byte{0x3C, 0xC3}, "sv2", "ses_mac_key"}} {
				sv[0], sv[1] = c.label[0], c.label[1]
				if want, ok := v.Expected[c.sv].(string); ok && testvectors.Upper(sv[:]) != want {
					t.Errorf("%s = %X, want %s", c.sv, sv, want)
				}
				if want, ok := v.Expected[c.sesK].(string); ok {
					if got := m.Sum(sv[:]); testvectors.Upper(got[:]) != want {
						t.Errorf("%s = %X, want %s", c.sesK, got, want)
					}
				}
			}
		})
	}
	t.Logf("%d LRP records left to the LRP tests", skipped)
}

// TestSDMMACRawVectors checks SDMMAC over a given input (AN12196 Table 5).
func TestSDMMACRawVectors(t *testing.T) {
	for _, v := range testvectors.Load(t, "sdm_mac_raw") {
		t.Run(v.ID, func(t *testing.T) {
			k := Key(*testvectors.Key16(t, v.Input, "sdm_file_read_key"))
			c, err := ParseCrypto(testvectors.String(v.Input, "crypto"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewProfile(Layout{Mode: ModePlain, Crypto: c}, Keys{FileRead: k})
			if err != nil {
				t.Fatal(err)
			}
			var r Result
			copy(r.UID[:], testvectors.Hex(t, v.Input, "uid"))
			le := testvectors.Hex(t, v.Input, "ctr_le")
			r.Ctr = Counter{Value: uint32(le[0]) | uint32(le[1])<<8 | uint32(le[2])<<16, Valid: true}
			got := p.sdmMAC(&r, testvectors.String(v.Input, "mac_input_ascii"))
			if want := testvectors.String(v.Expected, "sdmmac"); testvectors.Upper(got[:]) != want {
				t.Errorf("SDMMAC = %X, want %s", got, want)
			}
		})
	}
}

// TestPICCDecryptVectors checks PICCData decryption (AN12196 Table 3) by
// parsing what the meta key decrypts.
func TestPICCDecryptVectors(t *testing.T) {
	for _, v := range testvectors.Load(t, "picc_decrypt_raw") {
		t.Run(v.ID, func(t *testing.T) {
			c, _ := ParseCrypto(testvectors.String(v.Input, "crypto"))
			meta := Key(*testvectors.Key16(t, v.Input, "sdm_meta_read_key"))
			p, err := NewProfile(Layout{Mode: ModeEnc, Crypto: c}, Keys{MetaRead: meta})
			if err != nil {
				t.Fatal(err)
			}
			enc := testvectors.Hex(t, v.Input, "picc_enc_data")
			var pt [16]byte
			if c == CryptoLRP {
				err = p.lrp.decryptPICC(&pt, enc)
			} else {
				p.meta.Decrypt(&pt, (*[16]byte)(enc))
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := v.Expected["plaintext"].(string); ok && testvectors.Upper(pt[:]) != want {
				t.Errorf("decrypt(%X) = %X, want %s", enc, pt, want)
			}
			var r Result
			if err := parsePICCData(&pt, &r); err != nil {
				t.Fatalf("parsePICCData(%X): %v", pt, err)
			}
			if got := testvectors.Upper(r.UID[:]); got != testvectors.String(v.Expected, "uid") {
				t.Errorf("UID = %s, want %s", got, v.Expected["uid"])
			}
			if want := uint32(v.Expected["ctr"].(float64)); r.Ctr.Value != want {
				t.Errorf("ctr = %d, want %d", r.Ctr.Value, want)
			}
		})
	}
}

// TestEncFileRawVectors checks SDMENCFileData decryption (AN12196 Table 4).
func TestEncFileRawVectors(t *testing.T) {
	for _, v := range testvectors.Load(t, "sdm_encfile_raw") {
		t.Run(v.ID, func(t *testing.T) {
			c, _ := ParseCrypto(testvectors.String(v.Input, "crypto"))
			k := Key(*testvectors.Key16(t, v.Input, "sdm_file_read_key"))
			p, err := NewProfile(Layout{Mode: ModeEncFile, Crypto: c, MACInputStart: "enc"}, Keys{FileRead: k})
			if err != nil {
				t.Fatal(err)
			}
			var r Result
			copy(r.UID[:], testvectors.Hex(t, v.Input, "uid"))
			le := testvectors.Hex(t, v.Input, "ctr_le")
			r.Ctr = Counter{Value: uint32(le[0]) | uint32(le[1])<<8 | uint32(le[2])<<16, Valid: true}
			enc := testvectors.Hex(t, v.Input, "enc_file_data")
			got, err := p.decryptFile(&r, enc)
			if err != nil {
				t.Fatal(err)
			}
			if want := testvectors.String(v.Expected, "plaintext"); testvectors.Upper(got) != want {
				t.Errorf("decrypt(%X) = %X, want %s", enc, got, want)
			}
		})
	}
}

// reasonOf renders a Verify error the way the tests below spell their
// expectations: "ok", "bad_mac", "bad_format: <field>: <why>",
// "bad_picc_data: <why>", anything else "error: <text>".
func reasonOf(err error) string {
	var fe *FormatError
	var pe *PICCDataError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrBadMAC):
		return "bad_mac"
	case errors.As(err, &fe):
		return "bad_format: " + fe.Field + ": " + fe.Msg
	case errors.As(err, &pe):
		return "bad_picc_data: " + pe.Msg
	}
	return "error: " + err.Error()
}

func TestVerifyFormatErrors(t *testing.T) {
	plain, _ := NewProfile(Layout{Mode: ModePlain}, Keys{})
	tt, _ := NewProfile(Layout{Mode: ModePlain, MACInputStart: "uid", TTParam: true}, Keys{})
	for _, tc := range []struct {
		name string
		p    *Profile
		url  string
		want string
	}{
		{"no query", plain, "https://x/", "bad_format: url: no query string"},
		{"duplicate", plain, "https://x/?uid=041E3C8A2D6B80&uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3", `bad_format: url: duplicate parameter "uid"`},
		{"missing uid", plain, "https://x/?ctr=000006&cmac=4B00064004B0B3D3", `bad_format: uid: missing parameter "uid"`},
		{"short uid", plain, "https://x/?uid=041E&ctr=000006&cmac=4B00064004B0B3D3", "bad_format: uid: want 14 hex digits, got 4"},
		{"lower-case uid", plain, "https://x/?uid=041e3c8a2d6b80&ctr=000006&cmac=4B00064004B0B3D3", "bad_format: uid: not upper-case hex"},
		{"nonhex ctr", plain, "https://x/?uid=041E3C8A2D6B80&ctr=00000G&cmac=4B00064004B0B3D3", "bad_format: ctr: not upper-case hex"},
		{"tt outside", tt, "https://x/?tt=CC&uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3", "bad_format: tt: TagTamper status outside the MAC input window"},
		{"window after mac", tt, "https://x/?tt=CC&cmac=4B00064004B0B3D3&uid=041E3C8A2D6B80&ctr=000006", "bad_format: mac_input_start: window starts after the MAC"},
	} {
		_, err := tc.p.Verify(tc.url)
		if got := reasonOf(err); got != tc.want {
			t.Errorf("Verify(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := NewProfile(Layout{Mode: ModePlain, TTParam: true}, Keys{}); reasonOf(err) != "bad_format: tt: TagTamper status mirrored outside the MAC input window" {
		t.Errorf("NewProfile(tt with empty window) = %v, want a bad_format error", err)
	}
}

func TestVerifyAllocations(t *testing.T) {
	p, _ := NewProfile(Layout{Mode: ModePlain}, Keys{})
	url := "https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	if _, err := p.Verify(url); err != nil {
		t.Fatal(err)
	}
	want := 0.0
	if !aescmac.HasAESNI {
		want = 4 // the crypto/aes fallback: session key schedule, three block copies
	}
	if n := testing.AllocsPerRun(200, func() { p.Verify(url) }); n > want {
		t.Errorf("Verify allocates %v times per call, want ≤ %v", n, want)
	}
}

var sink Result

// benchVerify verifies taps as a reader delivers them: raw URL strings,
// here eight consecutive taps of one tag (the first is url, a published
// vector), so every iteration sees fresh values.
func benchVerify(b *testing.B, l Layout, k Keys, url string) {
	p, err := NewProfile(l, k)
	if err != nil {
		b.Fatal(err)
	}
	r, err := p.Verify(url)
	if err != nil {
		b.Fatal(err)
	}
	base := url[:strings.IndexByte(url, '?')]
	urls := []string{url}
	for i := uint32(1); len(urls) < 8; i++ {
		u, err := p.MirrorURL(base, TagData{UID: r.UID, Ctr: r.Ctr.Value + i, FileData: r.FileData()}, zeroReader{})
		if err != nil {
			b.Fatal(err)
		}
		urls = append(urls, u)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink, err = p.Verify(urls[i&7])
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	// The targets are ratios to one AES block in the same run.
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/aesBlockNanos(), "x-aes-block")
}

// aesBlockNanos times a dependent chain of AES-128 block encryptions
// (crypto/aes), as BenchmarkAESBlock does.
func aesBlockNanos() float64 {
	blk, _ := aes.NewCipher(make([]byte, 16))
	x := make([]byte, 16)
	const n = 1 << 20
	start := time.Now()
	for range n {
		blk.Encrypt(x, x)
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

func BenchmarkVerifyPlain(b *testing.B) {
	benchVerify(b, Layout{Mode: ModePlain}, Keys{},
		"https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3")
}

func BenchmarkVerifyEncPICC(b *testing.B) {
	benchVerify(b, Layout{Mode: ModeEnc}, Keys{},
		"https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086")
}

func BenchmarkVerifyEncFile(b *testing.B) {
	benchVerify(b, Layout{Mode: ModeEncFile, MACInputStart: "enc"}, Keys{},
		"https://www.my424dna.com/?picc_data=FD91EC264309878BE6345CBE53BADF40&enc=CEE9A53E3E463EF1F459635736738962&cmac=ECC1E7F6C6C73BF6")
}

func BenchmarkVerifyLRP(b *testing.B) {
	benchVerify(b, Layout{Mode: ModeEnc, Crypto: CryptoLRP}, Keys{},
		"https://sdm.example/tag?picc_data=1FCBE61B3E4CAD980CBFDD333E7A4AC4A579569BAFD22C5F&cmac=4231608BA7B02BA9")
}

// BenchmarkAESBlock is the floor: one AES-128 block encryption whose output
// feeds the next, a dependent chain as inside CMAC.
func BenchmarkAESBlock(b *testing.B) {
	blk, _ := aes.NewCipher(make([]byte, 16))
	x := new([16]byte)
	b.ReportAllocs()
	for b.Loop() {
		blk.Encrypt(x[:], x[:])
	}
}

var _ = bytes.Equal
