package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	sampleEnc   = "https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086"
	samplePlain = "https://sdm.example/tagpt?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVerifyReadable(t *testing.T) {
	out, _, err := runCLI(t, "", "verify", samplePlain)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, want := range []string{"verdict  authentic", "uid      041E3C8A2D6B80", "counter  6", "reason   ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestVerifyJSON(t *testing.T) {
	bad := strings.TrimSuffix(sampleEnc, "86") + "87"
	out, _, err := runCLI(t, "", "verify", "--mode", "enc", sampleEnc, "--json", bad)
	if !errors.Is(err, errInvalid) {
		t.Errorf("verify with an invalid URL: err = %v, want errInvalid (exit 1)", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), out)
	}
	var first, second map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[1]), &second)
	if first["valid"] != true || first["uid"] != "04DE5F1EACC040" || first["ctr"] != 61.0 || first["url"] != sampleEnc {
		t.Errorf("first line = %s", lines[0])
	}
	if second["valid"] != false || second["reason"] != "bad_mac" {
		t.Errorf("second line = %s", lines[1])
	}
}

func TestVerifyProfileFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tags.toml")
	secret := "0C3B25D92B38AE443229DD59AD34B85D"
	os.WriteFile(path, []byte(`
[[profile]]
name = "bolt"
match = "lnurlw://card.example/"
mode = "enc"
sdm_meta_read_key = "`+secret+`"
sdm_file_read_key = "B45775776CB224C75BCDE7CA3704E933"
[profile.names]
picc_data = "p"
cmac = "c"
`), 0o600)
	url := "lnurlw://card.example/ln?p=4E2E289D945A66BB13377A728884E867&c=E19CCB1FED8892CE"
	out, _, err := runCLI(t, "", "verify", "--profile", path, "--json", url, "https://other.example/?p=00&c=00")
	if !errors.Is(err, errInvalid) {
		t.Fatalf("err = %v, want errInvalid", err)
	}
	if !strings.Contains(out, `"uid":"04996C6A926980","ctr":3`) || !strings.Contains(out, `"reason":"unknown_profile"`) {
		t.Errorf("output:\n%s", out)
	}
	// A broken key must be reported without echoing key material.
	os.WriteFile(path, []byte("[[profile]]\nmode = \"plain\"\nsdm_file_read_key = \""+secret[:30]+"ZZ\"\n"), 0o600)
	_, _, err = runCLI(t, "", "verify", "--profile", path, url)
	if err == nil || strings.Contains(err.Error(), secret[:30]) {
		t.Errorf("bad key error = %v; want an error without the key", err)
	}
}

func TestVerifyBatch(t *testing.T) {
	in := `{"id":"1","url":"` + samplePlain + `","layout":{"mode":"plain"},"keys":{"sdm_file_read_key":"00000000000000000000000000000000"}}` + "\nnot json\n"
	out, _, err := runCLI(t, in, "verify", "--batch")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"1","valid":true,"reason":"ok","uid":"041E3C8A2D6B80","ctr":6}` + "\n" +
		`{"id":null,"valid":false,"reason":"bad_input","detail":"invalid JSON at offset 2"}` + "\n"
	if out != want {
		t.Errorf("batch output:\n%s\nwant:\n%s", out, want)
	}
}

// allCommands lists every runnable command and dispatcher of the tree.
func allCommands(c *command) []*command {
	out := []*command{c}
	for _, s := range c.subs {
		out = append(out, allCommands(s)...)
	}
	return out
}

// TestEveryCommandHelp: every command answers --help and -h with a usage
// of one shape on stdout and exit 0, and a wrong flag with the usage on
// stderr and exit 2.
func TestEveryCommandHelp(t *testing.T) {
	for _, c := range allCommands(root) {
		words := strings.Fields(c.name)
		t.Run("nfcd "+c.name, func(t *testing.T) {
			for _, h := range []string{"--help", "-h"} {
				out, errOut, err := runCLI(t, "", append(words, h)...)
				if code := exitCode(err, io.Discard); code != 0 {
					t.Errorf("%s: exit %d (%v), want 0", h, code, err)
				}
				if !strings.HasPrefix(out, "Usage: nfcd") || !strings.Contains(out, "\nExample:\n  nfcd") || errOut != "" {
					t.Errorf("%s: stdout %q, stderr %q; want the usage (synopsis, example) on stdout only", h, out, errOut)
				}
				if len(c.subs) == 0 && c.flags != nil && !strings.Contains(out, "\nFlags:\n") {
					t.Errorf("%s: usage lists no flags:\n%s", h, out)
				}
			}
			out, errOut, err := runCLI(t, "", append(words, "--no-such-flag")...)
			if code := exitCode(err, io.Discard); code != 2 {
				t.Errorf("wrong flag: exit %d (%v), want 2", code, err)
			}
			if out != "" || !strings.Contains(errOut, "Usage: nfcd") {
				t.Errorf("wrong flag: stdout %q, stderr %q; want the usage on stderr", out, errOut)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if _, _, err := runCLI(t, ""); !errors.Is(err, errUsage) {
		t.Errorf("no args: %v, want errUsage", err)
	}
	if _, _, err := runCLI(t, "", "bogus"); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: %v, want errUsage", err)
	}
	if _, _, err := runCLI(t, "", "verify", "--mode", "weird", samplePlain); err == nil {
		t.Error("bad mode accepted")
	}
	if out, _, err := runCLI(t, "", "version"); err != nil || !strings.HasPrefix(out, "nfcd ") {
		t.Errorf("version = %q, %v", out, err)
	}
}
