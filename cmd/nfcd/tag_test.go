package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/provision"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
)

const tagProfile = `[[profile]]
name = "store-tags"
mode = "enc"
sdm_file_read_key = "5ACE7E50AB65D5D51FD5BF5A16B8205B"
sdm_meta_read_key = "C4F5AB1C48AE5DD8E1B9EBA3F9B1C5C2"
app_master_key = "0B1C2D3E4F5061728394A5B6C7D8E9FA"
`

// TestTagUsage pins the CLI contract: --help on stdout with exit 0, a
// wrong flag or a missing one on stderr with exit 2.
func TestTagUsage(t *testing.T) {
	for _, args := range [][]string{{"tag", "--help"}, {"tag", "provision", "--help"}, {"tag", "inspect", "-h"}, {"tag", "reset", "--help"}} {
		out, errOut, err := runCLI(t, "", args...)
		if exitCode(err, io.Discard) != 0 || !strings.HasPrefix(out, "Usage:") || !strings.Contains(out, "Example:") || errOut != "" {
			t.Errorf("%v: err %v, stdout %.60q, stderr %q", args, err, out, errOut)
		}
	}
	for _, args := range [][]string{{"tag"}, {"tag", "frob"}, {"tag", "provision", "--bogus"}, {"tag", "provision", "--profile", "x.toml"},
		{"tag", "reset", "--name", "x"}, {"tag", "inspect", "--key0", "00", "--profile", "p"}, {"tag", "inspect", "extra"}} {
		out, errOut, err := runCLI(t, "", args...)
		if exitCode(err, io.Discard) != 2 || out != "" || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: err %v, stdout %q, stderr %.80q; want usage on stderr, exit 2", args, err, out, errOut)
		}
	}
}

// TestTagDryRun prints the plan without a reader: offsets, APDUs without
// key bytes, a sample URL; --json gives one object per step and a result.
func TestTagDryRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tags.toml")
	if err := os.WriteFile(path, []byte(tagProfile), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"tag", "provision", "--profile", path, "--name", "store-tags", "--dry-run",
		"--url", "https://brand.example/t?picc_data={picc_data}&cmac={cmac}"}
	out, _, err := runCLI(t, "", args...)
	if err != nil || !strings.Contains(out, "PICCData at 33") || !strings.Contains(out, "https://brand.example/t?picc_data=") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "", append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last map[string]any
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || !strings.HasPrefix(l, `{"type":"`) {
			t.Fatalf("line %d not a JSON object with type first: %s", i+1, l)
		}
		last = m
	}
	if last["type"] != "result" || last["ok"] != true || !strings.HasPrefix(last["sample_url"].(string), "https://brand.example/t?picc_data=") {
		t.Errorf("last line = %v", last)
	}
	for _, k := range []string{"5ACE7E50AB65D5D51FD5BF5A16B8205B", "C4F5AB1C48AE5DD8E1B9EBA3F9B1C5C2", "0B1C2D3E4F5061728394A5B6C7D8E9FA"} {
		if strings.Contains(strings.ToUpper(out), k) {
			t.Errorf("dry run shows key %s", k)
		}
	}
	// Errors of the profile or template exit 1 with a message.
	bad := append(args[:len(args)-1:len(args)-1], "https://brand.example/t?p={picc_data}&cmac={cmac}")
	if _, _, err := runCLI(t, "", bad...); err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), "picc_data") {
		t.Errorf("bad template: %v", err)
	}
}

// TestTagRestartsMarks: after a personalisation the tag's replay marks in
// the state directory start again from the verifying read's counter (the
// tag's counter went back to 0); without a store there is nothing to do,
// and a store held by a process that does not answer is reported.
func TestTagRestartsMarks(t *testing.T) {
	dir := t.TempDir()
	res := &provision.Result{UID: "04518DFAA96180", Profile: "store-tags", Op: provision.OpProvision, OK: true, Ctr: 1}
	if m := restartMarks(dir, res); !m.Restarted || m.Previous.Valid {
		t.Errorf("without a store: %+v", m)
	}
	path := statedir.PathsOf(dir).DB
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := &verdict.Verdict{Reader: "r", UID: res.UID, Ctr: ntag424.CounterOf(70), Profile: res.Profile, Verdict: verdict.Authentic, Reason: verdict.ReasonOK}
	if err := st.Record(context.Background(), []*verdict.Verdict{v}); err != nil {
		t.Fatal(err)
	}
	if m := restartMarks(dir, res); m.Restarted || !strings.Contains(m.Error, "locked") {
		t.Errorf("store held by another process: %+v", m)
	}
	st.Close()
	m := restartMarks(dir, res)
	if !m.Restarted || m.Previous != ntag424.CounterOf(70) || !strings.Contains(m.text(), "counter 70") {
		t.Errorf("restart = %+v (%s), want previous 70", m, m.text())
	}
	st, err = store.OpenReadOnly(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	uid, _ := hex.DecodeString(res.UID)
	if hw, err := st.HighWater(uid); err != nil || hw != ntag424.CounterOf(1) {
		t.Errorf("mark after the restart = %v, %v; want the verifying read's counter 1", hw, err)
	}
}
