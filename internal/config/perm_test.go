//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigWithKeysReadableByOthers repeats issue 13 §6: a configuration
// file holding tag keys, readable by every user of the kiosk, was used
// without a word. It is now reported loudly (a warning the daemon logs at
// error level on every start); one that others may write is refused.
func TestConfigWithKeysReadableByOthers(t *testing.T) {
	withKeys := "[[profile]]\nname = \"p\"\nmode = \"enc\"\nsdm_file_read_key = \"00000000000000000000000000000000\"\nsdm_meta_read_key = \"00000000000000000000000000000000\"\n"
	for _, tc := range []struct {
		name, body string
		mode       os.FileMode
		warn, fail bool
	}{
		{"keys 0644", withKeys, 0o644, true, false},
		{"keys 0640", withKeys, 0o640, false, false},
		{"keys 0600", withKeys, 0o600, false, false},
		{"no keys 0644", "listen = \"127.0.0.1:7424\"\n", 0o644, false, false},
		{"keys 0666", withKeys, 0o666, false, true},
		{"api key 0644", "[remote.legitmark]\napi_key = \"leo_PermTestSecret\"\n", 0o644, true, false},
		{"api key file 0644", "[remote.legitmark]\napi_key_file = \"/etc/nfcd/lm.key\"\n", 0o644, false, false},
		{"no keys 0620", "listen = \"127.0.0.1:7424\"\n", 0o620, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nfcd.toml")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tc.mode)
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			warning, err := CheckFile(path, &c)
			if (err != nil) != tc.fail || (warning != "") != tc.warn {
				t.Fatalf("CheckFile(%s) = %q, %v; want warning %v, error %v", tc.name, warning, err, tc.warn, tc.fail)
			}
			for _, s := range []string{warning, errString(err)} {
				if s != "" && (!strings.Contains(s, path) || !strings.Contains(s, "chmod")) {
					t.Errorf("%q does not name the file and the fix", s)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
