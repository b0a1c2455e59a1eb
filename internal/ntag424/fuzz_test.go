package ntag424

import (
	"reflect"
	"testing"

	"github.com/nfcd/nfcd/internal/testvectors"
)

// FuzzVerify feeds arbitrary URLs to profiles of every mode. Invariants: no
// panic; an error comes with the zero Result and a machine-readable reason;
// a success is reproducible.
func FuzzVerify(f *testing.F) {
	for _, v := range testvectors.Load(f, "sun_plain", "sun_enc_picc", "sun_encfile") {
		f.Add(testvectors.String(v.Input, "url"))
	}
	f.Add("https://x/?uid=&ctr=&cmac=")
	f.Add("?&&&==&#?")
	f.Add("https://x/?tt=CC&uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3#frag")
	var profiles []*Profile
	for _, l := range []Layout{
		{Mode: ModePlain},
		{Mode: ModePlain, MACInputStart: "uid", TTParam: true},
		{Mode: ModeEnc},
		{Mode: ModeEnc, Names: Names{PICCData: "e", CMAC: "c"}},
		{Mode: ModeEncFile, MACInputStart: "enc", TTInEnc: true},
		{Mode: ModeEnc, Crypto: CryptoLRP},
		{Mode: ModeEncFile, Crypto: CryptoLRP, MACInputStart: "enc"},
	} {
		p, err := NewProfile(l, Keys{})
		if err != nil {
			f.Fatal(err)
		}
		profiles = append(profiles, p)
	}
	f.Fuzz(func(t *testing.T, url string) {
		for _, p := range profiles {
			r, err := p.Verify(url)
			if err != nil {
				if !reflect.DeepEqual(r, Result{}) {
					t.Fatalf("Verify(%q) = %+v with error %v, want the zero Result", url, r, err)
				}
				if reason := Reason(err); reason == "ok" || reason[:4] == "erro" {
					t.Fatalf("Verify(%q) error %v has reason %q", url, err, reason)
				}
				continue
			}
			if r2, err2 := p.Verify(url); err2 != nil || !reflect.DeepEqual(r2, r) {
				t.Fatalf("Verify(%q) not reproducible: %+v, %v", url, r2, err2)
			}
		}
	})
}
