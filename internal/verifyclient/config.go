package verifyclient

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/secret"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// DefaultTimeout is the per-attempt timeout when the configuration sets
// none (the example value).
const DefaultTimeout = 4 * time.Second

// DefaultAPIKeyHeader carries the API key when api_key_header is unset.
// Legitimate documents that keys exist but not how they are sent
// (remote-apis.md §1.1), so the name is configurable.
const DefaultAPIKeyHeader = "X-API-Key"

// maxTimeout bounds the per-attempt timeout: the operator is waiting.
const maxTimeout = time.Minute

// Config is the client part of the [remote.legitimate] configuration
// section. The API key comes from at most one of APIKey, APIKeyFile and
// APIKeyEnv; errors about it name the setting, never the key.
//
//	base_url = "https://api.legitimate.tech/external/v1"  # http:// only for loopback
//	timeout = "4s"                 # per attempt
//	api_key_file = "/etc/nfcd/legitimate.key"  # or api_key = "…" or api_key_env = "LGT_KEY"
//	api_key_header = "X-API-Key"
type Config struct {
	BaseURL      string            `toml:"base_url"`
	Timeout      tomlfile.Duration `toml:"timeout"`
	APIKey       secret.String     `toml:"api_key"`
	APIKeyFile   string            `toml:"api_key_file"`
	APIKeyEnv    string            `toml:"api_key_env"`
	APIKeyHeader string            `toml:"api_key_header"`
}

// Validate checks the base URL, the timeout and the key settings. It does
// not read the key file or the environment; APIKeyValue does.
func (c *Config) Validate() error {
	if err := checkBaseURL(c.BaseURL); err != nil {
		return err
	}
	if c.Timeout.Duration < 0 || c.Timeout.Duration > maxTimeout {
		return fmt.Errorf("timeout: must be between 0 (default %s) and %s", DefaultTimeout, maxTimeout)
	}
	n := 0
	for _, set := range []bool{!c.APIKey.IsZero(), c.APIKeyFile != "", c.APIKeyEnv != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return errors.New("api_key, api_key_file, api_key_env: set at most one")
	}
	if !c.APIKey.IsZero() {
		if err := checkKeyValue(c.APIKey.Reveal()); err != nil {
			return fmt.Errorf("api_key: %w", err)
		}
	}
	if c.APIKeyEnv != "" && strings.ContainsAny(c.APIKeyEnv, "= \t\n") {
		return errors.New("api_key_env: not an environment variable name")
	}
	if c.APIKeyHeader != "" {
		if err := checkHeaderName(c.APIKeyHeader); err != nil {
			return fmt.Errorf("api_key_header: %w", err)
		}
	}
	return nil
}

// APIKeyValue resolves the API key from whichever setting holds it: the
// inline value, the file (surrounding white space trimmed) or the
// environment variable. It returns the zero secret.String when none is set.
func (c *Config) APIKeyValue() (secret.String, error) {
	var v string
	switch {
	case !c.APIKey.IsZero():
		return c.APIKey, nil
	case c.APIKeyFile != "":
		b, err := os.ReadFile(c.APIKeyFile)
		if err != nil {
			// The *PathError names the file, not its content.
			return secret.String(""), fmt.Errorf("api_key_file: %w", err)
		}
		v = strings.TrimSpace(string(b))
		if err := checkKeyValue(v); err != nil {
			return secret.String(""), fmt.Errorf("api_key_file %s: %w", c.APIKeyFile, err)
		}
	case c.APIKeyEnv != "":
		v = strings.TrimSpace(os.Getenv(c.APIKeyEnv))
		if v == "" {
			return secret.String(""), fmt.Errorf("api_key_env: %s is unset or empty", c.APIKeyEnv)
		}
		if err := checkKeyValue(v); err != nil {
			return secret.String(""), fmt.Errorf("api_key_env %s: %w", c.APIKeyEnv, err)
		}
	default:
		return secret.String(""), nil
	}
	return secret.String(v), nil
}

// Options turns the configuration into client options: the key resolved,
// defaults filled in. version goes into the User-Agent.
func (c *Config) Options(version string) (Options, error) {
	if err := c.Validate(); err != nil {
		return Options{}, err
	}
	key, err := c.APIKeyValue()
	if err != nil {
		return Options{}, err
	}
	return Options{
		BaseURL:      c.BaseURL,
		Timeout:      c.Timeout.Duration,
		APIKey:       key,
		APIKeyHeader: c.APIKeyHeader,
		Version:      version,
	}, nil
}

// checkBaseURL requires an absolute https URL without credentials, query
// or fragment; http is allowed only for a loopback host (tests, the fake).
// Errors never quote the URL: it could carry credentials.
func checkBaseURL(s string) error {
	if s == "" {
		return errors.New("base_url: missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("base_url: not a URL")
	}
	if u.User != nil {
		return errors.New("base_url: must not contain credentials (use api_key_file)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("base_url: must not have a query or fragment")
	}
	if u.Host == "" {
		return errors.New("base_url: missing host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return errors.New("base_url: must use https (http is allowed only for a loopback host)")
		}
	default:
		return errors.New("base_url: must use https")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkKeyValue refuses values that cannot go into a header. The message
// says what is wrong, never the value.
func checkKeyValue(v string) error {
	if v == "" {
		return errors.New("empty")
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return errors.New("contains control characters")
		}
	}
	return nil
}

// reservedHeaders may not carry the API key: the client sets them itself,
// and the idempotency headers would make net/http replay the one-shot
// POSTs (remote-apis.md §3.6).
var reservedHeaders = map[string]bool{
	"Accept": true, "Content-Type": true, "Content-Length": true, "Host": true, "User-Agent": true,
	"Connection": true, "Transfer-Encoding": true, "Idempotency-Key": true, "X-Idempotency-Key": true,
	"Cookie": true, "Te": true, "Trailer": true, "Upgrade": true,
}

func checkHeaderName(h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return errors.New("not a valid header name")
		}
	}
	if reservedHeaders[textproto.CanonicalMIMEHeaderKey(h)] {
		return errors.New("reserved header name")
	}
	return nil
}
