package tomlfile

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written as text: "300ms", "4s", "2160h".
// TOML has no duration type, and a bare integer would silently be
// nanoseconds; the text form also serves JSON (it is a TextMarshaler).
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as Go does ("2160h0m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
