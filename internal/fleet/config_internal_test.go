package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const secret = "s3cr3t-Pa55"

func TestConfigTOML(t *testing.T) {
	var f struct {
		Fleet Config `toml:"fleet"`
	}
	md, err := toml.Decode(`
[fleet]
dsn = "postgres://nfcd@db.example/nfcd?sslmode=verify-full"
kiosk = "store-042-pos-1"
timeout = "300ms"
migrate = true
`, &f)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) != 0 {
		t.Errorf("undecoded keys %v", und)
	}
	want := Config{DSN: "postgres://nfcd@db.example/nfcd?sslmode=verify-full", Kiosk: "store-042-pos-1", Timeout: 300 * time.Millisecond, Migrate: true}
	if f.Fleet != want {
		t.Errorf("decoded %#v, want %#v", f.Fleet, want)
	}
	if !f.Fleet.Enabled() || (Config{}).Enabled() {
		t.Error("Enabled wrong")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"empty", Config{}, true},
		{"dsn", Config{DSN: "postgres://x"}, true},
		{"two sources", Config{DSN: "postgres://x", DSNEnv: "X"}, false},
		{"three sources", Config{DSN: "postgres://x", DSNEnv: "X", DSNFile: "f"}, false},
		{"kiosk with space", Config{Kiosk: "pos 1"}, false},
		{"kiosk with control", Config{Kiosk: "pos\x01"}, false},
		{"kiosk too long", Config{Kiosk: strings.Repeat("k", MaxKioskLen+1)}, false},
		{"kiosk invalid UTF-8", Config{Kiosk: "k\xff"}, false},
		{"kiosk unicode", Config{Kiosk: "kasse-münchen-1"}, true},
		{"timeout as a bare integer (nanoseconds)", Config{Timeout: 300}, false},
		{"negative timeout", Config{Timeout: -time.Second}, false},
		{"timeout too long", Config{Timeout: MaxTimeout + 1}, false},
		{"timeout at most", Config{Timeout: MaxTimeout}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Errorf("Validate(%s) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Errorf("Validate error %v is not ErrConfig", err)
			}
		})
	}
}

func TestConfigResolve(t *testing.T) {
	dir := t.TempDir()
	dsn := "postgres://nfcd:" + secret + "@db.example:5433/fleet?sslmode=disable"
	file := filepath.Join(dir, "dsn")
	os.WriteFile(file, []byte("\n  "+dsn+"  \n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	env := map[string]string{"FLEET_DSN": dsn}
	host := func() (string, error) { return "kiosk-host", nil }
	noHost := func() (string, error) { return "", errors.New("no host name") }
	spaceHost := func() (string, error) { return "my host", nil }

	tests := []struct {
		name    string
		cfg     Config
		host    func() (string, error)
		ok      bool
		kiosk   string
		timeout time.Duration
	}{
		{"dsn with defaults", Config{DSN: dsn}, host, true, "kiosk-host", DefaultTimeout},
		{"dsn_file", Config{DSNFile: file, Kiosk: "k1", Timeout: time.Second}, noHost, true, "k1", time.Second},
		{"dsn_env", Config{DSNEnv: "FLEET_DSN"}, host, true, "kiosk-host", DefaultTimeout},
		{"key=value form", Config{DSN: "host=db.example user=nfcd password=" + secret + " dbname=fleet"}, host, true, "kiosk-host", DefaultTimeout},
		{"no source", Config{}, host, false, "", 0},
		{"missing file", Config{DSNFile: filepath.Join(dir, "nope")}, host, false, "", 0},
		{"empty file", Config{DSNFile: empty}, host, false, "", 0},
		{"unset env", Config{DSNEnv: "NOT_SET"}, host, false, "", 0},
		{"no host name", Config{DSN: dsn}, noHost, false, "", 0},
		{"host name unusable", Config{DSN: dsn}, spaceHost, false, "", 0},
		{"bad URL with password", Config{DSN: "postgres://nfcd:" + secret + "@db.example:notaport/x"}, host, false, "", 0},
		{"bad key=value with password", Config{DSN: "password=" + secret + " port=notaport"}, host, false, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.cfg.resolve(tc.host, func(k string) string { return env[k] })
			if (err == nil) != tc.ok {
				t.Fatalf("resolve = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "db.example") {
					t.Errorf("error %q shows the connection string", err)
				}
				if !errors.Is(err, ErrConfig) {
					t.Errorf("error %v is not ErrConfig", err)
				}
				t.Logf("error: %v", err)
				return
			}
			if r.kiosk != tc.kiosk || r.timeout != tc.timeout {
				t.Errorf("kiosk %q timeout %v, want %q %v", r.kiosk, r.timeout, tc.kiosk, tc.timeout)
			}
			if r.password != secret || r.pool.ConnConfig.Password != secret {
				t.Errorf("password not parsed")
			}
		})
	}
}

func TestConfigNeverPrintsTheDSN(t *testing.T) {
	cfg := Config{DSN: "postgres://nfcd:" + secret + "@db.example/fleet", Kiosk: "k"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, cfg); strings.Contains(s, secret) || strings.Contains(s, "db.example") {
			t.Errorf("Sprintf(%q, cfg) = %s", verb, s)
		}
		if s := fmt.Sprintf(verb, &cfg); strings.Contains(s, secret) {
			t.Errorf("Sprintf(%q, &cfg) = %s", verb, s)
		}
	}
}

func TestScrub(t *testing.T) {
	base := errors.New("server said: password " + secret + " is wrong")
	err := scrub(fmt.Errorf("connect: %w", base), secret)
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("scrub = %q", err)
	}
	if !errors.Is(err, base) {
		t.Error("scrubbed error does not unwrap to the original")
	}
	if e := errors.New("plain"); scrub(e, secret) != e || scrub(e, "") != e {
		t.Error("scrub changed an error without the password")
	}
	if scrub(nil, secret) != nil {
		t.Error("scrub(nil) != nil")
	}
}
