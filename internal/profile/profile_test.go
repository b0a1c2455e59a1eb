package profile

import (
	"errors"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
)

const boltURL = "lnurlw://card.example/ln?p=4E2E289D945A66BB13377A728884E867&c=E19CCB1FED8892CE"

func TestParseAndMatch(t *testing.T) {
	set, err := Parse("tags.toml", []byte(`
[[profile]]
name = "bolt"
match = "LNURLW://CARD.example/ln"
mode = "enc"
sdm_meta_read_key = "0C3B25D92B38AE443229DD59AD34B85D"
sdm_file_read_key = "B45775776CB224C75BCDE7CA3704E933"
[profile.names]
picc_data = "p"
cmac = "c"

[[profile]]
name = "catch-all"
mode = "plain"
sdm_file_read_key = "00000000000000000000000000000000"
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := set.Match(boltURL)
	if err != nil || p.Name != "bolt" {
		t.Fatalf("Match(%s) = %v, %v; want bolt (scheme and host compare case-insensitively)", boltURL, p, err)
	}
	if o := set.Verify(boltURL); !o.Authentic() || o.Profile != "bolt" || o.Result.Ctr != ntag424.CounterOf(3) {
		t.Errorf("Verify = %+v; want authentic under bolt, counter 3", o)
	}
	if p, _ := set.Match("lnurlw://card.example/LN?x"); p == nil || p.Name != "catch-all" {
		t.Errorf("path case must matter: got %v", p)
	}
	if _, err := (Set{}).Match(boltURL); !errors.Is(err, ErrNoMatch) {
		t.Errorf("empty set: %v, want ErrNoMatch", err)
	}
}

// TestErrorsNeverQuoteKeys: whatever is wrong with a file, the error names
// the place, never the key material around it.
func TestErrorsNeverQuoteKeys(t *testing.T) {
	const secret = "0C3B25D92B38AE443229DD59AD34B8"
	for name, body := range map[string]string{
		"short key":    "[[profile]]\nmode = \"plain\"\nsdm_file_read_key = \"" + secret + "\"\n",
		"non-hex key":  "[[profile]]\nmode = \"plain\"\nsdm_file_read_key = \"" + secret + "ZZ\"\n",
		"syntax error": "[[profile]]\nmode = \"plain\"\nsdm_file_read_key = " + secret + "\n",
		"unknown key":  "[[profile]]\nmode = \"plain\"\nsdm_file_read_key = \"" + secret + "00\"\nkey = \"" + secret + "\"\n",
	} {
		_, err := Parse("f.toml", []byte(body))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret[:16]) {
			t.Errorf("%s: error quotes key material: %v", name, err)
		}
	}
	if _, err := Parse("f.toml", []byte("# nothing\n")); err == nil {
		t.Error("a file without [[profile]] was accepted")
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("k", "", false); err == nil {
		t.Error("missing key accepted")
	}
	if k, err := ParseKey("k", "", true); err != nil || k != [16]byte{} {
		t.Errorf("default key = %X, %v", k, err)
	}
	var ke *KeyError
	if _, err := ParseKey("k", "00", false); !errors.As(err, &ke) || ke.Field != "k" {
		t.Errorf("short key: %v", err)
	}
}

// TestSetVerifyAllocations pins the tap path's local verification at zero
// allocations for an authentic URL: Set.Verify adds the profile match and
// the verdict vocabulary around ntag424's allocation-free Verify.
func TestSetVerifyAllocations(t *testing.T) {
	set, err := Parse("p.toml", []byte(`[[profile]]
name = "p"
match = "https://sdm.example/"
mode = "plain"
sdm_file_read_key = "00000000000000000000000000000000"
`))
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	if o := set.Verify(url); !o.Authentic() {
		t.Fatalf("Verify = %+v", o)
	}
	if n := testing.AllocsPerRun(100, func() { set.Verify(url) }); n != 0 {
		t.Errorf("Set.Verify allocates %.0f times per authentic URL, want 0", n)
	}
}

func BenchmarkSetVerify(b *testing.B) {
	set, _ := Parse("p.toml", []byte("[[profile]]\nname = \"p\"\nmatch = \"https://sdm.example/\"\nmode = \"plain\"\nsdm_file_read_key = \"00000000000000000000000000000000\"\n"))
	const url = "https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	b.ReportAllocs()
	for b.Loop() {
		set.Verify(url)
	}
}
