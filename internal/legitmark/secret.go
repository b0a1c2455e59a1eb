package legitmark

import (
	"regexp"
	"strings"
)

// Secret is a credential: the API key or an actor token. It prints, marshals
// and logs as "[redacted]"; Reveal returns the value for the one place that
// sends it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]" (or "" for an empty secret) so that fmt verbs,
// zap.Stringer and %v never show the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from showing the value.
func (s Secret) GoString() string { return `legitmark.Secret("` + s.String() + `")` }

// MarshalJSON writes the redacted form: a Secret never leaves the process
// through encoding/json (zap.Any, WebSocket payloads).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText writes the redacted form (TOML and text encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// credentialPattern matches the documented credential formats (leo_… keys,
// lm_usr_… actor tokens) and S3 signature parameters, wherever they occur in
// server-supplied text.
var credentialPattern = regexp.MustCompile(`(?i)(leo_|lm_usr_)[A-Za-z0-9_\-]+|X-Amz-(Signature|Credential|Security-Token)=[^&\s"<]*`)

// scrubber removes known secrets from text that came from outside (server
// error messages, transport errors) before it is kept in an error or logged.
type scrubber struct{ secrets []string }

func (s *scrubber) add(v string) {
	if len(v) >= 4 {
		s.secrets = append(s.secrets, v)
	}
}

func (s *scrubber) scrub(text string) string {
	for _, v := range s.secrets {
		if strings.Contains(text, v) {
			text = strings.ReplaceAll(text, v, redacted)
		}
	}
	return credentialPattern.ReplaceAllString(text, redacted)
}
