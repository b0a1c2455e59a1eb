package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

// TestRemoteVerify: nfcd remote verify sends a tap once; the same URL
// again is "expired" (exit 1); bad input is a usage error.
func TestRemoteVerify(t *testing.T) {
	key := ntag424.Key{0x11}
	srv := lt.NewServer(lt.Options{}, lt.Tag{UID: "041E3C8A2D6B80", Key: key, Name: "CLI tag"})
	defer srv.Close()
	tr, err := srv.Tap("041E3C8A2D6B80")
	if err != nil {
		t.Fatal(err)
	}
	url := "https://tap.legitimate.tech/?uid=" + tr.UID + "&ctr=" + tr.Ctr + "&cmac=" + tr.CMAC
	out, errOut, err := runCLI(t, "", "remote", "verify", url, "--base-url", srv.URL)
	if err != nil || !strings.Contains(out, "status         authentic") || !strings.Contains(out, "name           CLI tag") {
		t.Fatalf("first verify: %v\n%s%s", err, out, errOut)
	}
	if strings.Contains(out, tr.CMAC) {
		t.Errorf("the output shows the cmac:\n%s", out)
	}
	out, _, err = runCLI(t, "", "remote", "verify", "--json", "--base-url", srv.URL, url)
	if code := exitCode(err, io.Discard); code != 1 {
		t.Errorf("second verify: exit %d, want 1", code)
	}
	var res verifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != "expired" || res.Answer != "expired" || res.Sent != 1 {
		t.Errorf("second verify --json = %s (%v)", out, err)
	}
	cfg := filepath.Join(t.TempDir(), "nfcd.toml")
	if err := os.WriteFile(cfg, []byte("[remote.legitimate]\nbase_url = \""+srv.URL+"\"\ntimeout = \"2s\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr2, _ := srv.Tap("041E3C8A2D6B80")
	if _, _, err := runCLI(t, "", "remote", "verify", "--config", cfg, "https://x.example/?uid="+tr2.UID+"&ctr="+tr2.Ctr+"&cmac="+tr2.CMAC); err != nil {
		t.Errorf("verify with --config: %v", err)
	}
	for name, args := range map[string][]string{
		"no source":   {"remote", "verify", url},
		"both":        {"remote", "verify", url, "--config", cfg, "--base-url", srv.URL},
		"no triple":   {"remote", "verify", "https://x.example/?uid=04", "--base-url", srv.URL},
		"no URL":      {"remote", "verify", "--base-url", srv.URL},
		"plain http":  {"remote", "verify", url, "--base-url", "http://api.example/v1"},
		"no tags":     {"fake", "legitimate"},
		"fake in run": {"run", "--remote-fake"},
	} {
		if _, _, err := runCLI(t, "", args...); exitCode(err, io.Discard) != 2 {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

// TestOutboxCommands: list, retry and drop on a daemon's state directory.
func TestOutboxCommands(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCLI(t, "", "outbox", "list", "--state-dir", dir); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("list without a database: %v", err)
	}
	st, err := store.Open(statedir.PathsOf(dir).DB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	it := &store.OutboxItem{Tap: "t-1", UID: "041E3C8A2D6B80", Ctr: "00002A", CMAC: "4B00064004B0B3D3", Mode: "confirm", Local: "unknown_profile",
		Verdict: store.OutboxVerdict{Reader: "R", UID: "041E3C8A2D6B80", Verdict: "pending", Reason: "remote_pending", Remote: "pending"},
		State:   store.OutboxUnreachable, Attempts: 2, Created: time.Now(), NextAt: time.Now().Add(time.Hour), LastError: "http_503"}
	if err := st.AddOutbox([]*store.OutboxItem{it}); err != nil {
		t.Fatal(err)
	}
	// While a process that is no daemon holds the database, the commands
	// say so at once (a running daemon answers them: ops_test.go).
	if _, _, err := runCLI(t, "", "outbox", "list", "--state-dir", dir); err == nil || !strings.Contains(err.Error(), "is locked by") {
		t.Errorf("list while locked: %v", err)
	}
	st.Close()

	out, _, err := runCLI(t, "", "outbox", "list", "--state-dir", dir)
	if err != nil || !strings.Contains(out, "unreachable") || !strings.Contains(out, "041E3C8A2D6B80") || !strings.Contains(out, "http_503") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, "", "outbox", "list", "--state-dir", dir, "--json")
	var s struct {
		ID          uint64
		Ctr         int
		State       string
		NextAttempt *time.Time `json:"next_attempt"`
	}
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.ID != it.ID || s.Ctr != 42 || s.State != "unreachable" || s.NextAttempt == nil {
		t.Errorf("list --json: %v\n%s", err, out)
	}
	if strings.Contains(out, it.CMAC) {
		t.Errorf("list shows the cmac: %s", out)
	}
	if _, _, err := runCLI(t, "", "outbox", "retry", "1", "--state-dir", dir); err != nil {
		t.Errorf("retry: %v", err)
	}
	out, _, _ = runCLI(t, "", "outbox", "list", "--state-dir", dir, "--json")
	s.NextAttempt = nil
	if json.Unmarshal([]byte(out), &s); s.NextAttempt != nil {
		t.Errorf("after retry: %s", out)
	}
	out, _, err = runCLI(t, "", "outbox", "drop", "1", "--state-dir", dir)
	if err != nil || !strings.Contains(out, "unverified (remote_unreachable)") {
		t.Errorf("drop: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "", "outbox", "drop", "1", "--state-dir", dir); err == nil || !strings.Contains(err.Error(), "no outbox item 1") {
		t.Errorf("second drop: %v", err)
	}
	out, _, _ = runCLI(t, "", "history", "--state-dir", dir)
	if !strings.Contains(out, "unverified") {
		t.Errorf("history after drop:\n%s", out)
	}
	for _, args := range [][]string{{"outbox", "drop", "--state-dir", dir}, {"outbox", "retry", "x", "--state-dir", dir}, {"outbox", "drop", "0", "--state-dir", dir}} {
		if _, _, err := runCLI(t, "", args...); exitCode(err, io.Discard) != 2 {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
