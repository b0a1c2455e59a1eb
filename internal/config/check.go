package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nfcd/nfcd/internal/fileperm"
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/logging"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// Severity says whether a Problem stops the configuration from loading.
type Severity string

// Severities.
const (
	// SeverityError: the file is refused (at start, and by a reload, which
	// keeps the running configuration).
	SeverityError Severity = "error"
	// SeverityWarning: the file loads, but something deserves attention
	// (key material readable by every user, factory default keys).
	SeverityWarning Severity = "warning"
)

// Problem is one thing wrong with a configuration file: where it is, what
// is wrong and how to fix it. No field ever holds key material.
type Problem struct {
	Severity Severity `json:"severity"`
	// Line is the line to look at; 0 when the problem is not on one line.
	Line int `json:"line,omitempty"`
	// Key is the dotted key at fault, with the index of a [[profile]]
	// from 0: "listen", "profile[1].sdm_file_read_key"; "" for the file.
	Key string `json:"key,omitempty"`
	// Msg says what is wrong, naming the key as the file spells it (and
	// the profile by its name).
	Msg string `json:"message"`
	// Fix says what to do about it.
	Fix string `json:"fix,omitempty"`
}

// String is the problem on one line: "line 3: listen: …".
func (p Problem) String() string {
	if p.Line > 0 {
		return "line " + strconv.Itoa(p.Line) + ": " + p.Msg
	}
	return p.Msg
}

// Report is every problem of one configuration file, by line; those about
// the whole file (its permissions) come last.
type Report struct {
	File     string    `json:"file"`
	Problems []Problem `json:"problems"`
	// cause is the error that kept the file from being read at all.
	cause error
}

// Errors returns the problems that refuse the file.
func (r *Report) Errors() []Problem { return r.filter(SeverityError) }

// Warnings returns the problems that do not.
func (r *Report) Warnings() []Problem { return r.filter(SeverityWarning) }

func (r *Report) filter(s Severity) []Problem {
	var out []Problem
	for _, p := range r.Problems {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err returns an *Error with the errors of r, or nil when there are none.
func (r *Report) Err() error {
	errs := r.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &Error{File: r.File, Problems: errs, cause: r.cause}
}

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

// Error is a configuration that cannot be used, with every reason.
type Error struct {
	File     string
	Problems []Problem
	cause    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.File)
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the error that kept the file from being read, if any
// (fs.ErrNotExist for a missing file).
func (e *Error) Unwrap() error { return e.cause }

// Check reads the file at path and returns the configuration it holds
// (meaningful only when the report has no errors) and every problem: the
// decoding and validation errors, each with its line and fix, and
// warnings about the file's permissions and its keys.
func Check(path string) (Config, Report) {
	if path == "" {
		r := Report{File: path, cause: errNoFile}
		r.add(Problem{Severity: SeverityError, Msg: "no configuration file named", Fix: "pass --config FILE"})
		return Config{}, r
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r := Report{File: path, cause: err}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.add(Problem{Severity: SeverityError, Msg: "the file does not exist", Fix: "create it from the commented example: nfcd config example > " + path})
		case errors.Is(err, fs.ErrPermission):
			r.add(Problem{Severity: SeverityError, Msg: "permission denied", Fix: "run as root or as the service account (the file should be root:nfcd, mode 0640)"})
		default:
			r.add(Problem{Severity: SeverityError, Msg: "cannot read the file: " + err.Error()})
		}
		return Config{}, r
	}
	c, r := CheckBytes(path, b, env{})
	readable, writable, err := fileperm.ReadableByOthers(path)
	switch {
	case err != nil:
		r.add(Problem{Severity: SeverityWarning, Msg: "cannot check who may read the file: " + err.Error()})
	case writable:
		// Anyone could add a profile or an allowed origin.
		r.add(Problem{Severity: SeverityError, Msg: "other users may change the file",
			Fix: fmt.Sprintf("chmod go-w %s", path)})
	case readable && c.HoldsKeys():
		r.add(Problem{Severity: SeverityWarning, Msg: "the file holds key material and other users can read it",
			Fix: fmt.Sprintf("chmod 640 %s (owner root, group of the service: chown root:nfcd), or move the keys to *_file or *_env", path)})
	}
	return c, r
}

// sortProblems orders problems by line, those of the whole file last.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		la, lb := a.Line, b.Line
		if la == 0 {
			la = math.MaxInt
		}
		if lb == 0 {
			lb = math.MaxInt
		}
		return cmp.Compare(la, lb)
	})
}

// CheckBytes checks the configuration b as Check does, without the
// permission warnings of the file itself; name labels it and relative
// paths in it are relative to name's directory.
func CheckBytes(name string, b []byte, e env) (Config, Report) {
	r := Report{File: name}
	ck := &checker{report: &r, lines: tomlfile.Index(b), env: e, dir: filepath.Dir(name)}
	c := Default()
	if err := tomlfile.Decode(name, b, &c); err != nil {
		unknown := tomlfile.Unknown(b, new(Config))
		if len(unknown) == 0 {
			r.add(decodeProblem(name, err))
			return Config{}, r
		}
		for _, k := range unknown {
			ck.unknownKey(k)
		}
	}
	ck.resolveSecrets(&c)
	ck.validate(&c)
	sortProblems(r.Problems)
	return c, r
}

var lineOf = regexp.MustCompile(`\bline (\d+)`)

// decodeProblem turns a decoding error (syntax, a value of the wrong type)
// into a Problem. tomlfile's messages never quote the value.
func decodeProblem(name string, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), name+": ")
	p := Problem{Severity: SeverityError, Msg: msg,
		Fix: `check that line: strings in double quotes, arrays in [ ], durations as strings ("3s"), one key = value per line`}
	var te *tomlfile.Error
	if errors.As(err, &te) {
		p.Line, p.Key = te.Line, te.Key
		if strings.HasPrefix(te.Msg, "wrong type") {
			p.Fix = "give the value the type docs/config.md lists for " + orKey(te.Key)
		}
		return p
	}
	if m := lineOf.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	return p
}

func orKey(k string) string {
	if k == "" {
		return "the key"
	}
	return k
}

// checker collects the problems of one file.
type checker struct {
	report *Report
	lines  *tomlfile.Lines
	env    env
	dir    string
}

func (ck *checker) problem(sev Severity, key, fix, format string, a ...any) {
	ck.report.add(Problem{Severity: sev, Line: ck.lines.Line(key), Key: key, Msg: fmt.Sprintf(format, a...), Fix: fix})
}

func (ck *checker) errorf(key, fix, format string, a ...any) {
	ck.problem(SeverityError, key, fix, format, a...)
}

func (ck *checker) warnf(key, fix, format string, a ...any) {
	ck.problem(SeverityWarning, key, fix, format, a...)
}

// unknownKey reports a key the configuration has no place for, once for
// every line that sets it, with the nearest known key as the fix.
func (ck *checker) unknownKey(key string) {
	fix := "remove it"
	if s := suggest(key); s != "" {
		fix = fmt.Sprintf("remove it, or did you mean %q?", s)
	}
	lines := ck.lines.Find(key)
	if len(lines) == 0 {
		lines = []int{0}
	}
	for _, n := range lines {
		ck.report.add(Problem{Severity: SeverityError, Line: n, Key: key, Msg: fmt.Sprintf("unknown key %q", key), Fix: fix})
	}
}

// knownKeys are the keys a configuration accepts.
var knownKeys = tomlfile.Keys(Config{})

// Keys returns every key a configuration file accepts, dotted, without
// array indexes ("profile.sdm_file_read_key").
func Keys() []string { return append([]string(nil), knownKeys...) }

// suggest returns the known key nearest to an unknown one, in the same
// table, or "" when none is near.
func suggest(key string) string {
	table, name := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		table, name = key[:i+1], key[i+1:]
	}
	best, bestD := "", len(name)/3+2
	for _, k := range knownKeys {
		rest, ok := strings.CutPrefix(k, table)
		if !ok || strings.Contains(rest, ".") {
			continue
		}
		if d := editDistance(name, rest); d < bestD {
			best, bestD = rest, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// secret is a key-holding setting and its three possible sources.
type secret struct {
	name  string  // the inline key, e.g. "sdm_file_read_key"
	value *string // the inline value; receives the resolved key
	file  *string // name_file; made absolute when resolved
	env   string  // name_env
}

// remoteKey is the key a remote section's error names ("remote.legitimate:
// mode: …" → "remote.legitimate.mode"), or the section.
func remoteKey(section string, err error) string {
	rest, ok := strings.CutPrefix(err.Error(), section+": ")
	if !ok {
		return section
	}
	name, _, ok := strings.Cut(rest, ":")
	if !ok || strings.ContainsAny(name, " []") {
		return section
	}
	return section + "." + name
}

// maxKeyFile bounds what is read from a key file.
const maxKeyFile = 4096

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolveSecrets reads every key given by file or environment variable
// into its setting. A key file or variable that cannot be read is an
// error; a key file every user can read is a warning.
func (ck *checker) resolveSecrets(c *Config) {
	for i := range c.Profiles {
		p := &c.Profiles[i]
		base := fmt.Sprintf("profile[%d].", i)
		label := profileLabel(p, i)
		for _, s := range p.secrets() {
			sources := 0
			for _, set := range []bool{*s.value != "", *s.file != "", s.env != ""} {
				if set {
					sources++
				}
			}
			switch {
			case sources > 1:
				key := base + s.name + "_file"
				if *s.file == "" {
					key = base + s.name + "_env"
				}
				ck.errorf(key, fmt.Sprintf("keep one of %s, %s_file and %s_env", s.name, s.name, s.name),
					"%s: %s is set more than once (inline, _file, _env)", label, s.name)
				continue
			case *s.value != "":
				p.inline = true
			case *s.file != "":
				ck.readKeyFile(p, base, label, s)
			case s.env != "":
				ck.readKeyEnv(base, label, s)
			}
		}
	}
}

func (ck *checker) readKeyFile(p *Profile, base, label string, s secret) {
	key := base + s.name + "_file"
	path := *s.file
	if !filepath.IsAbs(path) {
		path = filepath.Join(ck.dir, path)
	}
	*s.file = path
	st, err := ck.env.statFile(path)
	if err == nil && st.Size() > maxKeyFile {
		ck.errorf(key, "the file must hold the key alone: 32 hex digits", "%s: %s_file: %s is too large to be a key", label, s.name, path)
		return
	}
	b, err := ck.env.read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ck.errorf(key, "create it with the key alone (32 hex digits), or correct the path", "%s: %s_file: %s does not exist", label, s.name, path)
		return
	case errors.Is(err, fs.ErrPermission):
		ck.errorf(key, "make it readable by the service account: chown root:nfcd and chmod 640", "%s: %s_file: %s cannot be read (permission denied)", label, s.name, path)
		return
	case err != nil:
		ck.errorf(key, "", "%s: %s_file: %s cannot be read", label, s.name, path)
		return
	}
	*s.value = strings.TrimSpace(string(b))
	clear(b)
	if *s.value == "" {
		ck.errorf(key, "write the key into it: 32 hex digits", "%s: %s_file: %s is empty", label, s.name, path)
		return
	}
	switch readable, writable, err := fileperm.ReadableByOthers(path); {
	case err != nil:
	case writable:
		ck.errorf(key, fmt.Sprintf("chmod go-w %s", path), "%s: %s_file: other users may change %s", label, s.name, path)
	case readable:
		ck.warnf(key, fmt.Sprintf("chmod 640 %s (owner root, group of the service: chown root:nfcd)", path),
			"%s: %s_file: other users can read the key in %s", label, s.name, path)
	}
}

func (ck *checker) readKeyEnv(base, label string, s secret) {
	key := base + s.name + "_env"
	if !envName.MatchString(s.env) {
		ck.errorf(key, "name a variable: letters, digits and _, not starting with a digit", "%s: %s_env: not a variable name", label, s.name)
		return
	}
	v, ok := ck.env.lookup(s.env)
	if v = strings.TrimSpace(v); !ok || v == "" {
		ck.errorf(key, "set it in the daemon's environment, e.g. with systemd: systemctl edit nfcd, then [Service] EnvironmentFile=/etc/nfcd/keys.env (mode 0600)",
			"%s: %s_env: the environment variable %s is not set", label, s.name, s.env)
		return
	}
	*s.value = v
}

// profileLabel names the i-th profile in messages.
func profileLabel(p *Profile, i int) string {
	if p.Name != "" {
		return fmt.Sprintf("profile %q", p.Name)
	}
	return fmt.Sprintf("profile #%d", i+1)
}

// keySource says where a profile's key came from, for messages.
func keySource(p *Profile, field string) string {
	for _, s := range p.secrets() {
		if s.name != field {
			continue
		}
		switch {
		case *s.file != "":
			return " (from " + *s.file + ")"
		case s.env != "":
			return " (from $" + s.env + ")"
		}
	}
	return ""
}

// validate checks every setting of c.
func (ck *checker) validate(c *Config) {
	if msg, fix := validListen(c.Listen, c.AllowNonLoopback); msg != "" {
		ck.errorf("listen", fix, "listen: %s", msg)
	}
	for i, o := range c.AllowedOrigins {
		if err := checkOrigin(o); err != nil {
			ck.errorf("allowed_origins", `write each origin as the browser sends it: "https://pos.example" or "http://host:port"`, "allowed_origins[%d]: %v", i, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		key := "tls_cert"
		if c.TLSCert == "" {
			key = "tls_key"
		}
		ck.errorf(key, "set both tls_cert and tls_key, or neither (a self-signed certificate is then made in the state directory)", "tls_cert and tls_key: set both or neither")
	}
	for i, h := range c.HostNames {
		if !validHostName(h) {
			ck.errorf("host_names", "list DNS names only: letters, digits, '-' and '.'; no wildcards, ports or addresses",
				"host_names[%d]: not a DNS name", i)
		}
	}
	if c.SimulateInterval.Duration <= 0 {
		ck.errorf("simulate_interval", `give a positive duration such as "3s"`, "simulate_interval: must be positive")
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"max_connections", c.MaxConnections}, {"max_connections_per_token", c.MaxConnectionsPerToken}} {
		if n.v < 0 || n.v > MaxConnectionsLimit {
			ck.errorf(n.key, fmt.Sprintf("give a number from 1 to %d, or leave it out for the default", MaxConnectionsLimit), "%s: must be between 0 (default) and %d", n.key, MaxConnectionsLimit)
		}
	}
	if c.MaxConnections > 0 && c.MaxConnectionsPerToken > c.MaxConnections {
		ck.errorf("max_connections_per_token", "give at most max_connections", "max_connections_per_token: above max_connections")
	}
	if c.Kiosk.VerdictTimeout.Duration < 0 {
		ck.errorf("kiosk.verdict_timeout", `give a duration such as "10s", or "0s" to keep a verdict until the next tap`, "kiosk.verdict_timeout: must not be negative")
	}
	for _, list := range []struct {
		key  string
		pats []string
	}{{"include_readers", c.IncludeReaders}, {"exclude_readers", c.ExcludeReaders}} {
		for i, p := range list.pats {
			if p == "" {
				ck.errorf(list.key, `remove the empty pattern; "*" matches any run of characters`, "%s[%d]: empty pattern", list.key, i)
			}
		}
	}
	ck.validateLog(&c.Log)
	if lm := c.Remote.Legitmark; lm != nil {
		if err := lm.Validate(); err != nil {
			ck.errorf("remote.legitmark", "see docs/config.md, [remote.legitmark]", "remote.legitmark: %v", err)
		}
	}
	if l := c.Remote.Legitimate; l != nil {
		// Validate fills in the section's defaults too.
		if err := l.Validate(); err != nil {
			ck.errorf(remoteKey("remote.legitimate", err), "see docs/config.md, [remote.legitimate]", "%v", err)
		}
	}
	if f := c.Fleet; f != nil {
		ck.validateFleet(f)
	}
	ck.validateProfiles(c)
}

// validateFleet checks [fleet]: one source of the connection string that
// can be read and parsed (never quoted), and the section's own rules. A
// relative dsn_file becomes relative to the file's directory.
func (ck *checker) validateFleet(f *fleet.Config) {
	const fix = "see docs/config.md, [fleet]"
	var keys []string
	for _, s := range []struct{ key, v string }{{"fleet.dsn", f.DSN}, {"fleet.dsn_file", f.DSNFile}, {"fleet.dsn_env", f.DSNEnv}} {
		if s.v != "" {
			keys = append(keys, s.key)
		}
	}
	switch len(keys) {
	case 0:
		ck.errorf("fleet", "set dsn, dsn_file or dsn_env, or remove [fleet] to keep the fleet off", "fleet: no connection string (dsn, dsn_file or dsn_env)")
		return
	case 1:
	default:
		ck.errorf(keys[1], "keep one of dsn, dsn_file and dsn_env", "fleet: the connection string is set more than once (dsn, dsn_file, dsn_env)")
		return
	}
	if f.DSNFile != "" && !filepath.IsAbs(f.DSNFile) {
		f.DSNFile = filepath.Join(ck.dir, f.DSNFile)
	}
	if err := f.Validate(); err != nil {
		msg := strings.TrimPrefix(err.Error(), fleet.ErrConfig.Error()+": ")
		key := "fleet"
		if name, _, ok := strings.Cut(msg, ":"); ok && !strings.ContainsAny(name, " []") {
			key = "fleet." + name
		}
		ck.errorf(key, fix, "fleet: %s", msg)
		return
	}
	var dsn, key string
	switch {
	case f.DSN != "":
		dsn, key = f.DSN, "fleet.dsn"
	case f.DSNFile != "":
		key = "fleet.dsn_file"
		b, err := ck.env.read(f.DSNFile)
		if err != nil {
			if u := errors.Unwrap(err); u != nil {
				err = u // the path is in the message already
			}
			ck.errorf(key, "give a file the service account can read, holding the connection string alone",
				"fleet: dsn_file: cannot read %s: %v", f.DSNFile, err)
			return
		}
		if dsn = strings.TrimSpace(string(b)); dsn == "" {
			ck.errorf(key, "put the connection string in the file", "fleet: dsn_file: %s is empty", f.DSNFile)
			return
		}
		if readable, _, err := fileperm.ReadableByOthers(f.DSNFile); err == nil && readable {
			ck.warnf(key, fmt.Sprintf("chmod o-r %s: a connection string may hold a password", f.DSNFile),
				"fleet: dsn_file: %s is readable by other users", f.DSNFile)
		}
	default:
		key = "fleet.dsn_env"
		if !envName.MatchString(f.DSNEnv) {
			ck.errorf(key, "name a variable: letters, digits and _, not starting with a digit", "fleet: dsn_env: not a variable name")
			return
		}
		v, ok := ck.env.lookup(f.DSNEnv)
		if dsn = strings.TrimSpace(v); !ok || dsn == "" {
			ck.errorf(key, "set it in the daemon's environment, e.g. with systemd: systemctl edit nfcd, then [Service] EnvironmentFile=/etc/nfcd/fleet.env (mode 0600)",
				"fleet: dsn_env: the environment variable %s is not set", f.DSNEnv)
			return
		}
	}
	if err := fleet.CheckDSN(dsn); err != nil {
		ck.errorf(key, `write a URL such as "postgres://nfcd@db.example/nfcd?sslmode=verify-full" or a key=value list`,
			"fleet: %s: not a valid PostgreSQL URL or key=value list", strings.TrimPrefix(key, "fleet."))
	}
}

func (ck *checker) validateLog(l *Log) {
	if _, err := logging.ParseLevel(l.Level); err != nil && l.Level != "" {
		ck.errorf("log.level", `use "debug", "info", "warn" or "error"`, "log.level: not a level")
	}
	if _, err := logging.ParseFormat(l.Format); err != nil {
		ck.errorf("log.format", `use "console", "json" or "auto"`, "log.format: not a format")
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"log.max_size_mb", l.MaxSizeMB}, {"log.max_backups", l.MaxBackups}, {"log.max_age_days", l.MaxAgeDays}} {
		if n.v < 0 {
			ck.errorf(n.key, "use 0 for the default, or a positive number", "%s: must not be negative", n.key)
		}
	}
	if l.File != "" && !filepath.IsAbs(l.File) {
		l.File = filepath.Join(ck.dir, l.File)
	}
}

// factoryKey is the all-zero key of a tag fresh from the factory.
const factoryKey = "00000000000000000000000000000000"

func (ck *checker) validateProfiles(c *Config) {
	names := map[string]int{}
	for i := range c.Profiles {
		p := &c.Profiles[i]
		base := fmt.Sprintf("profile[%d]", i)
		label := profileLabel(p, i)
		if p.Name != "" {
			if j, dup := names[p.Name]; dup {
				ck.warnf(base+".name", "give every profile its own name: verdicts and the audit log name the profile",
					"%s: the name is also used by profile #%d", label, j+1)
			} else {
				names[p.Name] = i
			}
		}
		if _, err := p.Compile(false); err != nil {
			ck.profileError(p, base, label, err)
			// Compile stops at its first error: a layout error would hide
			// a malformed key, so the keys given are checked on their own.
			var first *profile.KeyError
			errors.As(err, &first)
			for _, s := range p.secrets() {
				if *s.value == "" || first != nil && first.Field == s.name {
					continue
				}
				if _, kerr := profile.ParseKey(s.name, *s.value, false); kerr != nil {
					ck.profileError(p, base, label, kerr)
				}
			}
			continue
		}
		for _, s := range p.secrets() {
			if strings.EqualFold(*s.value, factoryKey) {
				ck.warnf(base+"."+s.name, "personalise the tags with keys of your own: anyone can forge a tag that uses the factory keys",
					"%s: %s is the factory default key (all zeros)", label, s.name)
			}
		}
	}
}

// profileError reports why a profile does not compile, at the key it is
// about.
func (ck *checker) profileError(p *Profile, base, label string, err error) {
	var ke *profile.KeyError
	var fe *ntag424.FormatError
	switch {
	case errors.As(err, &ke):
		key := base + "." + ke.Field
		src := keySource(p, ke.Field)
		if src != "" {
			key = ck.sourceKey(p, base, ke.Field)
		}
		fix := fmt.Sprintf("write the key as 32 hex digits (16 bytes), e.g. %s = \"<32 hex digits>\", or use %s_file or %s_env", ke.Field, ke.Field, ke.Field)
		switch {
		case ke.Field == "div_input":
			fix = "write the diversification input as hex digits"
		case ke.Msg == "missing":
			fix = fmt.Sprintf("set %s (32 hex digits), %s_file (a file holding it) or %s_env (a variable holding it)", ke.Field, ke.Field, ke.Field)
		case src != "":
			fix = "the source must hold the key alone: 32 hex digits (surrounding whitespace is ignored)"
		}
		ck.errorf(key, fix, "%s: %s%s: %s", label, ke.Field, src, ke.Msg)
	case errors.As(err, &fe):
		key := base + "." + fe.Field
		if ck.lines.Line(key) == ck.lines.Line(base) {
			if alt := base + ".names." + fe.Field; ck.lines.Line(alt) != ck.lines.Line(base) {
				key = alt
			}
		}
		msg := fe.Msg
		switch fe.Field {
		case "mode", "crypto":
			// ntag424 may quote the value, which could be anything.
			msg = "not a known value"
		}
		ck.errorf(key, layoutFix(fe.Field), "%s: %s: %s", label, fe.Field, msg)
	default:
		ck.errorf(base, "see docs/config.md, [[profile]]", "%s: %s", label, strings.TrimPrefix(err.Error(), "ntag424: "))
	}
}

// sourceKey is the key that named the source of a profile's key.
func (ck *checker) sourceKey(p *Profile, base, field string) string {
	for _, s := range p.secrets() {
		if s.name != field {
			continue
		}
		if *s.file != "" {
			return base + "." + field + "_file"
		}
		return base + "." + field + "_env"
	}
	return base + "." + field
}

// layoutFix says how to correct a profile's layout field.
func layoutFix(field string) string {
	switch field {
	case "mode":
		return `use "plain" (UID and counter mirrored), "enc" (encrypted PICCData) or "encfile" (PICCData and file data)`
	case "crypto":
		return `use "aes" (the default) or "lrp"`
	case "ctr":
		return "only mode = \"plain\" may set ctr = false"
	case "mac_input_start":
		return "name the URL parameter whose value starts the MAC input, as personalised (often the cmac parameter)"
	}
	return "match the profile to how the tags were personalised (docs/config.md, [[profile]])"
}
