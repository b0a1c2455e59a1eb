// Package config loads the daemon's configuration file (TOML). Every key is
// optional; a missing file section means its default.
//
//	listen = "127.0.0.1:7424"            # loopback only unless allow_non_loopback
//	allow_non_loopback = false
//	allowed_origins = ["https://pos.example"]  # besides the daemon's own pages
//	originality = false                  # GetVersion + Read_Sig per tap
//	feedback = false                     # reader beep/LED with the verdict
//	include_readers = ["*ACR1252*"]      # globs; empty = every reader
//	exclude_readers = ["*SAM*"]
//	audit_max_age = "2160h"              # 90 days
//	audit_max_entries = 100000
//	simulate_interval = "3s"             # nfcd run --simulate tap period
//	tls_cert = "/etc/nfcd/tls.crt"       # TLS beyond loopback; without it a
//	tls_key = "/etc/nfcd/tls.key"        #   self-signed one in the state dir
//	host_names = ["kiosk-3.shop.example"] # names network clients may use
//
//	[remote.legitmark]                   # the authentication station (internal/legitmark.Config)
//	api_key_file = "/etc/nfcd/legitmark.key"
//	station_id = "kiosk42"
//
//	[remote.legitimate]                  # remote verification of tags (internal/remote.Legitimate)
//	base_url = "https://api.legitimate.tech/external/v1"
//	mode = "confirm"                     # local-only | confirm | remote-required
//
//	[[profile]]                          # as in `nfcd verify --profile`
//	name = "store-tags"
//	match = "https://sdm.example/tag"
//	mode = "enc"
//	sdm_file_read_key = "…"
//	sdm_meta_read_key = "…"
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/fileperm"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// DefaultListen is where the daemon serves its WebSocket API and pages.
const DefaultListen = "127.0.0.1:7424"

// Config is the daemon configuration.
type Config struct {
	Listen           string   `toml:"listen"`
	AllowNonLoopback bool     `toml:"allow_non_loopback"`
	AllowedOrigins   []string `toml:"allowed_origins"`
	Originality      bool     `toml:"originality"`
	Feedback         bool     `toml:"feedback"`
	IncludeReaders   []string `toml:"include_readers"`
	ExcludeReaders   []string `toml:"exclude_readers"`
	AuditMaxAge      Duration `toml:"audit_max_age"`
	AuditMaxEntries  int      `toml:"audit_max_entries"`
	SimulateInterval Duration `toml:"simulate_interval"`
	// TLSCert and TLSKey are the operator's certificate (PEM chain) and
	// key. A listener beyond loopback serves TLS with them, or, without
	// them, with a self-signed certificate in the state directory.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// HostNames are DNS names of this kiosk that network clients may send
	// in the Host header (and that a generated certificate names).
	HostNames []string       `toml:"host_names"`
	Profiles  []profile.Spec `toml:"profile"`
	Remote    Remote         `toml:"remote"`
}

// Remote is the [remote] section: the remote services the daemon talks to,
// each off unless its section is present.
type Remote struct {
	// Legitmark is [remote.legitmark], the authentication station's
	// service (expert authentication with photos). Its secrets print
	// redacted and are read from their file or variable only when the
	// daemon starts the station.
	Legitmark *legitmark.Config `toml:"legitmark"`
	// Legitimate is [remote.legitimate], remote verification of tags
	// with the Legitimate tag API (internal/remote, internal/remoteverify).
	Legitimate *remote.Legitimate `toml:"legitimate"`
}

// Duration is a time.Duration written as "3s", "90m" or "2160h".
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

// Default returns the configuration used without a file.
func Default() Config {
	return Config{Listen: DefaultListen, SimulateInterval: Duration{3 * time.Second}}
}

// Load reads and validates the file at path. Errors name the file and the
// offending key but never quote key material.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes and validates a configuration; name is used in errors.
func Parse(name string, b []byte) (Config, error) {
	c := Default()
	if err := tomlfile.Decode(name, b, &c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", name, err)
	}
	return c, nil
}

// Validate checks the listen address and the profiles.
func (c *Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %v", err)
	}
	if !c.AllowNonLoopback {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("listen: %s is not a loopback address (set allow_non_loopback = true to expose the API)", host)
		}
	}
	for i, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			return fmt.Errorf("allowed_origins[%d]: %w", i, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls_cert and tls_key: set both or neither")
	}
	for i, h := range c.HostNames {
		if !validHostName(h) {
			return fmt.Errorf("host_names[%d]: not a DNS name (letters, digits, '-' and '.'; no wildcards, ports or addresses)", i)
		}
	}
	if c.SimulateInterval.Duration <= 0 {
		return errors.New("simulate_interval: must be positive")
	}
	if lm := c.Remote.Legitmark; lm != nil {
		if err := lm.Validate(); err != nil {
			return fmt.Errorf("remote.legitmark: %w", err)
		}
	}
	if l := c.Remote.Legitimate; l != nil {
		if err := l.Validate(); err != nil {
			return err
		}
	}
	for i, p := range c.Profiles {
		if _, err := p.Compile(false); err != nil {
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return fmt.Errorf("profile %s: %w", name, err)
		}
	}
	return nil
}

// checkOrigin accepts a browser origin as browsers send it:
// http(s)://host[:port], nothing after. Wildcards are refused rather than
// taken as a literal host that no browser ever sends: every origin is
// listed on its own.
func checkOrigin(o string) error {
	if strings.Contains(o, "*") {
		return errors.New("wildcards are not supported; list every origin (scheme://host[:port]) on its own")
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return errors.New("not an origin: want http://host[:port] or https://host[:port]")
	}
	return nil
}

// validHostName reports whether h is a DNS name nfcd accepts in Host
// headers: labels of letters, digits and '-', not an IP address, not
// "localhost" (always accepted where it is true).
func validHostName(h string) bool {
	if h == "" || len(h) > 253 || net.ParseIP(h) != nil || strings.EqualFold(h, "localhost") {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Loopback reports whether the listen address is loopback only.
func (c *Config) Loopback() bool {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}

// HoldsKeys reports whether the configuration holds secrets itself: a
// profile with a key, or a remote service's API key written inline
// (api_key rather than api_key_file or api_key_env). Sections that add
// secrets of their own belong here too.
func (c *Config) HoldsKeys() bool {
	for _, p := range c.Profiles {
		if p.FileReadKey != "" || p.MetaReadKey != "" {
			return true
		}
	}
	if lm := c.Remote.Legitmark; lm != nil && lm.APIKey.Reveal() != "" {
		return true
	}
	if lt := c.Remote.Legitimate; lt != nil && lt.APIKey.Reveal() != "" {
		return true
	}
	return false
}

// CheckFile judges the permissions of the configuration file at path,
// which c was loaded from, on POSIX systems: a file that group or others
// may write is refused (anyone could add a profile or an allowed origin);
// one that others may read is reported in warning when it holds keys
// (HoldsKeys), since refusing it would stop kiosks whose configuration
// management writes 0644 files. docs and SECURITY.md say which is which.
func CheckFile(path string, c *Config) (warning string, err error) {
	readable, writable, err := fileperm.ReadableByOthers(path)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	if writable {
		return "", fmt.Errorf("config: %s may be changed by other users; fix it with: chmod go-w %s", path, path)
	}
	if readable && c.HoldsKeys() {
		return fmt.Sprintf("%s holds tag keys and is readable by other users; fix it with: chmod o-r %s (or 600)", path, path), nil
	}
	return "", nil
}

// CompileProfiles compiles the configured profiles in order.
func (c *Config) CompileProfiles() (profile.Set, error) {
	set := make(profile.Set, 0, len(c.Profiles))
	for _, s := range c.Profiles {
		p, err := s.Compile(false)
		if err != nil {
			return nil, err
		}
		set = append(set, p)
	}
	return set, nil
}
