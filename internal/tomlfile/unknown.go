package tomlfile

import (
	"strings"

	"github.com/BurntSushi/toml"
)

// Unknown decodes b into v as Decode does and returns every key of b that
// v has no field for, where Decode reports only the first: dotted, without
// array indexes ("profile.nmae"), in document order, a table that is
// unknown as a whole once (not each of its keys). It returns nil when b
// does not decode; Decode says why.
func Unknown(b []byte, v any) []string {
	md, err := toml.Decode(string(b), v)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
next:
	for _, k := range md.Undecoded() {
		key := k.String()
		if seen[key] {
			continue
		}
		for _, u := range out {
			if strings.HasPrefix(key, u+".") {
				continue next
			}
		}
		seen[key] = true
		out = append(out, key)
	}
	return out
}
