package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// [fleet]: one source of the connection string, every problem on its line,
// the password never in a message.
func TestFleetSection(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "fleet.dsn")
	os.WriteFile(dsnFile, []byte("postgres://nfcd:hunter2pw@db.example/nfcd\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty.dsn"), nil, 0o600)
	t.Setenv("NFCD_TEST_FLEET_DSN", "host=db.example user=nfcd password=hunter2pw")
	check := func(doc string) (Config, Report) {
		return CheckBytes(filepath.Join(dir, "nfcd.toml"), []byte(doc), env{})
	}

	c, r := check("[fleet]\ndsn_file = \"fleet.dsn\"\nkiosk = \"pos-1\"\ntimeout = \"150ms\"\nmigrate = true\n")
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if f := c.Fleet; f == nil || f.DSNFile != dsnFile || f.Kiosk != "pos-1" || f.Timeout != 150*time.Millisecond || !f.Migrate || c.HoldsKeys() {
		t.Fatalf("decoded %v, HoldsKeys %v", c.Fleet, c.HoldsKeys())
	}
	if c, r := check("[fleet]\ndsn_env = \"NFCD_TEST_FLEET_DSN\"\n"); r.Err() != nil || c.Fleet.DSNEnv == "" {
		t.Fatalf("dsn_env: %v", r.Err())
	}
	if c, r := check("[fleet]\ndsn = \"postgres://nfcd:hunter2pw@db/nfcd\"\n"); r.Err() != nil || !c.HoldsKeys() {
		t.Fatalf("inline dsn: %v, HoldsKeys %v", r.Err(), c.HoldsKeys())
	}
	if c, _ := check("listen = \"127.0.0.1:7424\"\n"); c.Fleet != nil {
		t.Fatal("no [fleet] section, yet a fleet")
	}

	for _, tc := range []struct {
		doc, key string
		line     int
		msg      string
	}{
		{"listen = \"127.0.0.1:7424\"\n[fleet]\nkiosk = \"a\"\n", "fleet", 2, "no connection string"},
		{"[fleet]\ndsn = \"postgres://nfcd:hunter2pw@db/nfcd\"\n\ndsn_env = \"X\"\n", "fleet.dsn_env", 4, "set more than once"},
		{"[fleet]\ndsn_file = \"missing.dsn\"\n", "fleet.dsn_file", 2, "cannot read"},
		{"[fleet]\ndsn_file = \"empty.dsn\"\n", "fleet.dsn_file", 2, "is empty"},
		{"[fleet]\ndsn_env = \"NFCD_TEST_FLEET_UNSET\"\n", "fleet.dsn_env", 2, "not set"},
		{"[fleet]\ndsn_env = \"1bad\"\n", "fleet.dsn_env", 2, "not a variable name"},
		{"[fleet]\ndsn = \"postgres://nfcd:hunter2pw@db:notaport/nfcd\"\n", "fleet.dsn", 2, "not a valid PostgreSQL URL"},
		{"[fleet]\ndsn = \"postgres://db/nfcd\"\n\ntimeout = \"20s\"\n", "fleet.timeout", 4, "above"},
		{"[fleet]\ndsn = \"postgres://db/nfcd\"\ntimeout = 300\n", "fleet.timeout", 3, "below 1ms"},
		{"[fleet]\ndsn = \"postgres://db/nfcd\"\nkiosk = \"two words\"\n", "fleet.kiosk", 3, "spaces"},
		{"[fleet]\ndsn = \"postgres://db/nfcd\"\nmigrat = true\n", "fleet.migrat", 3, "unknown key"},
	} {
		_, r := check(tc.doc)
		errs := r.Errors()
		if len(errs) != 1 {
			t.Errorf("%q: %d errors %v, want 1", tc.doc, len(errs), errs)
			continue
		}
		p := errs[0]
		if p.Key != tc.key || p.Line != tc.line || !strings.Contains(p.Msg, tc.msg) || p.Fix == "" {
			t.Errorf("%q: got %+v, want key %s line %d msg ~%q", tc.doc, p, tc.key, tc.line, tc.msg)
		}
		if strings.Contains(p.Msg+p.Fix+r.Err().Error(), "hunter2pw") {
			t.Errorf("%q: the password is in %+v", tc.doc, p)
		}
	}
}

func TestFleetDSNFileReadable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX modes")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fleet.dsn"), []byte("postgres://db/nfcd\n"), 0o644)
	_, r := CheckBytes(filepath.Join(dir, "nfcd.toml"), []byte("[fleet]\ndsn_file = \"fleet.dsn\"\n"), env{})
	if r.Err() != nil || len(r.Warnings()) != 1 || r.Warnings()[0].Key != "fleet.dsn_file" || r.Warnings()[0].Line != 2 {
		t.Fatalf("problems %+v", r.Problems)
	}
}
