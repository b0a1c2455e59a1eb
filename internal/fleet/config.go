package fleet

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults applied by Config.Resolve.
const (
	DefaultTimeout = 300 * time.Millisecond
	// MaxTimeout bounds Config.Timeout: a tap never waits longer for the
	// fleet than this, whatever the file says.
	MaxTimeout = 10 * time.Second
	// MaxKioskLen bounds a kiosk ID (a host name is at most 253 bytes).
	MaxKioskLen = 128
)

// ErrConfig is returned, wrapped, for a [fleet] section that cannot be used.
// Its messages name the key at fault and never quote the connection string.
var ErrConfig = errors.New("fleet: invalid configuration")

// Config is the [fleet] section of the daemon's configuration file. The
// fleet is off unless one of DSN, DSNFile or DSNEnv is set.
//
//	[fleet]
//	dsn = "postgres://nfcd@db.example/nfcd?sslmode=verify-full"  # or dsn_file / dsn_env
//	kiosk = "store-042-pos-1"    # default: the host name
//	timeout = "300ms"            # per counter check; past it the tap is decided locally
//	migrate = false              # apply the schema migrations at start
//
// The connection string may hold a password: Config's String method, the
// errors of this package and its log lines never show it.
type Config struct {
	// DSN is a PostgreSQL connection string (URL or key=value form).
	DSN string `toml:"dsn"`
	// DSNFile names a file holding the connection string (surrounding
	// white space is ignored), e.g. a secret mounted by the service
	// manager.
	DSNFile string `toml:"dsn_file"`
	// DSNEnv names an environment variable holding the connection string.
	DSNEnv string `toml:"dsn_env"`
	// Kiosk is this station's ID in every fleet row. Empty means the host
	// name.
	Kiosk string `toml:"kiosk"`
	// Timeout bounds one counter check. Zero means DefaultTimeout.
	Timeout time.Duration `toml:"timeout"`
	// Migrate lets the kiosk apply the embedded schema migrations when it
	// connects (under an advisory lock, so many kiosks starting at once
	// migrate once).
	Migrate bool `toml:"migrate"`
}

// Enabled reports whether the section configures a fleet database.
func (c Config) Enabled() bool {
	return c.DSN != "" || c.DSNFile != "" || c.DSNEnv != ""
}

// String describes c without the connection string, which may hold a
// password; it is what %v prints and what a logger shows.
func (c Config) String() string {
	src := "none"
	switch {
	case c.DSN != "":
		src = "dsn"
	case c.DSNFile != "":
		src = "dsn_file=" + c.DSNFile
	case c.DSNEnv != "":
		src = "dsn_env=" + c.DSNEnv
	}
	return fmt.Sprintf("fleet.Config{source: %s, kiosk: %q, timeout: %v, migrate: %v}", src, c.Kiosk, c.Timeout, c.Migrate)
}

// GoString is String, so that %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// Validate checks the section without reading files or the environment.
func (c Config) Validate() error {
	n := 0
	for _, s := range []string{c.DSN, c.DSNFile, c.DSNEnv} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: set only one of dsn, dsn_file and dsn_env", ErrConfig)
	}
	if c.Kiosk != "" {
		if err := checkKiosk(c.Kiosk); err != nil {
			return err
		}
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("%w: timeout: must not be negative", ErrConfig)
	case c.Timeout != 0 && c.Timeout < time.Millisecond:
		// TOML integers decode as nanoseconds; "300" is a mistake.
		return fmt.Errorf("%w: timeout: %v is below 1ms (write a unit, e.g. \"300ms\")", ErrConfig, c.Timeout)
	case c.Timeout > MaxTimeout:
		return fmt.Errorf("%w: timeout: %v is above %v", ErrConfig, c.Timeout, MaxTimeout)
	}
	return nil
}

func checkKiosk(k string) error {
	if k == "" || len(k) > MaxKioskLen || !utf8.ValidString(k) {
		return fmt.Errorf("%w: kiosk: must be 1 to %d bytes of UTF-8", ErrConfig, MaxKioskLen)
	}
	for _, r := range k {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: kiosk: must not contain spaces or control characters", ErrConfig)
		}
	}
	return nil
}

// The process's host name and environment; tests of resolve pass their own.
var (
	osHostname = os.Hostname
	osGetenv   = os.Getenv
)

// resolved is a Config with its defaults applied and its connection string
// read and parsed.
type resolved struct {
	kiosk    string
	timeout  time.Duration
	migrate  bool
	pool     *pgxpool.Config
	password string // for scrubbing error texts; never printed
}

// resolve applies the defaults, reads the connection string from where the
// section says, and parses it. Errors never contain the string.
func (c Config) resolve(hostname func() (string, error), getenv func(string) string) (*resolved, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &resolved{kiosk: c.Kiosk, timeout: c.Timeout, migrate: c.Migrate}
	if r.timeout == 0 {
		r.timeout = DefaultTimeout
	}
	if r.kiosk == "" {
		h, err := hostname()
		if err != nil {
			return nil, fmt.Errorf("%w: kiosk: not set and the host name is unknown: %v", ErrConfig, err)
		}
		if err := checkKiosk(h); err != nil {
			return nil, fmt.Errorf("%w (host name %q; set kiosk)", err, h)
		}
		r.kiosk = h
	}
	var dsn string
	switch {
	case c.DSN != "":
		dsn = c.DSN
	case c.DSNFile != "":
		b, err := os.ReadFile(c.DSNFile)
		if err != nil {
			// The *PathError names the file, not its contents.
			return nil, fmt.Errorf("%w: dsn_file: %v", ErrConfig, err)
		}
		dsn = strings.TrimSpace(string(b))
		if dsn == "" {
			return nil, fmt.Errorf("%w: dsn_file: %s is empty", ErrConfig, c.DSNFile)
		}
	case c.DSNEnv != "":
		dsn = strings.TrimSpace(getenv(c.DSNEnv))
		if dsn == "" {
			return nil, fmt.Errorf("%w: dsn_env: environment variable %s is empty or not set", ErrConfig, c.DSNEnv)
		}
	default:
		return nil, fmt.Errorf("%w: set dsn, dsn_file or dsn_env", ErrConfig)
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn redacts passwords in its message only on a best-effort
		// basis, and the wrapped url.Error quotes the whole URL: say what
		// is wrong without any of the text.
		return nil, fmt.Errorf("%w: the connection string is not a valid PostgreSQL URL or key=value list", ErrConfig)
	}
	r.password = pc.ConnConfig.Password
	r.pool = pc
	return r, nil
}

// scrubbed hides a password inside an error's text. pgx does not put
// passwords in its errors, but a server or proxy message might echo the
// connection string; this is the last line of defence. errors.Is and As
// still see the original error.
type scrubbed struct {
	err  error
	text string
}

func (e *scrubbed) Error() string { return e.text }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub returns err with every occurrence of password replaced.
func scrub(err error, password string) error {
	if err == nil || password == "" {
		return err
	}
	s := err.Error()
	if !strings.Contains(s, password) {
		return err
	}
	return &scrubbed{err: err, text: strings.ReplaceAll(s, password, "xxxxx")}
}

// CheckDSN reports whether dsn is a PostgreSQL connection string pgx
// accepts (`nfcd config check`), without connecting. The error never
// contains the string.
func CheckDSN(dsn string) error {
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return fmt.Errorf("%w: the connection string is not a valid PostgreSQL URL or key=value list", ErrConfig)
	}
	return nil
}
