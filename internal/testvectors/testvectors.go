// Package testvectors loads the shared NTAG 424 DNA known-answer vectors
// (../shared/testvectors/ntag424.json beside the module root) for tests.
//
// The file is always present on build machines, so a missing file is a test
// failure, never a silent skip.
package testvectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Vector is one record of ntag424.json.
type Vector struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Category string         `json:"category"`
	Source   string         `json:"source"`
	Note     string         `json:"note"`
	Input    map[string]any `json:"input"`
	Expected map[string]any `json:"expected"`
}

// Negative reports whether v is a NEGATIVE record: one whose input must be refused.
func (v Vector) Negative() bool { return strings.HasPrefix(v.Name, "NEGATIVE:") }

// Path returns the location of ntag424.json: $NFCD_TESTVECTORS if set,
// otherwise ../shared/testvectors/ntag424.json next to the module root.
func Path() (string, error) {
	if p := os.Getenv("NFCD_TESTVECTORS"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "testvectors", "ntag424.json"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testvectors: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Load returns every vector of the given categories (all when none is
// given). It fails the test when the file is missing or unreadable and when no
// record matches, so a renamed category cannot pass silently.
func Load(tb testing.TB, categories ...string) []Vector {
	tb.Helper()
	p, err := Path()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatalf("test vectors are required: %v", err)
	}
	var f struct {
		Vectors []Vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("decode %s: %v", p, err)
	}
	var out []Vector
	for _, v := range f.Vectors {
		if len(categories) == 0 || contains(categories, v.Category) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no vectors of categories %v", p, categories)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Hex decodes the hex string field key of m, failing the test when it is
// missing or not hex.
func Hex(tb testing.TB, m map[string]any, key string) []byte {
	tb.Helper()
	s, ok := m[key].(string)
	if !ok {
		tb.Fatalf("field %q missing or not a string", key)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatalf("field %q: %v", key, err)
	}
	return b
}

// Key16 decodes a 16-byte hex key field of m.
func Key16(tb testing.TB, m map[string]any, key string) *[16]byte {
	tb.Helper()
	b := Hex(tb, m, key)
	if len(b) != 16 {
		tb.Fatalf("field %q: %d bytes, want 16", key, len(b))
	}
	return (*[16]byte)(b)
}

// String returns the string field key of m, or "" when absent.
func String(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// Upper formats b as uppercase hex, the vectors' convention.
func Upper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
