// Package config loads the daemon's configuration file (TOML). Every key is
// optional; a missing key means its default. docs/config.md lists every key
// with its type, default and an example, and Example returns a commented
// file that Check accepts.
//
//	listen = "127.0.0.1:7424"            # loopback only unless allow_non_loopback
//	allow_non_loopback = false
//	allowed_origins = ["https://pos.example"]  # besides the daemon's own pages
//	metrics_public = false               # /metrics without an API token
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
//	[log]
//	level = "info"
//	file = "/var/log/nfcd/nfcd.log"      # rotated JSON lines
//
//	[remote.legitmark]                   # the authentication station (internal/legitmark.Config)
//	api_key_file = "/etc/nfcd/legitmark.key"
//	station_id = "kiosk42"
//
//	[remote.legitimate]                  # remote verification of tags (internal/remote.Legitimate)
//	base_url = "https://api.legitimate.tech/external/v1"
//	mode = "confirm"                     # local-only | confirm | remote-required
//
//	[fleet]                              # counters and audit shared on PostgreSQL (internal/fleet.Config)
//	dsn_file = "/etc/nfcd/fleet.dsn"     # or dsn, or dsn_env
//	kiosk = "store-042-pos-1"
//
//	[kiosk]                              # the kiosk page at "/" (GET /v1/ui-config)
//	verdict_timeout = "10s"              # back to "Hold the tag to the reader"; "0s" keeps it
//	sound = false                        # a sound per verdict (Web Audio)
//
//	[[profile]]                          # as in `nfcd verify --profile`
//	name = "store-tags"
//	match = "https://sdm.example/tag"
//	mode = "enc"
//	sdm_file_read_key_file = "keys/store-tags.file"   # or inline, or _env
//	sdm_meta_read_key_env = "NFCD_STORE_META_KEY"
//
// Loading reports every problem of a file at once, each with its line and
// how to fix it, and never quotes key material (Check, Problem).
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
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// MaxConnectionsLimit bounds max_connections and max_connections_per_token.
const MaxConnectionsLimit = 4096

// DefaultListen is where the daemon serves its WebSocket API and pages.
const DefaultListen = "127.0.0.1:7424"

// Config is the daemon configuration.
type Config struct {
	Listen           string   `toml:"listen"`
	AllowNonLoopback bool     `toml:"allow_non_loopback"`
	AllowedOrigins   []string `toml:"allowed_origins"`
	// MetricsPublic serves /metrics to loopback clients without an API
	// token.
	MetricsPublic    bool              `toml:"metrics_public"`
	Originality      bool              `toml:"originality"`
	Feedback         bool              `toml:"feedback"`
	IncludeReaders   []string          `toml:"include_readers"`
	ExcludeReaders   []string          `toml:"exclude_readers"`
	AuditMaxAge      tomlfile.Duration `toml:"audit_max_age"`
	AuditMaxEntries  int               `toml:"audit_max_entries"`
	SimulateInterval tomlfile.Duration `toml:"simulate_interval"`
	// MaxConnections and MaxConnectionsPerToken bound the open WebSocket
	// connections, in all and per API token; zero means the defaults
	// (ws.DefaultMaxConns, ws.DefaultMaxConnsPerToken: 32 and 8).
	MaxConnections         int `toml:"max_connections"`
	MaxConnectionsPerToken int `toml:"max_connections_per_token"`
	// TLSCert and TLSKey are the operator's certificate (PEM chain) and
	// key. A listener beyond loopback serves TLS with them, or, without
	// them, with a self-signed certificate in the state directory.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// HostNames are DNS names of this kiosk that network clients may send
	// in the Host header (and that a generated certificate names).
	HostNames []string `toml:"host_names"`
	Log       Log      `toml:"log"`
	// Kiosk is [kiosk], the kiosk page's settings (GET /v1/ui-config).
	Kiosk    Kiosk     `toml:"kiosk"`
	Profiles []Profile `toml:"profile"`
	Remote   Remote    `toml:"remote"`
	// Fleet is [fleet]: counters and audit shared by the kiosks on
	// PostgreSQL (docs/fleet.md). Nil keeps the fleet off. The connection
	// string may hold a password: fleet.Config never prints it, and a
	// dsn_file is resolved relative to the file but read by the daemon.
	Fleet *fleet.Config `toml:"fleet"`
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

// Log is the [log] section. Command-line flags of `nfcd run` override it;
// the level is applied again on reload.
type Log struct {
	// Level is debug, info, warn or error ("" means info).
	Level string `toml:"level"`
	// Format is how stderr lines look: console, json or auto ("").
	Format string `toml:"format"`
	// File is a JSON log file rotated by size; "" for none. A relative
	// path is relative to the configuration file's directory.
	File       string `toml:"file"`
	MaxSizeMB  int    `toml:"max_size_mb"`
	MaxBackups int    `toml:"max_backups"`
	MaxAgeDays int    `toml:"max_age_days"`
	// UIDs logs tag UIDs as they are instead of pseudonyms.
	UIDs bool `toml:"uids"`
}

// Profile is one [[profile]]: a profile.Spec whose keys may also come from
// a file (sdm_file_read_key_file) or an environment variable
// (sdm_file_read_key_env) instead of being written inline. After loading,
// the Spec holds the keys whatever their source.
type Profile struct {
	profile.Spec
	FileReadKeyFile string `toml:"sdm_file_read_key_file"`
	FileReadKeyEnv  string `toml:"sdm_file_read_key_env"`
	MetaReadKeyFile string `toml:"sdm_meta_read_key_file"`
	MetaReadKeyEnv  string `toml:"sdm_meta_read_key_env"`
	// The personalisation keys (nfcd tag provision), likewise.
	AppMasterKeyFile string `toml:"app_master_key_file"`
	AppMasterKeyEnv  string `toml:"app_master_key_env"`
	Key3File         string `toml:"key3_file"`
	Key3Env          string `toml:"key3_env"`
	Key4File         string `toml:"key4_file"`
	Key4Env          string `toml:"key4_env"`
	// inline records whether keys were written in the file itself.
	inline bool
}

// secrets are the key-holding settings of p, each with its sources.
func (p *Profile) secrets() []secret {
	return []secret{
		{name: "sdm_file_read_key", value: &p.FileReadKey, file: &p.FileReadKeyFile, env: p.FileReadKeyEnv},
		{name: "sdm_meta_read_key", value: &p.MetaReadKey, file: &p.MetaReadKeyFile, env: p.MetaReadKeyEnv},
		{name: "app_master_key", value: &p.AppMasterKey, file: &p.AppMasterKeyFile, env: p.AppMasterKeyEnv},
		{name: "key3", value: &p.Key3, file: &p.Key3File, env: p.Key3Env},
		{name: "key4", value: &p.Key4, file: &p.Key4File, env: p.Key4Env},
	}
}

// Kiosk configures the kiosk page the daemon serves at "/".
type Kiosk struct {
	// VerdictTimeout is how long a verdict stays on the page before it
	// returns to "Hold the tag to the reader"; 0 keeps it until the next
	// tap.
	VerdictTimeout tomlfile.Duration `toml:"verdict_timeout"`
	// Sound plays a short sound per verdict. Off by default: a kiosk
	// next to a till is loud enough.
	Sound bool `toml:"sound"`
}

// DefaultVerdictTimeout is Kiosk.VerdictTimeout without a configuration.
const DefaultVerdictTimeout = 10 * time.Second

// Default returns the configuration used without a file.
func Default() Config {
	return Config{
		Listen:           DefaultListen,
		SimulateInterval: tomlfile.Duration{Duration: 3 * time.Second},
		Kiosk:            Kiosk{VerdictTimeout: tomlfile.Duration{Duration: DefaultVerdictTimeout}},
	}
}

// Load reads and validates the file at path. A file that cannot be used
// gives an *Error with every problem (errors.Is(err, fs.ErrNotExist) for a
// missing file). Errors name the file, the line and the key but never
// quote key material.
//
// Load judges the content only; CheckFile (at start) and Check (nfcd
// config check, a reload) judge the file's permissions as well.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		_, r := Check(path) // explains the read failure
		return Config{}, r.Err()
	}
	c, r := CheckBytes(path, b, env{})
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Parse decodes and validates a configuration; name is used in errors and
// relative paths are relative to its directory.
func Parse(name string, b []byte) (Config, error) {
	c, r := CheckBytes(name, b, env{})
	if err := r.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks a configuration built or changed in code (a --listen
// flag over the file's), reporting every problem.
func (c *Config) Validate() error {
	r := Report{File: "configuration"}
	ck := checker{report: &r, lines: tomlfile.Index(nil)}
	ck.validate(c)
	return r.Err()
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

// HoldsKeys reports whether the file itself holds key material: tag keys
// or API secrets written inline rather than in a *_file or *_env source.
// Sections that add secrets of their own belong here too.
func (c *Config) HoldsKeys() bool {
	for _, p := range c.Profiles {
		if p.inline {
			return true
		}
	}
	if lm := c.Remote.Legitmark; lm != nil && (lm.APIKey.Reveal() != "" || lm.UserToken.Reveal() != "") {
		return true
	}
	if l := c.Remote.Legitimate; l != nil && l.APIKey.Reveal() != "" {
		return true
	}
	if f := c.Fleet; f != nil && f.DSN != "" {
		// A connection string written inline may hold a password.
		return true
	}
	return false
}

// KeyFiles returns the files that hold keys, as resolved at load: a reload
// watches them with the configuration file.
func (c *Config) KeyFiles() []string {
	var out []string
	for i := range c.Profiles {
		for _, s := range c.Profiles[i].secrets() {
			if *s.file != "" {
				out = append(out, *s.file)
			}
		}
	}
	return out
}

// validListen checks the listen address.
func validListen(listen string, allowNonLoopback bool) (msg, fix string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "not a host:port address", `write it as "127.0.0.1:7424"`
	}
	if port == "" {
		return "no port", `write it as "127.0.0.1:7424"`
	}
	if !allowNonLoopback {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Sprintf("%s is not a loopback address", host),
				"listen on 127.0.0.1, or set allow_non_loopback = true to expose the API to the network"
		}
	}
	return "", ""
}

// env reads the environment; tests replace it.
type env struct {
	getenv   func(string) (string, bool)
	readFile func(string) ([]byte, error)
	stat     func(string) (os.FileInfo, error)
}

func (e env) lookup(name string) (string, bool) {
	if e.getenv != nil {
		return e.getenv(name)
	}
	return os.LookupEnv(name)
}

func (e env) read(path string) ([]byte, error) {
	if e.readFile != nil {
		return e.readFile(path)
	}
	return os.ReadFile(path)
}

func (e env) statFile(path string) (os.FileInfo, error) {
	if e.stat != nil {
		return e.stat(path)
	}
	return os.Stat(path)
}

// errNoFile is returned for a configuration path that names nothing.
var errNoFile = errors.New("config: no file name")

// Profiles wraps profile specs (from a profile file, or built in code) as
// configured profiles with inline keys.
func Profiles(specs ...profile.Spec) []Profile {
	out := make([]Profile, len(specs))
	for i, s := range specs {
		out[i] = Profile{Spec: s, inline: s.FileReadKey != "" || s.MetaReadKey != "" || s.AppMasterKey != "" || s.Key3 != "" || s.Key4 != ""}
	}
	return out
}
