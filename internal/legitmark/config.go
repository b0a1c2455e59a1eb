package legitmark

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/secret"
)

// Documented endpoints (remote-apis.md §2.2). The intent host differs between
// the documentation generations: the seed workflow page and the SDK default
// use media.legitmark.com, the current API reference asset.legitmark.com.
// The seed and the SDK agree, so media is the default; intent_url overrides.
const (
	DefaultBaseURL   = "https://api.legitmark.com"
	DefaultIntentURL = "https://media.legitmark.com/intent"
)

// Auth schemes (remote-apis.md §2.1).
const (
	AuthBearer  = "bearer"    // current: Authorization: Bearer <key>
	AuthXAPIKey = "x-api-key" // older: x-api-key: <key> (+ x-user-token: <actor token>)
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout         = 30 * time.Second  // SDK default per API attempt
	DefaultUploadTimeout   = 120 * time.Second // 5 MB on a slow uplink (§3.5)
	DefaultParallelUploads = 4
	DefaultPollMin         = 15 * time.Second
	DefaultPollMax         = 60 * time.Second // §3.5: 30–60 s while not final
	DefaultAppPerMinute    = 1000             // seed 001: per actor application
	DefaultUserPerMinute   = 60               // seed 001: per actor token
	DefaultSRPerHour       = 100              // seed 001: new SRs per actor
	DefaultStationID       = "nfcd"
)

// Config is the `[remote.legitmark]` section of the daemon configuration.
//
//	[remote.legitmark]
//	base_url = "https://api.legitmark.com"    # or a back-office proxy that holds the key
//	intent_url = "https://media.legitmark.com/intent"
//	auth = "bearer"                           # or "x-api-key" (older model, with an actor token)
//	api_key_file = "/etc/nfcd/legitmark.key"  # or api_key = "leo_…", or api_key_env = "LEGITMARK_API_KEY"
//	user_token_env = "LEGITMARK_USER_TOKEN"   # optional; else the token registered via /api/actor/users
//	service = "…uuid…"                        # default service for new SRs
//	station_id = "kiosk42"                    # prefix of SR references ("kiosk42-<ULID>")
//	timeout = "30s"
//	upload_timeout = "2m"
//	parallel_uploads = 4
//	poll_min = "15s"
//	poll_max = "60s"
//	[remote.legitmark.limits]
//	app_per_minute = 1000
//	user_per_minute = 60
//	sr_per_hour = 100
type Config struct {
	BaseURL   string `toml:"base_url"`
	IntentURL string `toml:"intent_url"`
	Auth      string `toml:"auth"`

	// The API key: exactly one of inline, file or environment variable.
	APIKey     secret.String `toml:"api_key"`
	APIKeyFile string        `toml:"api_key_file"`
	APIKeyEnv  string        `toml:"api_key_env"`

	// An actor token obtained out of band (older model), at most one of
	// these; without one the client asks its TokenStore.
	UserToken     secret.String `toml:"user_token"`
	UserTokenFile string        `toml:"user_token_file"`
	UserTokenEnv  string        `toml:"user_token_env"`

	Service string `toml:"service"`
	// StationID names this station in the references of the SRs it
	// creates ("<station_id>-<ULID>"); DefaultStationID if empty. Not PII.
	StationID string `toml:"station_id"`

	Timeout         time.Duration `toml:"timeout"`
	UploadTimeout   time.Duration `toml:"upload_timeout"`
	ParallelUploads int           `toml:"parallel_uploads"`
	PollMin         time.Duration `toml:"poll_min"`
	PollMax         time.Duration `toml:"poll_max"`

	Limits Limits `toml:"limits"`
}

// Limits are the client-side request budgets. Zero means the documented
// default; a negative value disables that budget.
type Limits struct {
	AppPerMinute  int `toml:"app_per_minute"`
	UserPerMinute int `toml:"user_per_minute"`
	SRPerHour     int `toml:"sr_per_hour"`
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("legitmark: invalid configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// WithDefaults returns c with every zero value replaced by its default.
func (c Config) WithDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.IntentURL == "" {
		c.IntentURL = DefaultIntentURL
	}
	if c.Auth == "" {
		c.Auth = AuthBearer
	}
	if c.StationID == "" {
		c.StationID = DefaultStationID
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.UploadTimeout == 0 {
		c.UploadTimeout = DefaultUploadTimeout
	}
	if c.ParallelUploads == 0 {
		c.ParallelUploads = DefaultParallelUploads
	}
	if c.PollMin == 0 {
		c.PollMin = DefaultPollMin
	}
	if c.PollMax == 0 {
		c.PollMax = DefaultPollMax
	}
	if c.Limits.AppPerMinute == 0 {
		c.Limits.AppPerMinute = DefaultAppPerMinute
	}
	if c.Limits.UserPerMinute == 0 {
		c.Limits.UserPerMinute = DefaultUserPerMinute
	}
	if c.Limits.SRPerHour == 0 {
		c.Limits.SRPerHour = DefaultSRPerHour
	}
	return c
}

// Validate checks c (after WithDefaults) without reading any file or
// environment variable. Its errors name keys, files and variables, never a
// secret's value.
func (c Config) Validate() error {
	c = c.WithDefaults()
	if err := checkURL("base_url", c.BaseURL); err != nil {
		return err
	}
	if err := checkURL("intent_url", c.IntentURL); err != nil {
		return err
	}
	switch c.Auth {
	case AuthBearer, AuthXAPIKey:
	default:
		return configErr("auth: must be %q or %q", AuthBearer, AuthXAPIKey)
	}
	if n := count(c.APIKey != "", c.APIKeyFile != "", c.APIKeyEnv != ""); n != 1 {
		return configErr("exactly one of api_key, api_key_file, api_key_env is required (%d set)", n)
	}
	if c.APIKey != "" {
		if err := checkSecret("api_key", string(c.APIKey)); err != nil {
			return err
		}
	}
	if n := count(c.UserToken != "", c.UserTokenFile != "", c.UserTokenEnv != ""); n > 1 {
		return configErr("at most one of user_token, user_token_file, user_token_env may be set")
	}
	if c.UserToken != "" {
		if err := checkSecret("user_token", string(c.UserToken)); err != nil {
			return err
		}
	}
	if c.Auth == AuthBearer && (c.UserToken != "" || c.UserTokenFile != "" || c.UserTokenEnv != "") {
		return configErr("user_token*: actor tokens are only sent with auth = %q", AuthXAPIKey)
	}
	if !stationPattern.MatchString(c.StationID) {
		return configErr("station_id: 1–32 letters, digits or ._- (starting with a letter or digit)")
	}
	if c.Timeout < 0 || c.UploadTimeout < 0 {
		return configErr("timeout, upload_timeout: must be positive")
	}
	if c.ParallelUploads < 1 || c.ParallelUploads > 4 {
		return configErr("parallel_uploads: must be 1 to 4")
	}
	if c.PollMin < time.Second || c.PollMax < c.PollMin {
		return configErr("poll_min, poll_max: need 1s <= poll_min <= poll_max")
	}
	return nil
}

// Credentials are the resolved secrets.
type Credentials struct {
	APIKey    secret.String
	UserToken secret.String // empty unless configured
}

// Resolve validates c and reads the secrets from wherever the configuration
// says. getenv may be nil (os.Getenv).
func (c Config) Resolve(getenv func(string) string) (Credentials, error) {
	if err := c.Validate(); err != nil {
		return Credentials{}, err
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	key, err := resolveSecret("api_key", c.APIKey, c.APIKeyFile, c.APIKeyEnv, getenv)
	if err != nil {
		return Credentials{}, err
	}
	if key == "" {
		return Credentials{}, configErr("api_key: empty")
	}
	tok, err := resolveSecret("user_token", c.UserToken, c.UserTokenFile, c.UserTokenEnv, getenv)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{APIKey: key, UserToken: tok}, nil
}

func resolveSecret(name string, inline secret.String, file, env string, getenv func(string) string) (secret.String, error) {
	switch {
	case inline != "":
		return inline, nil
	case file != "":
		fi, err := os.Stat(file)
		if err != nil {
			return "", configErr("%s_file %s: %v", name, file, pathErr(err))
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o004 != 0 {
			return "", configErr("%s_file %s: readable by everyone (chmod o-r)", name, file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", configErr("%s_file %s: %v", name, file, pathErr(err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", configErr("%s_file %s: empty", name, file)
		}
		if err := checkSecret(name+"_file "+file, v); err != nil {
			return "", err
		}
		return secret.String(v), nil
	case env != "":
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", configErr("%s_env: $%s is empty or unset", name, env)
		}
		if err := checkSecret(name+"_env $"+env, v); err != nil {
			return "", err
		}
		return secret.String(v), nil
	}
	return "", nil
}

// pathErr keeps the cause of a file error without repeating the path.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkSecret rejects values that cannot be sent in a header. The message
// says where the value came from, not what it is.
func checkSecret(where, v string) error {
	if strings.TrimSpace(v) != v || v == "" {
		return configErr("%s: leading or trailing space", where)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return configErr("%s: contains a character that is not printable ASCII", where)
		}
	}
	return nil
}

var stationPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

func checkURL(key, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return configErr("%s: not an absolute URL", key)
	}
	if u.User != nil {
		return configErr("%s: credentials in the URL are not allowed (use api_key*)", key)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return configErr("%s: query and fragment are not allowed", key)
	}
	switch u.Scheme {
	case "https":
	case "http":
		// "The API does not support HTTP" (§2.2): plain HTTP only reaches
		// a local fake or proxy, never the network.
		if !isLoopback(u.Hostname()) {
			return configErr("%s: http is only allowed to a loopback host", key)
		}
	default:
		return configErr("%s: scheme must be https", key)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
