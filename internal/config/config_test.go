package config

import (
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

[[profile]]
name = "p"
mode = "enc"
sdm_file_read_key = "00000000000000000000000000000000"
sdm_meta_read_key = "00000000000000000000000000000000"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.AuditMaxAge.Duration != 24*time.Hour || c.SimulateInterval.Duration != 500*time.Millisecond || len(c.Profiles) != 1 {
		t.Errorf("Parse = %+v", c)
	}
	if set, err := c.CompileProfiles(); err != nil || len(set) != 1 {
		t.Errorf("CompileProfiles = %v, %v", set, err)
	}
}

func TestParseRejects(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"non-loopback":  {`listen = "0.0.0.0:7424"`, "not a loopback address"},
		"bad listen":    {`listen = "nonsense"`, "listen"},
		"unknown key":   {`lisen = "127.0.0.1:1"`, `unknown key "lisen"`},
		"bad duration":  {`audit_max_age = "forever"`, `key "audit_max_age"`},
		"syntax":        {`listen = `, "invalid TOML at line 1"},
		"bad profile":   {"[[profile]]\nname = \"x\"\nmode = \"plain\"\n", "profile x"},
		"zero interval": {`simulate_interval = "0s"`, "simulate_interval"},
	} {
		_, err := Parse("nfcd.toml", []byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse = %v, want an error containing %q", name, err, tc.want)
		}
	}
	if _, err := Parse("nfcd.toml", []byte("listen = \"0.0.0.0:7424\"\nallow_non_loopback = true\n")); err != nil {
		t.Errorf("allow_non_loopback: %v", err)
	}
}
