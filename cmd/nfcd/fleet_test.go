package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
)

func TestMain(m *testing.M) { os.Exit(fleettest.Main(m)) }

// fleetStatusOf runs `nfcd fleet status --json`.
func fleetStatusOf(t *testing.T, dir string, extra ...string) daemon.FleetStatus {
	t.Helper()
	out, errOut, err := runCLI(t, "", append([]string{"fleet", "status", "--state-dir", dir, "--json"}, extra...)...)
	if err != nil {
		t.Fatalf("fleet status: %v %s", err, errOut)
	}
	var st daemon.FleetStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("fleet status output %q: %v", out, err)
	}
	return st
}

// localEntries is the kiosk's own audit log (`nfcd history --json`), each
// entry as "time uid ctr verdict".
func localEntries(t *testing.T, dir string) []string {
	t.Helper()
	out, errOut, err := runCLI(t, "", "history", "--state-dir", dir, "--json", "--limit", "1000")
	if err != nil {
		t.Fatalf("history: %v %s", err, errOut)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			Time, UID, Verdict string
			Ctr                *uint32
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		tm, _ := time.Parse(time.RFC3339Nano, e.Time)
		keys = append(keys, entryKey(tm, e.UID, e.Ctr, e.Verdict))
	}
	return keys
}

func entryKey(tm time.Time, uid string, ctr *uint32, v string) string {
	c := "-"
	if ctr != nil {
		c = fmt.Sprint(*ctr)
	}
	return fmt.Sprintf("%s %s %s %s", tm.UTC().Format(time.RFC3339Nano), strings.ToUpper(uid), c, v)
}

// fleetEntries is the fleet's log of kiosk (`nfcd history --fleet --json`).
func fleetEntries(t *testing.T, cfg, kiosk string) []string {
	t.Helper()
	out, errOut, err := runCLI(t, "", "history", "--fleet", "--config", cfg, "--kiosk", kiosk, "--json", "--limit", "10000")
	if err != nil {
		t.Fatalf("history --fleet: %v %s", err, errOut)
	}
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			Time, UID, Verdict, Kiosk string
			Ctr                       *uint32
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		tm, _ := time.Parse(time.RFC3339Nano, e.Time)
		keys = append(keys, entryKey(tm, e.UID, e.Ctr, e.Verdict))
	}
	return keys
}

// TestFleetKill9: a daemon process tapping while the fleet is away is
// killed with SIGKILL; its unshipped audit rows and queued advances are in
// its state directory, and after a restart with the fleet back every
// audit entry of the kiosk is in the fleet exactly once.
func TestFleetKill9(t *testing.T) {
	dsn := fleettest.Database(t)
	u, _ := url.Parse(dsn)
	p, err := fleettest.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nfcd.toml")
	write := func(interval string) {
		doc := fmt.Sprintf("simulate_interval = %q\n[fleet]\ndsn = %q\nkiosk = \"kill9\"\ntimeout = \"100ms\"\nmigrate = true\n", interval, u.String())
		if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("100ms")
	if out, errOut, err := runCLI(t, "", "fleet", "migrate", "--config", cfg); err != nil || !strings.Contains(out, "migrated from version 0") {
		t.Fatalf("fleet migrate: %v %s %s", err, out, errOut)
	}
	state := filepath.Join(dir, "state")
	bin := perfBuild(t)
	p.Pause()
	proc := perfStart(t, bin, state, cfg)
	proc.awaitReady(t)
	var st daemon.FleetStatus
	deadline := time.Now().Add(20 * time.Second)
	for {
		st = fleetStatusOf(t, state)
		if st.UnshippedTaps >= 5 && st.QueuedAdvances >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no taps queued while the fleet is away: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Connected || !st.Configured {
		t.Fatalf("status while away: %+v", st)
	}
	if err := proc.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-proc.done
	before := localEntries(t, state)
	off := fleetStatusOf(t, state, "--config", cfg)
	if off.UnshippedTaps != len(before) || off.QueuedAdvances < 1 || off.Connected {
		t.Fatalf("after kill -9: %d local entries, status %+v", len(before), off)
	}
	// Back: the fleet reachable, the daemon restarted (one more tap
	// within a second, then none).
	p.Cut()
	p.Resume()
	write("1h")
	proc = perfStart(t, bin, state, cfg)
	proc.awaitReady(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		st = fleetStatusOf(t, state)
		if st.Connected && st.UnshippedTaps == 0 && st.QueuedAdvances == 0 && len(localEntries(t, state)) > len(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues not drained after the restart: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	proc.stop(t)
	local, shipped := localEntries(t, state), fleetEntries(t, cfg, "kill9")
	count := map[string]int{}
	for _, k := range shipped {
		count[k]++
	}
	for _, k := range local {
		count[k]--
	}
	for k, n := range count {
		if n != 0 {
			t.Errorf("%s: %+d in the fleet compared with the local log", k, n)
		}
	}
	if len(shipped) != len(local) {
		t.Fatalf("fleet has %d rows of the kiosk, the local log %d", len(shipped), len(local))
	}
}

// TestFleetCommandUsage: --help on stdout with exit 0, usage errors exit
// 2, and the status of a state directory without a fleet.
func TestFleetCommandUsage(t *testing.T) {
	for _, args := range [][]string{{"fleet", "--help"}, {"fleet", "migrate", "--help"}, {"fleet", "status", "--help"}} {
		out, _, err := runCLI(t, "", args...)
		if exitCode(err, io.Discard) != 0 || !strings.HasPrefix(out, "Usage: nfcd fleet") {
			t.Errorf("%v: %v, stdout %q", args, err, out)
		}
	}
	dir := t.TempDir()
	noFleet := filepath.Join(dir, "nofleet.toml")
	os.WriteFile(noFleet, []byte("listen = \"127.0.0.1:7424\"\n"), 0o600)
	for _, args := range [][]string{
		{"fleet", "status", "--bogus"},
		{"fleet", "migrate", "extra"},
		{"fleet", "nope"},
		{"history", "--kiosk", "k1"},
		{"history", "--fleet", "--state-dir", dir},
		{"history", "--fleet", "--uid", "zz", "--config", noFleet},
		{"history", "--fleet", "--since", "yesterday", "--config", noFleet},
	} {
		if _, _, err := runCLI(t, "", args...); exitCode(err, io.Discard) != 2 {
			t.Errorf("%v: %v, want a usage error (exit 2)", args, err)
		}
	}
	if _, _, err := runCLI(t, "", "fleet", "migrate", "--config", noFleet); err == nil || !strings.Contains(err.Error(), "no [fleet] section") {
		t.Errorf("migrate without [fleet]: %v", err)
	}
	// A state directory whose daemon never ran with a fleet, no daemon:
	// empty queues, the fleet off.
	state := filepath.Join(dir, "state")
	startSimulated(t, state)
	st := fleetStatusOf(t, state)
	if st.Configured || st.QueuedAdvances != 0 || st.UnshippedTaps != 0 {
		t.Errorf("status of a daemon without a fleet: %+v", st)
	}
	out, _, err := runCLI(t, "", "fleet", "status", "--state-dir", state)
	if err != nil || !strings.Contains(out, "off (no [fleet] section)") {
		t.Errorf("fleet status: %v %q", err, out)
	}
}
