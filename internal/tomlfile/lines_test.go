package tomlfile

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

const linesDoc = `# nfcd.toml
listen = "127.0.0.1:7424"   # a comment with = in it
allowed_origins = [
  "https://a.example",   # [not a table]
  "https://b.example",
]
"quoted key" = 1
note = """
fake = "inside a multi-line string"
[not.a.table]
"""

[log]
level = "debug"

[[profile]]
name = "first"
sdm_file_read_key = "00"

[[profile]]
name = "second"
mode = "enc"
[profile.names]
cmac = "c"

[a . "b.c"]
d.e = 2
`

func TestLines(t *testing.T) {
	l := Index([]byte(linesDoc))
	for key, want := range map[string]int{
		"listen":                       2,
		"allowed_origins":              3,
		"quoted key":                   7,
		"note":                         8,
		"fake":                         0,
		"not.a.table":                  0,
		"log":                          13,
		"log.level":                    14,
		"log.format":                   13, // not set: its table
		"profile[0]":                   16,
		"profile[0].name":              17,
		"profile[0].sdm_file_read_key": 18,
		"profile[1].name":              21,
		"profile[1].mode":              22,
		"profile[1].sdm_file_read_key": 20,
		"profile[1].names":             23,
		"profile[1].names.cmac":        24,
		"profile[1].names.uid":         23,
		"a.b.c.d.e":                    27,
		"profile[2].name":              0,
		"nowhere":                      0,
	} {
		if got := l.Line(key); got != want {
			t.Errorf("Line(%q) = %d, want %d", key, got, want)
		}
	}
	if got := l.Find("profile.name"); !slices.Equal(got, []int{17, 21}) {
		t.Errorf("Find(profile.name) = %v, want [17 21]", got)
	}
	if got := l.Find("profile.names.cmac"); !slices.Equal(got, []int{24}) {
		t.Errorf("Find(profile.names.cmac) = %v, want [24]", got)
	}
}

// A broken document still indexes what precedes the break.
func TestLinesBroken(t *testing.T) {
	l := Index([]byte("listen = \"x\"\nbad = [\n[[profile]]\nname = 1\n"))
	if l.Line("listen") != 1 || l.Line("bad") != 2 {
		t.Errorf("lines of a broken document: listen %d, bad %d", l.Line("listen"), l.Line("bad"))
	}
}

type keysDuration struct{ time.Duration }

func (d *keysDuration) UnmarshalText([]byte) error { return nil }

type keysInner struct {
	Mode  string `toml:"mode"`
	Names struct {
		CMAC string `toml:"cmac"`
	} `toml:"names"`
}

type keysProfile struct {
	Name string `toml:"name"`
	keysInner
	KeyFile string `toml:"key_file"`
}

type keysDoc struct {
	Listen string       `toml:"listen"`
	Age    keysDuration `toml:"age"`
	Skip   string       `toml:"-"`
	Log    *struct {
		Level string `toml:"level"`
	} `toml:"log"`
	Profiles []keysProfile `toml:"profile"`
	hidden   int
}

func TestKeys(t *testing.T) {
	want := []string{"listen", "age", "log.level", "profile.name", "profile.mode", "profile.names.cmac", "profile.key_file"}
	if got := Keys(keysDoc{}); !reflect.DeepEqual(got, want) {
		t.Errorf("Keys = %q\nwant   %q", got, want)
	}
	_ = keysDoc{}.hidden
}

func TestUnknown(t *testing.T) {
	doc := "listen = \"x\"\nlisen = 1\n[[profile]]\nnmae = \"a\"\n[[profile]]\nnmae = \"b\"\n[remote.other]\nx = 1\ny = 2\n"
	var v keysDoc
	got := Unknown([]byte(doc), &v)
	want := []string{"lisen", "profile.nmae", "remote.other"}
	if !slices.Equal(got, want) {
		t.Errorf("Unknown = %q, want %q", got, want)
	}
	if got := Unknown([]byte("listen = "), &v); got != nil {
		t.Errorf("Unknown of a broken document = %q, want nil", got)
	}
}
