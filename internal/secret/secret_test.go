package secret_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/nfcd/nfcd/internal/secret"
)

func TestStringNeverPrints(t *testing.T) {
	const v = "leo_live_0123456789abcdef"
	s := secret.String(v)
	holder := struct {
		Key secret.String `json:"key" toml:"key"`
	}{s}
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	var tb strings.Builder
	if err := toml.NewEncoder(&tb).Encode(holder); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "Sprint": fmt.Sprint(s), "%#v": fmt.Sprintf("%#v", holder),
		"%+v": fmt.Sprintf("%+v", holder), "%q": fmt.Sprintf("%q", s), "json": string(j), "toml": tb.String(),
	} {
		if strings.Contains(out, v) || !strings.Contains(out, secret.Redacted) {
			t.Errorf("%s = %s, want %s and never the value", name, out, secret.Redacted)
		}
	}
	if s.Reveal() != v {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

func TestStringDecodes(t *testing.T) {
	var c struct {
		Key secret.String `toml:"key"`
	}
	if _, err := toml.Decode(`key = "abc"`, &c); err != nil {
		t.Fatal(err)
	}
	if c.Key.Reveal() != "abc" || c.Key.IsZero() {
		t.Errorf("decoded %q", c.Key.Reveal())
	}
	var zero secret.String
	if zero.String() != "" || !zero.IsZero() {
		t.Errorf("empty secret prints %q", zero.String())
	}
}
