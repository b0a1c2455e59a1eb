package ntag424

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// randomProfile draws a random layout and random keys.
func randomProfile(t *testing.T, rng *mrand.Rand) (*Profile, TagData) {
	t.Helper()
	var k Keys
	for i := range k.FileRead {
		k.FileRead[i], k.MetaRead[i] = byte(rng.Uint32()), byte(rng.Uint32())
	}
	l := Layout{Mode: Mode(1 + rng.IntN(3))}
	if rng.IntN(4) == 0 {
		l.Crypto = CryptoLRP
	}
	if rng.IntN(3) == 0 {
		l.Names = Names{UID: "u", Ctr: "c2", CMAC: "m", PICCData: "p", Enc: "e", TT: "t"}
	}
	var d TagData
	for i := range d.UID {
		d.UID[i] = byte(rng.Uint32())
	}
	d.Ctr = rng.Uint32N(1 << 24)
	d.TT = [2]byte{"CIO"[rng.IntN(3)], "CIO"[rng.IntN(3)]}
	switch l.Mode {
	case ModePlain:
		l.NoCtr = rng.IntN(5) == 0
		l.MACInputStart = []string{"cmac", "uid", "ctr"}[rng.IntN(3)]
		if l.NoCtr && l.MACInputStart == "ctr" {
			l.MACInputStart = "uid"
		}
	case ModeEnc:
		d.NoCtr = rng.IntN(5) == 0
		l.MACInputStart = []string{"cmac", "picc_data"}[rng.IntN(2)]
	case ModeEncFile:
		l.MACInputStart = []string{"picc_data", "enc"}[rng.IntN(2)]
		d.FileData = make([]byte, 16*(1+rng.IntN(3)))
		for i := range d.FileData {
			d.FileData[i] = byte(rng.Uint32())
		}
		if rng.IntN(2) == 0 {
			l.TTInEnc, l.TTInEncOffset = true, rng.IntN(len(d.FileData)-1)
		}
	}
	if l.MACInputStart != "cmac" && rng.IntN(2) == 0 {
		l.TTParam = true
	}
	if rng.IntN(4) == 0 {
		k.Diversify = true
		k.DivInput = []byte{0x30, 0x42, 0xF5}
	}
	p, err := NewProfile(l, k)
	if err != nil {
		t.Fatalf("NewProfile(%+v): %v", l, err)
	}
	return p, d
}

// TestMirrorRoundTrip builds SUN URLs for random keys, UIDs, counters and
// layouts with MirrorURL, verifies them, and requires every single-bit and
// single-character mutation of the query to be rejected.
func TestMirrorRoundTrip(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	cases, lrpCases := 150, 0
	if testing.Short() {
		cases = 30
	}
	for n := 0; n < cases; n++ {
		p, d := randomProfile(t, rng)
		if p.layout.Crypto == CryptoLRP {
			// An LRP verify costs ~200 AES key schedules: mutate fewer.
			if lrpCases++; lrpCases > 12 {
				continue
			}
		}
		url, err := p.MirrorURL("https://tags.example/t", d, rand.Reader)
		if err != nil {
			t.Fatalf("MirrorURL(%+v): %v", p.layout, err)
		}
		r, err := p.Verify(url)
		if err != nil {
			t.Fatalf("Verify(%s) with layout %+v: %v", url, p.layout, err)
		}
		if r.UID != d.UID {
			t.Errorf("Verify(%s) UID = %X, want %X", url, r.UID, d.UID)
		}
		wantCtr := !d.NoCtr && !p.layout.NoCtr
		if r.Ctr.Valid != wantCtr || (wantCtr && r.Ctr.Value != d.Ctr) {
			t.Errorf("Verify(%s) ctr = %d/%v, want %d/%v", url, r.Ctr.Value, r.Ctr.Valid, d.Ctr, wantCtr)
		}
		if p.layout.TTParam || p.layout.TTInEnc {
			if !r.HasTT || r.TT != d.TT {
				t.Errorf("Verify(%s) TT = %q/%v, want %q", url, r.TT, r.HasTT, d.TT)
			}
		}
		if p.layout.Mode == ModeEncFile {
			want := append([]byte(nil), d.FileData...)
			if p.layout.TTInEnc {
				copy(want[p.layout.TTInEncOffset:], d.TT[:])
			}
			if !bytes.Equal(r.FileData(), want) {
				t.Errorf("Verify(%s) file data = %X, want %X", url, r.FileData(), want)
			}
		}
		q := bytes.IndexByte([]byte(url), '?')
		b := []byte(url)
		for i := q; i < len(b); i++ {
			orig := b[i]
			for bit := 0; bit < 8; bit++ {
				b[i] = orig ^ 1<<bit
				if _, err := p.Verify(string(b)); err == nil {
					t.Fatalf("Verify accepted %q: bit %d of byte %d flipped in %s (layout %+v)", b, bit, i, url, p.layout)
				}
			}
			for _, c := range []byte("0A9F&=?#x") {
				if c == orig {
					continue
				}
				b[i] = c
				if _, err := p.Verify(string(b)); err == nil {
					t.Fatalf("Verify accepted %q: byte %d replaced in %s", b, i, url)
				}
			}
			b[i] = orig
		}
	}
}

// TestReplayedCounterMAC pins the attack the counter defends against: the
// MAC of counter n does not verify with counter n+1.
func TestReplayedCounterMAC(t *testing.T) {
	p, _ := NewProfile(Layout{Mode: ModePlain}, Keys{})
	url, err := p.MirrorURL("https://x.example/", TagData{UID: [7]byte{4, 1, 2, 3, 4, 5, 6}, Ctr: 6}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Replace([]byte(url), []byte("ctr=000006"), []byte("ctr=000007"), 1)
	if _, err := p.Verify(string(forged)); !errors.Is(err, ErrBadMAC) {
		t.Errorf("Verify(%s) = %v, want ErrBadMAC", forged, err)
	}
}
