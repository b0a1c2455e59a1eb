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

// TestRemoteSection: [remote.legitimate] is parsed strictly, validated
// with its defaults filled in, and no error quotes the API key.
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
