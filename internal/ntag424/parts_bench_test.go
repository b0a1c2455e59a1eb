package ntag424

// Breakdown benchmarks of one plain verify: URL parsing and parameter
// matching, and the session key derivation plus SDMMAC.

import "testing"

func BenchmarkPartLocate(b *testing.B) {
	b.ReportAllocs()
	p, _ := NewProfile(Layout{Mode: ModePlain}, Keys{})
	url := "https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	var q query
	for b.Loop() {
		p.locate(url, &q)
	}
}

func BenchmarkPartParse(b *testing.B) {
	b.ReportAllocs()
	url := "https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	var q query
	for b.Loop() {
		parseQuery(url, &q)
	}
}

func BenchmarkPartMAC(b *testing.B) {
	b.ReportAllocs()
	p, _ := NewProfile(Layout{Mode: ModePlain}, Keys{})
	var w work
	var r Result
	r.Ctr.Valid = true
	for b.Loop() {
		sessionVector(&w.sv, CryptoAES, &r)
		p.verifyAES(&w, nil, "", &r)
	}
}
