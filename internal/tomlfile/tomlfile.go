// Package tomlfile decodes nfcd's TOML files (the daemon configuration and
// profile files) strictly: an unknown key is an error, and every error
// names the file, the line and the key but never quotes the offending
// text, which may be key material.
package tomlfile

import (
	"errors"
	"fmt"

	"github.com/BurntSushi/toml"
)

// Decode decodes the TOML document b into v. name labels the file in
// errors.
func Decode(name string, b []byte, v any) error {
	md, err := toml.Decode(string(b), v)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			// The parser's message can quote the offending text, which may
			// be key material: report the position and the key only.
			where := fmt.Sprintf("line %d, column %d", pe.Position.Line, pe.Position.Col)
			if pe.LastKey != "" {
				where += fmt.Sprintf(" (key %q)", pe.LastKey)
			}
			return fmt.Errorf("%s: invalid TOML at %s", name, where)
		}
		return fmt.Errorf("%s: invalid TOML", name)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return fmt.Errorf("%s: unknown key %q", name, und[0].String())
	}
	return nil
}
