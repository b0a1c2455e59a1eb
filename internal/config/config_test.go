package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse("nfcd.toml", []byte(`
listen = "127.0.0.1:9000"
allowed_origins = ["https://pos.example"]
audit_max_age = "24h"
simulate_interval = "500ms"
exclude_readers = ["*SAM*"]
metrics_public = true

[log]
level = "debug"
file = "logs/nfcd.log"

[[profile]]
name = "p"
mode = "enc"
sdm_file_read_key = "5ACE7E50AB65D5D51FD5BF5A16B8205B"
sdm_meta_read_key = "0C3B25D92B38AE443229DD59AD34B85D"
[profile.names]
cmac = "c"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.AuditMaxAge.Duration != 24*time.Hour || c.SimulateInterval.Duration != 500*time.Millisecond ||
		len(c.Profiles) != 1 || !c.MetricsPublic || c.Log.Level != "debug" || c.Profiles[0].Names.CMAC != "c" {
		t.Errorf("Parse = %+v", c)
	}
	if want := filepath.Join(".", "logs", "nfcd.log"); c.Log.File != want {
		t.Errorf("log.file = %q, want %q (relative to the file)", c.Log.File, want)
	}
	if set, err := c.CompileProfiles(); err != nil || len(set) != 1 {
		t.Errorf("CompileProfiles = %v, %v", set, err)
	}
	if !c.HoldsKeys() {
		t.Error("HoldsKeys = false for inline keys")
	}
}

func TestParseRejects(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"non-loopback":  {`listen = "0.0.0.0:7424"`, "not a loopback address"},
		"bad listen":    {`listen = "nonsense"`, "listen"},
		"unknown key":   {`lisen = "127.0.0.1:1"`, `unknown key "lisen"`},
		"bad duration":  {`audit_max_age = "forever"`, `key "audit_max_age"`},
		"syntax":        {`listen = `, "invalid TOML at line 1"},
		"bad profile":   {"[[profile]]\nname = \"x\"\nmode = \"plain\"\n", `profile "x"`},
		"zero interval": {`simulate_interval = "0s"`, "simulate_interval"},
		"log level":     {"[log]\nlevel = \"loud\"\n", "log.level"},
		"empty glob":    {`include_readers = [""]`, "include_readers[0]"},
	} {
		_, err := Parse("nfcd.toml", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", name, err, tc.want)
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: error %T, want *Error", name, err)
		}
	}
	if _, err := Parse("nfcd.toml", []byte("listen = \"0.0.0.0:7424\"\nallow_non_loopback = true\n")); err != nil {
		t.Errorf("allow_non_loopback: %v", err)
	}
}

// secretKey must never appear in a problem.
const secretKey = "5ACE7E50AB65D5D51FD5BF5A16B8205B"

// TestCheckReportsEveryProblem: one pass finds every problem of a file,
// each at its line, with a fix, and none quotes a key.
func TestCheckReportsEveryProblem(t *testing.T) {
	doc := `listen = "0.0.0.0:7424"       # line 1
lisen = "127.0.0.1:1"
simulate_interval = "0s"

[log]
levle = "debug"

[[profile]]
name = "good"
mode = "enc"
sdm_file_read_key = "` + secretKey + `"
sdm_meta_read_key = "` + secretKey + `"

[[profile]]
name = "short-key"
mode = "enc"
sdm_file_read_key = "` + secretKey[:31] + `"
sdm_meta_read_key = "` + secretKey + `"

[[profile]]
name = "bad-mode"
mode = "` + secretKey + `x"
sdm_file_read_key = "` + secretKey + `"
`
	_, r := CheckBytes("nfcd.toml", []byte(doc), env{})
	want := []struct {
		line int
		key  string
		msg  string
	}{
		{1, "listen", "listen: 0.0.0.0 is not a loopback address"},
		{2, "lisen", `unknown key "lisen"`},
		{3, "simulate_interval", "must be positive"},
		{6, "log.levle", `unknown key "log.levle"`},
		{17, "profile[1].sdm_file_read_key", `profile "short-key": sdm_file_read_key: want 32 hex digits, got 31`},
		{22, "profile[2].mode", `profile "bad-mode": mode`},
	}
	errs := r.Errors()
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		p := errs[i]
		if p.Line != w.line || p.Key != w.key || !strings.Contains(p.Msg, w.msg) || p.Fix == "" {
			t.Errorf("problem %d = %+v, want line %d key %s msg ~%q and a fix", i, p, w.line, w.key, w.msg)
		}
	}
	if s := errs[1].Fix; !strings.Contains(s, `"listen"`) {
		t.Errorf("unknown key fix = %q, want a suggestion of listen", s)
	}
	if s := errs[3].Fix; !strings.Contains(s, `"level"`) {
		t.Errorf("unknown key fix = %q, want a suggestion of level", s)
	}
	err := r.Err()
	for _, p := range r.Problems {
		if strings.Contains(p.Msg+p.Fix, secretKey[:16]) {
			t.Errorf("problem quotes key material: %+v", p)
		}
	}
	if err == nil || strings.Contains(err.Error(), secretKey[:16]) {
		t.Errorf("Err() = %v", err)
	}
}

// TestCheckReportsEveryProblemOfAProfile: a layout error does not hide a
// malformed key of the same profile.
func TestCheckReportsEveryProblemOfAProfile(t *testing.T) {
	doc := `[[profile]]
name = "two-problems"
mode = "weird"
sdm_file_read_key = "` + secretKey[:30] + `"
sdm_meta_read_key = "` + secretKey + `"
app_master_key = "` + secretKey[:31] + `z"
`
	_, r := CheckBytes("nfcd.toml", []byte(doc), env{})
	want := []struct {
		line int
		key  string
		msg  string
	}{
		{3, "profile[0].mode", `profile "two-problems": mode`},
		{4, "profile[0].sdm_file_read_key", "sdm_file_read_key: want 32 hex digits, got 30"},
		{6, "profile[0].app_master_key", "app_master_key: not hex"},
	}
	errs := r.Errors()
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		p := errs[i]
		if p.Line != w.line || p.Key != w.key || !strings.Contains(p.Msg, w.msg) || p.Fix == "" {
			t.Errorf("problem %d = %+v, want line %d key %s msg ~%q and a fix", i, p, w.line, w.key, w.msg)
		}
		if strings.Contains(p.Msg+p.Fix, secretKey[:16]) {
			t.Errorf("problem quotes key material: %+v", p)
		}
	}
}

func TestKeySources(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "keys"), 0o700)
	keyFile := filepath.Join(dir, "keys", "file.key")
	os.WriteFile(keyFile, []byte(secretKey+"\n"), 0o600)
	t.Setenv("NFCD_TEST_META_KEY", "0C3B25D92B38AE443229DD59AD34B85D")
	path := filepath.Join(dir, "nfcd.toml")
	os.WriteFile(path, []byte(`
[[profile]]
name = "p"
mode = "enc"
sdm_file_read_key_file = "keys/file.key"
sdm_meta_read_key_env = "NFCD_TEST_META_KEY"
`), 0o644)
	c, r := Check(path)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 0 {
		t.Errorf("problems: %v (keys out of the file need no warning)", r.Problems)
	}
	p := c.Profiles[0]
	if p.FileReadKey != secretKey || p.MetaReadKey != "0C3B25D92B38AE443229DD59AD34B85D" || c.HoldsKeys() {
		t.Errorf("resolved %q %q, HoldsKeys %v", p.FileReadKey, p.MetaReadKey, c.HoldsKeys())
	}
	if got := c.KeyFiles(); !slices.Equal(got, []string{keyFile}) {
		t.Errorf("KeyFiles = %q, want [%s]", got, keyFile)
	}

	check := func(name, body string, want ...string) Report {
		t.Helper()
		os.WriteFile(path, []byte(body), 0o600)
		_, r := Check(path)
		err := r.Err()
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an error containing %q", name, err, w)
			}
		}
		for _, p := range r.Problems {
			if strings.Contains(p.Msg+p.Fix, secretKey[:16]) {
				t.Errorf("%s: quotes the key: %+v", name, p)
			}
		}
		return r
	}
	check("two sources", "[[profile]]\nmode = \"plain\"\nsdm_file_read_key = \""+secretKey+"\"\nsdm_file_read_key_file = \"keys/file.key\"\n",
		"line 4: profile #1: sdm_file_read_key is set more than once")
	check("missing file", "[[profile]]\nmode = \"plain\"\nsdm_file_read_key_file = \"nope\"\n",
		"line 3", filepath.Join(dir, "nope")+" does not exist")
	check("unset variable", "[[profile]]\nmode = \"plain\"\nsdm_file_read_key_env = \"NFCD_TEST_UNSET\"\n",
		"line 3", "NFCD_TEST_UNSET is not set")
	check("bad variable", "[[profile]]\nmode = \"plain\"\nsdm_file_read_key_env = \"1 x\"\n", "not a variable name")
	os.WriteFile(keyFile, []byte(secretKey+"FF\n"), 0o600)
	r = check("long key in file", "[[profile]]\nmode = \"plain\"\nsdm_file_read_key_file = \"keys/file.key\"\n",
		"line 3: profile #1: sdm_file_read_key (from "+keyFile+"): want 32 hex digits, got 34")
	if errs := r.Errors(); len(errs) != 1 || errs[0].Key != "profile[0].sdm_file_read_key_file" {
		t.Errorf("long key in file: %+v", errs)
	}
	check("no key", "[[profile]]\nmode = \"plain\"\n", "sdm_file_read_key: missing")
}

func TestCheckWarnings(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "nfcd.toml")
	keyFile := filepath.Join(dir, "k")
	os.WriteFile(keyFile, []byte(secretKey), 0o644)
	os.WriteFile(path, []byte(`
[[profile]]
name = "a"
mode = "enc"
sdm_file_read_key = "`+secretKey+`"
sdm_meta_read_key = "00000000000000000000000000000000"
[[profile]]
name = "a"
mode = "plain"
sdm_file_read_key_file = "k"
`), 0o644)
	_, r := Check(path)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range r.Warnings() {
		got = append(got, p.Key)
	}
	want := []string{"profile[0].sdm_meta_read_key", "profile[1].name", "profile[1].sdm_file_read_key_file", ""}
	if !slices.Equal(got, want) {
		t.Errorf("warnings at %q, want %q\n%v", got, want, r.Warnings())
	}
	os.Chmod(path, 0o640)
	if _, r := Check(path); len(r.Warnings()) != 3 {
		t.Errorf("mode 0640: %v", r.Warnings())
	}
	// An API key written inline is key material too.
	os.WriteFile(path, []byte("[remote.legitimate]\nbase_url = \"https://a.example/v1\"\napi_key = \"sekrit-api-key-1\"\n"), 0o644)
	os.Chmod(path, 0o644) // WriteFile keeps the mode of an existing file
	if _, r := Check(path); len(r.Warnings()) != 1 || !strings.Contains(r.Warnings()[0].Msg, "other users can read it") {
		t.Errorf("inline API key, mode 0644: %v", r.Problems)
	}
	os.WriteFile(path, []byte("[remote.legitimate]\nbase_url = \"https://a.example/v1\"\napi_key_env = \"LEGITIMATE_KEY\"\n"), 0o644)
	if _, r := Check(path); len(r.Problems) != 0 {
		t.Errorf("API key from the environment, mode 0644: %v", r.Problems)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load of a missing file = %v", err)
	}
}

// TestExample: the example loads as the defaults, and with every setting
// uncommented it still loads; it mentions every key.
func TestExample(t *testing.T) {
	c, err := Parse("nfcd.toml", Example())
	if err != nil {
		t.Fatalf("example refused: %v", err)
	}
	d := Default()
	if c.Listen != d.Listen || c.SimulateInterval != d.SimulateInterval || len(c.Profiles) != 0 {
		t.Errorf("example = %+v, want the defaults", c)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(Example()), "\n") {
		if rest, ok := strings.CutPrefix(line, "#"); ok && rest != "" && rest[0] != ' ' {
			line = rest
		}
		b.WriteString(line + "\n")
	}
	c, err = Parse("uncommented", []byte(b.String()))
	if err != nil {
		t.Fatalf("the example with every setting uncommented is refused: %v\n%s", err, b.String())
	}
	if len(c.Profiles) != 1 || c.Log.File == "" || len(c.AllowedOrigins) == 0 {
		t.Errorf("uncommented example = %+v", c)
	}
	for _, k := range Keys() {
		last := k[strings.LastIndexByte(k, '.')+1:]
		if !strings.Contains(string(Example()), last) {
			t.Errorf("the example does not mention %s", k)
		}
	}
}

// TestDocs: docs/config.md lists every key.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if !strings.Contains(string(b), "`"+k+"`") {
			t.Errorf("docs/config.md does not list `%s`", k)
		}
	}
}

// [remote.legitmark] is decoded strictly, validated at load, and its errors
// never quote the API key.
func TestParseLegitmark(t *testing.T) {
	c, err := Parse("nfcd.toml", []byte(""))
	if err != nil || c.Remote.Legitmark != nil {
		t.Fatalf("no section: %+v, %v; want the station off", c.Remote, err)
	}
	const key = "leo_ConfigTestSecret99"
	c, err = Parse("nfcd.toml", []byte(`
[remote.legitmark]
base_url = "http://127.0.0.1:9800"
intent_url = "http://127.0.0.1:9800/intent"
api_key = "`+key+`"
station_id = "kiosk42"
poll_min = "2s"
[remote.legitmark.limits]
sr_per_hour = 10
`))
	if err != nil {
		t.Fatal(err)
	}
	lm := c.Remote.Legitmark
	if lm == nil || lm.StationID != "kiosk42" || lm.PollMin != 2*time.Second || lm.Limits.SRPerHour != 10 || lm.APIKey.Reveal() != key {
		t.Errorf("decoded %+v", lm)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":   {"[remote.legitmark]\napi_key = \"" + key + "\"\napi_kee = 1\n", `unknown key "remote.legitmark.api_kee"`},
		"two keys":      {"[remote.legitmark]\napi_key = \"" + key + "\"\napi_key_env = \"LM\"\n", "exactly one of api_key"},
		"no key":        {"[remote.legitmark]\nstation_id = \"k\"\n", "exactly one of api_key"},
		"plain http":    {"[remote.legitmark]\napi_key = \"" + key + "\"\nbase_url = \"http://api.legitmark.com\"\n", "loopback"},
		"key with tab":  {"[remote.legitmark]\napi_key = \"leo_a\\tb" + key + "\"\n", "api_key"},
		"bad station":   {"[remote.legitmark]\napi_key = \"" + key + "\"\nstation_id = \"a b\"\n", "station_id"},
		"unknown limit": {"[remote.legitmark]\napi_key = \"" + key + "\"\n[remote.legitmark.limits]\nper_day = 1\n", "unknown key"},
		"unknown svc":   {"[remote.legitmate]\nx = 1\n", "unknown key"},
	} {
		_, err := Parse("nfcd.toml", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", name, err, tc.want)
		} else if strings.Contains(err.Error(), "ConfigTestSecret") {
			t.Errorf("%s: the error quotes the API key: %v", name, err)
		}
	}
}

func TestRemoteSection(t *testing.T) {
	c, err := Parse("nfcd.toml", []byte(`
[remote.legitimate]
base_url = "https://api.legitimate.tech/external/v1"
match = ["https://legitimate.app/"]
mode = "remote-required"
timeout = "2s"
api_key = "sekrit-api-key-1"
outbox_max_age = "1h"
claim_window = "2m"
`))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Remote.Legitimate
	if l == nil || l.Mode != "remote-required" || l.Timeout.Duration != 2*time.Second || l.OutboxMaxAge.Duration != time.Hour ||
		l.OutboxMaxItems != 10000 || l.ClaimWindow.Duration != 2*time.Minute || l.APIKey.Reveal() != "sekrit-api-key-1" {
		t.Errorf("remote section %+v", l)
	}
	if c, err := Parse("nfcd.toml", nil); err != nil || c.Remote.Legitimate != nil {
		t.Errorf("no section: %+v, %v; want remote off", c.Remote, err)
	}
	for name, tc := range map[string]struct{ body, want string }{
		"unknown key":  {"[remote.legitimate]\nbase_url = \"https://a.example/v1\"\napi_kee = \"sekrit-api-key-1\"", `unknown key "remote.legitimate.api_kee"`},
		"no base_url":  {"[remote.legitimate]\nmode = \"confirm\"", "base_url: missing"},
		"plain http":   {"[remote.legitimate]\nbase_url = \"http://api.example/v1\"\napi_key = \"sekrit-api-key-1\"", "https"},
		"bad mode":     {"[remote.legitimate]\nbase_url = \"https://a.example/v1\"\nmode = \"sekrit-api-key-1\"", "mode"},
		"bad age":      {"[remote.legitimate]\nbase_url = \"https://a.example/v1\"\noutbox_max_age = \"-1h\"", "outbox_max_age"},
		"key in a URL": {"[remote.legitimate]\nbase_url = \"https://user:sekrit-api-key-1@a.example/v1\"", "credentials"},
	} {
		_, err := Parse("nfcd.toml", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", name, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "sekrit") || strings.Contains(err.Error(), "12345678")) {
			t.Errorf("%s: the error quotes a secret: %v", name, err)
		}
	}
}

// TestWildcardOriginRejected repeats issue 13 §6: allowed_origins =
// ["http://*.example"] was taken as a literal origin, so an operator who
// meant every subdomain silently allowed none (or, with a later matcher,
// more than intended). Wildcards are refused with a clear message.
func TestWildcardOriginRejected(t *testing.T) {
	for _, o := range []string{"http://*.example", "https://*", "*", "https://pos.example:*"} {
		_, err := Parse("nfcd.toml", []byte(`allowed_origins = ["`+o+`"]`))
		if err == nil || !strings.Contains(err.Error(), "wildcards are not supported") {
			t.Errorf("allowed_origins = [%q]: err = %v", o, err)
		}
	}
	for _, o := range []string{"pos.example", "ftp://pos.example", "https://pos.example/app", "https://u@pos.example", "null"} {
		if _, err := Parse("nfcd.toml", []byte(`allowed_origins = ["`+o+`"]`)); err == nil || !strings.Contains(err.Error(), "not an origin") {
			t.Errorf("allowed_origins = [%q]: err = %v", o, err)
		}
	}
	if _, err := Parse("nfcd.toml", []byte(`allowed_origins = ["https://pos.example:8443", "http://localhost:3000/"]`)); err != nil {
		t.Errorf("plain origins: %v", err)
	}
}

func TestTLSAndHostNames(t *testing.T) {
	c, err := Parse("nfcd.toml", []byte(`listen = "0.0.0.0:7424"
allow_non_loopback = true
tls_cert = "/etc/nfcd/tls.crt"
tls_key = "/etc/nfcd/tls.key"
host_names = ["kiosk-3.shop.example", "KIOSK-3"]
`))
	if err != nil || c.TLSCert != "/etc/nfcd/tls.crt" || len(c.HostNames) != 2 || c.Loopback() {
		t.Fatalf("Parse = %+v, %v", c, err)
	}
	for name, body := range map[string]string{
		"cert without key": `tls_cert = "/a"`,
		"key without cert": `tls_key = "/a"`,
		"wildcard name":    `host_names = ["*.shop.example"]`,
		"name with port":   `host_names = ["kiosk:7424"]`,
		"address":          `host_names = ["192.0.2.2"]`,
		"localhost":        `host_names = ["localhost"]`,
	} {
		if _, err := Parse("nfcd.toml", []byte(body)); err == nil {
			t.Errorf("%s: Parse accepted %s", name, body)
		}
	}
}

// TestKiosk: the kiosk page's settings default to a 10 s verdict and no
// sound, and are set in [kiosk].
func TestKiosk(t *testing.T) {
	if k := Default().Kiosk; k.VerdictTimeout.Duration != DefaultVerdictTimeout || k.Sound {
		t.Errorf("Default().Kiosk = %+v, want %v and no sound", k, DefaultVerdictTimeout)
	}
	c, err := Parse("nfcd.toml", []byte("[kiosk]\nverdict_timeout = \"4s\"\nsound = true\n"))
	if err != nil || c.Kiosk.VerdictTimeout.Duration != 4*time.Second || !c.Kiosk.Sound {
		t.Errorf("Parse([kiosk]) = %+v, %v", c.Kiosk, err)
	}
	if _, err := Parse("nfcd.toml", []byte("[kiosk]\nverdict_timeout = \"-1s\"\n")); err == nil || !strings.Contains(err.Error(), "kiosk.verdict_timeout") {
		t.Errorf("negative verdict_timeout: %v", err)
	}
	if _, err := Parse("nfcd.toml", []byte("[kiosk]\nvolume = 3\n")); err == nil {
		t.Error("unknown kiosk key accepted")
	}
}

// TestConnectionLimits: max_connections and max_connections_per_token
// take 1 to MaxConnectionsLimit (0 or absent: the defaults), the per-token
// limit not above the total.
func TestConnectionLimits(t *testing.T) {
	c, r := CheckBytes("nfcd.toml", []byte("max_connections = 100\nmax_connections_per_token = 20\n"), env{})
	if r.Err() != nil || c.MaxConnections != 100 || c.MaxConnectionsPerToken != 20 {
		t.Fatalf("decoded %d/%d, %v", c.MaxConnections, c.MaxConnectionsPerToken, r.Err())
	}
	for doc, key := range map[string]string{
		"max_connections = -1\n":                                 "max_connections",
		"max_connections = 5000\n":                               "max_connections",
		"max_connections_per_token = 100000\n":                   "max_connections_per_token",
		"max_connections = 10\nmax_connections_per_token = 11\n": "max_connections_per_token",
	} {
		_, r := CheckBytes("nfcd.toml", []byte(doc), env{})
		errs := r.Errors()
		if len(errs) != 1 || errs[0].Key != key || errs[0].Line == 0 || errs[0].Fix == "" {
			t.Errorf("%q: problems %+v, want one at %s with its line and a fix", doc, errs, key)
		}
	}
}
