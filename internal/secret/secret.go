// Package secret holds credentials so that they do not print: API keys,
// actor tokens and the like, read from a configuration file or a state
// file and sent to one place.
package secret

// String is a credential. fmt's verbs, zap's Stringer and reflection
// encoders, encoding/json and TOML or other text encoders all see
// "[redacted]" (or "" for an empty value); Reveal returns the value for
// the one place that sends it. Decoding from text (TOML) stores the value.
type String string

// Redacted is what a non-empty String prints as.
const Redacted = "[redacted]"

// Reveal returns the credential's value.
func (s String) Reveal() string { return string(s) }

// IsZero reports whether s is empty.
func (s String) IsZero() bool { return s == "" }

// String returns Redacted, or "" for an empty value.
func (s String) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from showing the value.
func (s String) GoString() string { return `secret.String("` + s.String() + `")` }

// MarshalJSON writes the redacted form: a credential never leaves the
// process through encoding/json (zap.Any, WebSocket payloads).
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText writes the redacted form (TOML and text encoders).
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText stores the text as the value.
func (s *String) UnmarshalText(b []byte) error { *s = String(b); return nil }
