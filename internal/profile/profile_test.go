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

func TestTagKeys(t *testing.T) {
	const base = "[[profile]]\nname = \"p\"\nmode = \"enc\"\nsdm_meta_read_key = \"11111111111111111111111111111111\"\nsdm_file_read_key = \"22222222222222222222222222222222\"\n"
	specs, err := ParseSpecs("f.toml", []byte(base+"app_master_key = \"00000000000000000000000000000A00\"\nkey4 = \"44444444444444444444444444444444\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := specs[0].TagKeys()
	if err != nil {
		t.Fatal(err)
	}
	if tk.AppMaster[14] != 0x0A || tk.MetaReadNo != 1 || tk.FileReadNo != 2 || tk.Key3 != nil || tk.Key4 == nil || tk.Key4[0] != 0x44 {
		t.Errorf("TagKeys = %+v", tk)
	}
	for name, extra := range map[string]string{
		"no app master":      "",
		"app master = file":  "app_master_key = \"22222222222222222222222222222222\"\n",
		"app master = meta":  "app_master_key = \"11111111111111111111111111111111\"\n",
		"slot 0":             "app_master_key = \"0A000000000000000000000000000000\"\nsdm_file_read_key_no = 0\n",
		"slot 5":             "app_master_key = \"0A000000000000000000000000000000\"\nsdm_meta_read_key_no = 5\n",
		"same slots":         "app_master_key = \"0A000000000000000000000000000000\"\nsdm_meta_read_key_no = 2\n",
		"key3 over SDM slot": "app_master_key = \"0A000000000000000000000000000000\"\nsdm_file_read_key_no = 3\nkey3 = \"33333333333333333333333333333333\"\n",
		"short key4":         "app_master_key = \"0A000000000000000000000000000000\"\nkey4 = \"4444\"\n",
	} {
		specs, err := ParseSpecs("f.toml", []byte(base+extra))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var ke *KeyError
		if _, err := specs[0].TagKeys(); !errors.As(err, &ke) {
			t.Errorf("%s: TagKeys = %v, want a *KeyError", name, err)
		} else if strings.Contains(err.Error(), "2222") || strings.Contains(err.Error(), "1111") {
			t.Errorf("%s: error quotes key material: %v", name, err)
		}
	}
	// Plain mode has no SDMMetaReadKey: the slots may coincide.
	plain := "[[profile]]\nmode = \"plain\"\nsdm_file_read_key = \"22222222222222222222222222222222\"\napp_master_key = \"0A000000000000000000000000000000\"\nsdm_meta_read_key_no = 2\n"
	specs, _ = ParseSpecs("f.toml", []byte(plain))
	if _, err := specs[0].TagKeys(); err != nil {
		t.Errorf("plain mode: %v", err)
	}
}

// TestDisplay: the kiosk page's display keys are optional, kept with the
// compiled profile, and a logo must be an http(s) URL.
func TestDisplay(t *testing.T) {
	const keys = "mode = \"plain\"\nsdm_file_read_key = \"00000000000000000000000000000000\"\n"
	set, err := Parse("tags.toml", []byte("[[profile]]\nname = \"shoes\"\ndisplay_name = \"Acme running shoes\"\nlogo_url = \"https://brand.example/logo.svg\"\n"+keys))
	if err != nil {
		t.Fatal(err)
	}
	if d := set[0].Display; d.DisplayName != "Acme running shoes" || d.LogoURL != "https://brand.example/logo.svg" {
		t.Errorf("Display = %+v", d)
	}
	for _, bad := range []string{`logo_url = "javascript:alert(1)"`, `logo_url = "/logo.svg"`, `logo_url = "https://u:p@brand.example/x.png"`,
		`display_name = "` + strings.Repeat("x", MaxDisplayName+1) + `"`} {
		if _, err := Parse("tags.toml", []byte("[[profile]]\n"+bad+"\n"+keys)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
