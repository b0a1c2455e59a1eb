package ntag424

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/lrp"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// templateOf turns a SUN URL back into the template a personaliser would
// have written: the value of every mirrored parameter becomes its
// placeholder.
func templateOf(t *testing.T, url string, l Layout) string {
	t.Helper()
	l, err := l.validate()
	if err != nil {
		t.Fatal(err)
	}
	ph := map[string]string{l.Names.UID: phUID, l.Names.Ctr: phCtr, l.Names.PICCData: phPICCData, l.Names.Enc: phEnc, l.Names.CMAC: phCMAC}
	q := strings.IndexByte(url, '?')
	var b strings.Builder
	b.WriteString(url[:q+1])
	for i, kv := range strings.Split(url[q+1:], "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		name, _, _ := strings.Cut(kv, "=")
		if p, ok := ph[name]; ok {
			b.WriteString(name + "={" + p + "}")
		} else {
			b.WriteString(kv)
		}
	}
	return b.String()
}

// fixedReader returns its bytes, then fails.
type fixedReader struct{ b []byte }

func (r *fixedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("fixedReader exhausted")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestMirrorFileVectors personalises a file for every SUN vector whose
// randomness can be recovered (the PICCData padding of AES vectors that
// print their plaintext, the PICCRand and padding of LRP ones, none in
// plain mode) and checks that the tag side mirrors exactly the vector's
// URL: PlanSDM's offsets and MirrorFile's SDM against the NXP AN12196
// worked examples, sdm-backend and Bolt Card.
func TestMirrorFileVectors(t *testing.T) {
	n := 0
	for _, v := range testvectors.Load(t, "sun_plain", "sun_enc_picc", "sun_encfile") {
		if v.Negative() {
			continue
		}
		url := testvectors.String(v.Input, "url")
		raw, _ := json.Marshal(v.Input["layout"])
		var spec LayoutSpec
		if err := json.Unmarshal(raw, &spec); err != nil {
			t.Fatal(err)
		}
		l, err := spec.Layout()
		if err != nil {
			t.Fatal(err)
		}
		if l.TTInEnc || l.TTParam {
			continue // no TagTamper on NT4H2421Gx
		}
		var keys [5]Key
		keys[2] = Key(*testvectors.Key16(t, v.Input, "sdm_file_read_key"))
		if _, ok := v.Input["sdm_meta_read_key"]; ok {
			keys[1] = Key(*testvectors.Key16(t, v.Input, "sdm_meta_read_key"))
		}
		var rnd []byte
		if l.Mode != ModePlain {
			prof, err := NewProfile(l, Keys{FileRead: keys[2], MetaRead: keys[1]})
			if err != nil {
				t.Fatal(err)
			}
			var q query
			ps, err := prof.locate(url, &q)
			if err != nil {
				t.Fatal(err)
			}
			picc, _ := hex.DecodeString(url[ps.picc.start:ps.picc.end])
			switch {
			case l.Crypto == CryptoLRP:
				pt := make([]byte, 16)
				if _, err := lrp.New((*[16]byte)(&keys[1]), 1).DecryptLRICB(pt, picc[8:], 0, picc[:8], false); err != nil {
					t.Fatal(err)
				}
				rnd = append(pt, picc[:8]...)
			case v.Expected["picc_plaintext"] != nil:
				rnd = testvectors.Hex(t, v.Expected, "picc_plaintext")
			default:
				continue
			}
		}
		var fileData []byte
		if l.Mode == ModeEncFile {
			fileData = testvectors.Hex(t, v.Expected, "file_data")
		}
		t.Run(v.ID, func(t *testing.T) {
			tmpl := templateOf(t, url, l)
			plan, err := PlanSDM(tmpl, l, SDMKeyNos{MetaRead: 1, FileRead: 2, CtrRet: AccessNever}, fileData)
			if err != nil {
				t.Fatalf("PlanSDM(%s) = %v", tmpl, err)
			}
			uid := [UIDLen]byte(testvectors.Hex(t, v.Expected, "uid"))
			ctr := uint32(v.Expected["ctr"].(float64))
			static := make([]byte, NDEFFileSize)
			copy(static, plan.File)
			dyn, err := MirrorFile(static, &plan.SDM, l.Crypto, &keys, uid, ctr, &fixedReader{rnd})
			if err != nil {
				t.Fatalf("MirrorFile = %v", err)
			}
			got, err := URLOf(dyn)
			if err != nil || got != url {
				t.Errorf("template %s mirrors\n %s (%v), want\n %s\nsettings %+v", tmpl, got, err, url, plan.SDM)
			}
		})
		n++
	}
	if n < 8 {
		t.Errorf("only %d vectors reproduced; the vector file must have lost some", n)
	}
}

// TestPlanSDMTable19 checks the offsets against AN12196 Table 19, whose
// ChangeFileSettings enables SUN for the NDEF message of Table 17
// ("https://choose.url.com/ntag424?e=…&c=…"): PICCDataOffset 32,
// SDMMACInputOffset and SDMMACOffset 67, SDMMetaRead key 2, SDMFileRead
// key 1, SDMCtrRet key 1.
func TestPlanSDMTable19(t *testing.T) {
	l := Layout{Mode: ModeEnc, Names: Names{PICCData: "e", CMAC: "c"}}
	plan, err := PlanSDM("https://choose.url.com/ntag424?e={picc_data}&c={cmac}", l, SDMKeyNos{MetaRead: 2, FileRead: 1, CtrRet: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := FileSettings{CommMode: CommPlain, Access: AccessRights{Read: AccessFree, Write: 0, ReadWrite: 0, Change: 0}, SDM: &plan.SDM}
	got, err := fs.AppendChangeData(nil)
	if err != nil {
		t.Fatal(err)
	}
	// AN12196 Table 19 step 2, the shared vector an12196-t19-changefilesettings-full.
	if want := "4000E0C1F121200000430000430000"; testvectors.Upper(got) != want {
		t.Errorf("ChangeFileSettings data = %s, want %s", testvectors.Upper(got), want)
	}
	// Table 17: the NDEF file is NLEN 0051, D1 01 4D 55 04 "choose.url.com/ntag424?e=" …
	if want := "0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D"; !strings.HasPrefix(testvectors.Upper(plan.File), want) {
		t.Errorf("NDEF file = %X, want prefix %s", plan.File, want)
	}
}

func TestPlanSDMErrors(t *testing.T) {
	enc := Layout{Mode: ModeEnc}
	keys := SDMKeyNos{MetaRead: 1, FileRead: 2, CtrRet: AccessNever}
	for _, tc := range []struct {
		name, tmpl string
		l          Layout
		data       []byte
	}{
		{"missing cmac", "https://a.example/?picc_data={picc_data}", enc, nil},
		{"missing picc", "https://a.example/?cmac={cmac}", enc, nil},
		{"uid in enc mode", "https://a.example/?uid={uid}&picc_data={picc_data}&cmac={cmac}", enc, nil},
		{"unknown", "https://a.example/?x={nonce}&picc_data={picc_data}&cmac={cmac}", enc, nil},
		{"tt", "https://a.example/?picc_data={picc_data}&tt={tt}&cmac={cmac}", enc, nil},
		{"wrong name", "https://a.example/?p={picc_data}&cmac={cmac}", enc, nil},
		{"partial value", "https://a.example/?picc_data=x{picc_data}&cmac={cmac}", enc, nil},
		{"value continues", "https://a.example/?picc_data={picc_data}x&cmac={cmac}", enc, nil},
		{"twice", "https://a.example/?picc_data={picc_data}&cmac={cmac}&cmac={cmac}", enc, nil},
		{"unclosed", "https://a.example/?picc_data={picc_data&cmac={cmac}", enc, nil},
		{"stray brace", "https://a.example/}?picc_data={picc_data}&cmac={cmac}", enc, nil},
		{"not in query", "https://a.example/picc_data={picc_data}?cmac={cmac}", enc, nil},
		{"too long", "https://a.example/" + strings.Repeat("x", 220) + "?picc_data={picc_data}&cmac={cmac}", enc, nil},
		{"enc before mac input", "https://a.example/?enc={enc}&picc_data={picc_data}&cmac={cmac}", Layout{Mode: ModeEncFile, MACInputStart: "picc_data"}, make([]byte, 16)},
		{"enc without data", "https://a.example/?picc_data={picc_data}&enc={enc}&cmac={cmac}", Layout{Mode: ModeEncFile, MACInputStart: "enc"}, nil},
		{"ctr when the layout has none", "https://a.example/?uid={uid}&ctr={ctr}&cmac={cmac}", Layout{Mode: ModePlain, NoCtr: true}, nil},
		{"mac input names nothing", "https://a.example/?picc_data={picc_data}&cmac={cmac}", Layout{Mode: ModeEnc, MACInputStart: "nonce"}, nil},
		{"tagtamper layout", "https://a.example/?picc_data={picc_data}&enc={enc}&cmac={cmac}", Layout{Mode: ModeEncFile, MACInputStart: "enc", TTInEnc: true}, make([]byte, 16)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PlanSDM(tc.tmpl, tc.l, keys, tc.data)
			var te *TemplateError
			var fe *FormatError
			if err == nil || (!errors.As(err, &te) && !errors.As(err, &fe)) {
				t.Errorf("PlanSDM(%s) = %+v, %v; want a *TemplateError", tc.tmpl, p, err)
			}
		})
	}
}

// TestMirrorFileEveryMode plans and mirrors each mode and crypto with
// non-trivial keys in unusual slots and a MAC window that starts at a
// parameter, and checks the result verifies under the matching profile.
func TestMirrorFileEveryMode(t *testing.T) {
	var keys [5]Key
	for i := range keys {
		keys[i] = Key(bytes.Repeat([]byte{byte(0x11 * (i + 1))}, 16))
	}
	uid := [UIDLen]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	for _, tc := range []struct {
		mode Mode
		tmpl string
		mac  string
		noCt bool
	}{
		{ModePlain, "https://t.example/p?uid={uid}&ctr={ctr}&cmac={cmac}", "uid", false},
		{ModePlain, "https://t.example/p?uid={uid}&cmac={cmac}", "", true},
		{ModeEnc, "https://t.example/e?picc_data={picc_data}&cmac={cmac}", "", false},
		{ModeEnc, "https://t.example/e?x=1&picc_data={picc_data}&cmac={cmac}#frag", "picc_data", false},
		{ModeEncFile, "https://t.example/f?picc_data={picc_data}&enc={enc}&cmac={cmac}", "enc", false},
		{ModeEncFile, "lnurlw://t.example/f?picc_data={picc_data}&enc={enc}&cmac={cmac}", "picc_data", false},
	} {
		for _, c := range []Crypto{CryptoAES, CryptoLRP} {
			l := Layout{Mode: tc.mode, Crypto: c, MACInputStart: tc.mac, NoCtr: tc.noCt}
			data := []byte("nfcd personalise" + "d with 32 bytes!")
			plan, err := PlanSDM(tc.tmpl, l, SDMKeyNos{MetaRead: 3, FileRead: 4, CtrRet: AccessFree}, data)
			if err != nil {
				t.Fatalf("PlanSDM(%s, %v) = %v", tc.tmpl, c, err)
			}
			prof, err := NewProfile(l, Keys{MetaRead: keys[3], FileRead: keys[4]})
			if err != nil {
				t.Fatal(err)
			}
			for ctr := uint32(1); ctr <= 3; ctr++ {
				dyn, err := MirrorFile(plan.File, &plan.SDM, c, &keys, uid, ctr, &fixedReader{bytes.Repeat([]byte{byte(ctr)}, 64)})
				if err != nil {
					t.Fatalf("MirrorFile(%s, %v) = %v", tc.tmpl, c, err)
				}
				url, err := URLOf(dyn)
				if err != nil {
					t.Fatal(err)
				}
				r, err := prof.Verify(url)
				if err != nil || r.UID != uid || (r.Ctr.Valid != !tc.noCt) || (r.Ctr.Valid && r.Ctr.Value != ctr) {
					t.Errorf("%v %s: Verify(%s) = %+v, %v", c, tc.tmpl, url, r, err)
				}
				if tc.mode == ModeEncFile && !bytes.Equal(r.FileData(), data) {
					t.Errorf("%v %s: file data %q, want %q", c, tc.tmpl, r.FileData(), data)
				}
				// A wrong SDMFileReadKey must not verify.
				bad := keys
				bad[4][0] ^= 1
				dyn, _ = MirrorFile(plan.File, &plan.SDM, c, &bad, uid, ctr, &fixedReader{bytes.Repeat([]byte{1}, 64)})
				url, _ = URLOf(dyn)
				if _, err := prof.Verify(url); !errors.Is(err, ErrBadMAC) {
					t.Errorf("%v %s: wrong key verified: %v", c, tc.tmpl, err)
				}
			}
		}
	}
}

// BenchmarkMirrorFile is the tag side of one SUN read (the virtual tag's
// cost per tap), AES and LRP.
func BenchmarkMirrorFile(b *testing.B) {
	keys := [5]Key{1: {1}, 2: {2}}
	for _, c := range []Crypto{CryptoAES, CryptoLRP} {
		plan, err := PlanSDM("https://t.example/?picc_data={picc_data}&cmac={cmac}", Layout{Mode: ModeEnc, Crypto: c}, SDMKeyNos{MetaRead: 1, FileRead: 2, CtrRet: AccessNever}, nil)
		if err != nil {
			b.Fatal(err)
		}
		static := make([]byte, NDEFFileSize)
		copy(static, plan.File)
		rnd := bytes.NewReader(nil)
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(NDEFFileSize)
			for b.Loop() {
				rnd.Reset(make([]byte, 24))
				if _, err := MirrorFile(static, &plan.SDM, c, &keys, [UIDLen]byte{4}, 1, rnd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
