package tomlfile

import (
	"errors"
	"strings"
	"testing"
)

type testProfile struct {
	Name  string `toml:"name"`
	Mode  string `toml:"mode"`
	Key   string `toml:"sdm_file_read_key"`
	N     int    `toml:"n"`
	Names struct {
		UID string `toml:"uid"`
	} `toml:"names"`
}

type testFile struct {
	Listen  string        `toml:"listen"`
	Profile []testProfile `toml:"profile"`
}

// TestWrongTypeValueNamesLineAndKey repeats the attack of issue 13 §6: a
// value of the wrong type in a profile file gave "invalid TOML" with
// neither line nor key. The error must name both, and never quote the
// value.
func TestWrongTypeValueNamesLineAndKey(t *testing.T) {
	const secret = "00112233445566778899aabbccddeeff"
	for _, tc := range []struct {
		name, doc string
		line      int
		key       string
		msg       string
	}{
		{"integer for string", "[[profile]]\nname = \"p\"\nmode = 5\n", 3, "profile.mode", "wrong type: a TOML integer where string is expected"},
		{"string for integer", "[[profile]]\nn = \"" + secret + "\"\n", 2, "profile.n", "wrong type: a TOML string where integer is expected"},
		{"array for string", "[[profile]]\n\nsdm_file_read_key = [\"" + secret + "\"]\n", 3, "profile.sdm_file_read_key", "wrong type: a TOML array where string is expected"},
		{"nested table", "[[profile]]\n[profile.names]\nuid = 3\n", 3, "profile.names.uid", "wrong type"},
		{"top level", "listen = true\n", 1, "listen", "wrong type: a TOML boolean where string is expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f testFile
			err := Decode("tags.toml", []byte(tc.doc), &f)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode = %v (%T), want *Error", err, err)
			}
			if e.Line != tc.line || e.Key != tc.key || !strings.HasPrefix(e.Msg, tc.msg) || e.File != "tags.toml" {
				t.Errorf("Decode = %+v, want line %d key %q msg %q", e, tc.line, tc.key, tc.msg)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "incompatible") {
				t.Errorf("error quotes the decoder or the value: %v", err)
			}
		})
	}
}

func TestErrorsNeverQuoteValues(t *testing.T) {
	const secret = "00112233445566778899aabbccddeeff"
	for _, doc := range []string{
		"listen = \"" + secret + "\n", // unterminated string
		"listen = " + secret + "\n",   // bare value
		"[[profile]]\nsdm_file_read_key = \"" + secret + "\" x\n",
		"[[profile]]\nn = 99999999999999999999999\n", // out of range
	} {
		var f testFile
		err := Decode("x.toml", []byte(doc), &f)
		if err == nil {
			t.Errorf("Decode(%q) = nil", doc)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "9999999") {
			t.Errorf("Decode(%q) = %v: quotes the value", doc, err)
		}
		var e *Error
		if !errors.As(err, &e) || e.Line == 0 {
			t.Errorf("Decode(%q) = %v: no line", doc, err)
		}
	}
}

func TestUnknownKey(t *testing.T) {
	var f testFile
	err := Decode("x.toml", []byte("[[profile]]\nnmae = \"p\"\n"), &f)
	if err == nil || err.Error() != `x.toml: unknown key "profile.nmae"` {
		t.Errorf("Decode = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("[[profile]]\nname = \"p\"\nmode = 5\n")
	f.Add("listen = true\n")
	f.Fuzz(func(t *testing.T, doc string) {
		var v testFile
		err := Decode("f.toml", []byte(doc), &v)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v is %T, want *Error", err, err)
		}
	})
}
