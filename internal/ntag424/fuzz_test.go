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
	var warm []string
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
		d := TagData{UID: [7]byte{4, 1, 2, 3, 4, 5, 6}, Ctr: 7, TT: [2]byte{'C', 'C'}, FileData: make([]byte, 16)}
		u, err := p.MirrorURL("https://x.example/t", d, zeroReader{})
		if err != nil {
			f.Fatal(err)
		}
		profiles = append(profiles, p)
		warm = append(warm, u)
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, url string) {
		for i, p := range profiles {
			// Warm the shape cache with a valid URL, then check that the
			// cached fast path and the full parse agree on everything.
			if _, err := p.Verify(warm[i]); err != nil {
				t.Fatalf("warm-up %s: %v", warm[i], err)
			}
			r, err := p.Verify(url)
			var cold work
			var rc Result
			errc := p.verifyCold(url, &cold, &rc)
			if reasonOf(err) != reasonOf(errc) || (err == nil && !reflect.DeepEqual(r, rc)) {
				t.Fatalf("Verify(%q) = %+v, %q with the shape cache, %+v, %q without", url, r, reasonOf(err), rc, reasonOf(errc))
			}
			if err != nil {
				if !reflect.DeepEqual(r, Result{}) {
					t.Fatalf("Verify(%q) = %+v with error %v, want the zero Result", url, r, err)
				}
				if reason := reasonOf(err); reason == "ok" || reason[:4] == "erro" {
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

// zeroReader supplies zero "random" bytes, for deterministic seeds.
type zeroReader struct{}

func (zeroReader) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// verifyCold verifies without the shape cache: the full parse.
func (p *Profile) verifyCold(rawURL string, w *work, r *Result) error {
	var q query
	ps, err := p.locate(rawURL, &q)
	if err != nil {
		return err
	}
	if err := p.verifyAt(rawURL, ps, w, r); err != nil {
		*r = Result{}
		return err
	}
	return nil
}
