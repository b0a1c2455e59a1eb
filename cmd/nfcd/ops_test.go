package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	example, _, err := runCLI(t, "", "config", "example")
	if err != nil || !strings.Contains(example, "#listen = ") {
		t.Fatalf("config example: %v\n%s", err, example)
	}
	path := filepath.Join(dir, "nfcd.toml")
	os.WriteFile(path, []byte(example), 0o640)
	if out, _, err := runCLI(t, "", "config", "check", path); err != nil || out != path+": ok\n" {
		t.Errorf("check of the example: %v %q", err, out)
	}
	const key = "5ACE7E50AB65D5D51FD5BF5A16B8205B"
	os.WriteFile(path, []byte("lisen = \"127.0.0.1:1\"\n[[profile]]\nname = \"p\"\nmode = \"enc\"\nsdm_file_read_key = \""+key[:30]+"\"\nsdm_meta_read_key = \""+key+"\"\n"), 0o600)
	out, _, err := runCLI(t, "", "config", "check", path)
	if !errors.Is(err, errInvalid) {
		t.Errorf("check of a bad file: %v, want exit 1", err)
	}
	for _, want := range []string{
		path + ":1: error: unknown key \"lisen\"\n    fix: remove it, or did you mean \"listen\"?\n",
		path + ":5: error: profile \"p\": sdm_file_read_key: want 32 hex digits, got 30\n",
		path + ": 2 errors, 0 warnings\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, key[:16]) {
		t.Errorf("check output quotes the key:\n%s", out)
	}
	out, _, _ = runCLI(t, "", "config", "check", "--json", path)
	var doc struct {
		OK       bool
		Problems []config.Problem
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.OK || len(doc.Problems) != 2 || doc.Problems[1].Line != 5 {
		t.Errorf("check --json: %v %+v", err, doc)
	}
	if _, errOut, err := runCLI(t, "", "config", "reload", "--state-dir", dir); err == nil || !strings.Contains(err.Error(), "no nfcd is running") {
		t.Errorf("reload without a daemon: %v %s", err, errOut)
	}
}

// startSimulated runs a daemon with a simulated reader tapping every
// 100 ms on dir, in this process.
func startSimulated(t *testing.T, dir string) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.SimulateInterval = tomlfile.Duration{Duration: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, StateDir: dir, Simulate: true, Version: "test", Log: zap.NewNop(), Ready: func(u string) { ready <- u }})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
}

// TestCommandsWhileDaemonRuns: history, key show and token reach the
// daemon that holds the store, at once.
func TestCommandsWhileDaemonRuns(t *testing.T) {
	dir := t.TempDir()
	startSimulated(t, dir)
	var out string
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		start := time.Now()
		out, _, err = runCLI(t, "", "history", "--state-dir", dir, "--json")
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("history took %v", took)
		}
		if err != nil || strings.Count(out, "\n") >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !strings.Contains(out, `"reader":"nfcd simulated reader"`) {
		t.Fatalf("history while the daemon runs: %v\n%s", err, out)
	}
	key, _, err := runCLI(t, "", "key", "show", "--state-dir", dir, "--json")
	pub, _ := statedir.PathsOf(dir).ReadPublicKey()
	if err != nil || !strings.Contains(key, `"public_hex":"`+hex.EncodeToString(pub)+`"`) {
		t.Errorf("key show: %v %s", err, key)
	}
	tok, _, err := runCLI(t, "", "token", "create", "--state-dir", dir, "--name", "pos-9")
	if err != nil || !strings.HasPrefix(tok, "nfcd_") {
		t.Fatalf("token create: %v %q", err, tok)
	}
	list, _, err := runCLI(t, "", "token", "list", "--state-dir", dir)
	if err != nil || !strings.Contains(list, "pos-9") {
		t.Errorf("token list: %v %s", err, list)
	}
	if _, _, err := runCLI(t, "", "token", "revoke", "--state-dir", dir, "--name", "pos-9"); err != nil {
		t.Errorf("token revoke: %v", err)
	}
	if out, _, err := runCLI(t, "", "config", "reload", "--state-dir", dir); err != nil || !strings.Contains(out, "nothing to reload") {
		t.Errorf("config reload: %v %s", err, out)
	}
	if out, _, err := runCLI(t, "", "outbox", "list", "--state-dir", dir); err != nil || !strings.HasPrefix(out, "ID") {
		t.Errorf("outbox list: %v %s", err, out)
	}
	if _, _, err := runCLI(t, "", "outbox", "drop", "99", "--state-dir", dir); err == nil || !strings.Contains(err.Error(), "no outbox item 99") {
		t.Errorf("outbox drop of no item: %v", err)
	}
}

// TestHistoryStoreHeld: a store held by a process that does not answer on
// the admin API is reported at once, with the process.
func TestHistoryStoreHeld(t *testing.T) {
	if path := os.Getenv("NFCD_TEST_HOLD_STORE"); path != "" {
		st, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		os.WriteFile(path+".held", nil, 0o600)
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	db := statedir.PathsOf(dir).DB
	cmd := exec.Command(os.Args[0], "-test.run=^TestHistoryStoreHeld$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NFCD_TEST_HOLD_STORE="+db)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(db + ".held"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	_, _, err := runCLI(t, "", "history", "--state-dir", dir)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "is locked by") || !strings.Contains(err.Error(), "does not answer on the admin API") {
		t.Fatalf("history on a held store: %v", err)
	}
	if strings.Contains(err.Error(), "(run as root") == (os.Geteuid() == 0) {
		t.Errorf("holder not named: %v", err)
	}
	if os.Geteuid() == 0 && !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("the holder's pid is missing: %v", err)
	}
	if took > time.Second {
		t.Errorf("history waited %v on the lock", took)
	}
}

// TestDefaultConfigOptional: the service's default configuration file may
// be missing (the defaults apply); any other named file may not.
func TestDefaultConfigOptional(t *testing.T) {
	def := defaultConfigPath()
	if def == "" {
		t.Skip("no default configuration path on this OS")
	}
	if _, err := os.Stat(def); err == nil {
		t.Skipf("%s exists on this machine", def)
	}
	rf := runFlags{configFile: def}
	cfg, _, err := rf.loadConfig()
	if err != nil || cfg.Listen != config.DefaultListen {
		t.Errorf("missing default file: %+v, %v; want the defaults", cfg, err)
	}
	rf = runFlags{configFile: filepath.Join(t.TempDir(), "nfcd.toml")}
	if _, _, err := rf.loadConfig(); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing named file: %v", err)
	}
	rf = runFlags{listen: "0.0.0.0:1"}
	if _, _, err := rf.loadConfig(); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("--listen 0.0.0.0:1: %v", err)
	}
}

// TestRunStoreHeld: a second daemon on a state directory in use says which
// process holds it instead of "database is locked by another process".
func TestRunStoreHeld(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db := statedir.PathsOf(dir).DB
	cmd := exec.Command(os.Args[0], "-test.run=^TestHistoryStoreHeld$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NFCD_TEST_HOLD_STORE="+db)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(db + ".held"); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, _, err := runCLI(t, "", "run", "--simulate", "--state-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error")
	if err == nil || !strings.Contains(err.Error(), "is in use (") || !strings.Contains(err.Error(), "--state-dir") {
		t.Fatalf("run on a held store: %v", err)
	}
	if os.Geteuid() == 0 && !strings.Contains(err.Error(), "pid "+strconv.Itoa(cmd.Process.Pid)) {
		t.Errorf("the holder's pid is missing: %v", err)
	}
}
