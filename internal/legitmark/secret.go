package legitmark

import (
	"regexp"
	"strings"

	"github.com/nfcd/nfcd/internal/secret"
)

const redacted = secret.Redacted

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
