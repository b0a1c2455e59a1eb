package legitmark_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/nfcd/nfcd/internal/legitmark"
)

const secretKey = "leo_SuperSecretKeyValue42"

func TestConfigTOML(t *testing.T) {
	var doc struct {
		Remote struct {
			Legitmark legitmark.Config `toml:"legitmark"`
		} `toml:"remote"`
	}
	md, err := toml.Decode(`
[remote.legitmark]
base_url = "https://proxy.internal.example"
intent_url = "https://proxy.internal.example/intent"
auth = "x-api-key"
api_key = "`+secretKey+`"
user_token_env = "LM_TOKEN"
service = "svc"
timeout = "20s"
upload_timeout = "3m"
parallel_uploads = 2
poll_min = "30s"
poll_max = "2m"
[remote.legitmark.limits]
app_per_minute = 500
user_per_minute = 30
sr_per_hour = -1
`, &doc)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("undecoded keys %v", und)
	}
	c := doc.Remote.Legitmark
	if c.Timeout != 20*time.Second || c.UploadTimeout != 3*time.Minute || c.PollMax != 2*time.Minute || c.ParallelUploads != 2 ||
		c.Limits != (legitmark.Limits{AppPerMinute: 500, UserPerMinute: 30, SRPerHour: -1}) || c.APIKey.Reveal() != secretKey {
		t.Errorf("decoded %+v", c)
	}
	creds, err := c.Resolve(func(k string) string {
		if k == "LM_TOKEN" {
			return "lm_usr_abcdef012345\n"
		}
		return ""
	})
	if err != nil || creds.UserToken.Reveal() != "lm_usr_abcdef012345" {
		t.Fatalf("Resolve = %v", err)
	}
	// However the config is printed or encoded, the key stays out.
	js, _ := json.Marshal(c)
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(creds), string(js)} {
		if strings.Contains(s, "SuperSecret") || strings.Contains(s, "abcdef012345") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(secretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	openFile := filepath.Join(dir, "open")
	if err := os.WriteFile(openFile, []byte(secretKey), 0o644); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad")
	if err := os.WriteFile(badFile, []byte("leo_Super secret.String\tKey"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		return map[string]string{"LM_KEY": secretKey, "LM_BAD": "leo_Secret\x01Value"}[k]
	}
	for _, tc := range []struct {
		name    string
		mod     func(*legitmark.Config)
		wantErr string // substring; "" for success
	}{
		{"inline key", func(c *legitmark.Config) {}, ""},
		{"key file", func(c *legitmark.Config) { c.APIKey, c.APIKeyFile = "", keyFile }, ""},
		{"key env", func(c *legitmark.Config) { c.APIKey, c.APIKeyEnv = "", "LM_KEY" }, ""},
		{"loopback http for the fake", func(c *legitmark.Config) {
			c.BaseURL, c.IntentURL = "http://127.0.0.1:8089", "http://localhost:8089/intent"
		}, ""},
		{"no key", func(c *legitmark.Config) { c.APIKey = "" }, "exactly one of api_key"},
		{"two keys", func(c *legitmark.Config) { c.APIKeyEnv = "LM_KEY" }, "exactly one of api_key"},
		{"bad auth", func(c *legitmark.Config) { c.Auth = "basic" }, "auth:"},
		{"http to the network", func(c *legitmark.Config) { c.BaseURL = "http://api.legitmark.com" }, "loopback"},
		{"credentials in url", func(c *legitmark.Config) { c.BaseURL = "https://u:" + secretKey + "@api.legitmark.com" }, "credentials in the URL"},
		{"token with bearer", func(c *legitmark.Config) { c.UserToken = "lm_usr_x" }, "only sent with auth"},
		{"too many uploads", func(c *legitmark.Config) { c.ParallelUploads = 5 }, "parallel_uploads"},
		{"poll too fast", func(c *legitmark.Config) { c.PollMin = time.Millisecond }, "poll_min"},
		{"key with a space", func(c *legitmark.Config) { c.APIKey = "leo_Super SecretKey" }, "not printable"},
		{"key file readable by everyone", func(c *legitmark.Config) { c.APIKey, c.APIKeyFile = "", openFile }, "readable by everyone"},
		{"key file with spaces", func(c *legitmark.Config) { c.APIKey, c.APIKeyFile = "", badFile }, "not printable"},
		{"key file missing", func(c *legitmark.Config) { c.APIKey, c.APIKeyFile = "", filepath.Join(dir, "nope") }, "no such file"},
		{"key env unset", func(c *legitmark.Config) { c.APIKey, c.APIKeyEnv = "", "LM_UNSET" }, "$LM_UNSET is empty"},
		{"key env control char", func(c *legitmark.Config) { c.APIKey, c.APIKeyEnv = "", "LM_BAD" }, "not printable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := legitmark.Config{APIKey: secretKey}
			tc.mod(&c)
			creds, err := c.Resolve(env)
			if tc.wantErr == "" {
				if err != nil || creds.APIKey.Reveal() != secretKey {
					t.Fatalf("Resolve = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, legitmark.ErrConfig) {
				t.Fatalf("Resolve = %v, want an ErrConfig containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "Secret") {
				t.Errorf("error shows the secret: %s", err)
			}
		})
	}
}
