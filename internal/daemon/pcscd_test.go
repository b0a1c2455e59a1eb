//go:build linux && cgo

package daemon

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/health"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

// TestPCSCDEndToEnd runs the daemon on the real pcscd: a virtual tag on the
// vpcd reader produces a tag.read on a WebSocket client, and a replayed
// counter is reported as replayed.
func TestPCSCDEndToEnd(t *testing.T) {
	vpcdtest.Require(t)
	dir := t.TempDir()
	tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("e2e")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.IncludeReaders = []string{vpcdtest.Slot0}
	cfg.Profiles = config.Profiles(profile.Spec{Name: "factory", Match: "https://sdm.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"},
		FileReadKey: "00000000000000000000000000000000", MetaReadKey: "00000000000000000000000000000000"})
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, StateDir: dir, Log: zaptest.NewLogger(t), Ready: func(u string) { ready <- u }})
	}()
	h := &harness{t: t, dir: dir, token: tok, cancel: cancel, done: done}
	select {
	case h.url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { h.stop() })
	c := h.dial()
	c.waitReader(vpcdtest.Slot0)

	tapCard := func(card *vtag.Card) map[string]any {
		t.Helper()
		card.Presentation()
		ctx, cancel := context.WithCancel(context.Background())
		conn, err := vpcd.Dial(ctx, vpcdtest.Slot0Addr)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- conn.Serve(ctx, card) }()
		p := c.tagRead()
		cancel()
		<-served
		c.next(func(m map[string]any) bool { return m["type"] == "card.removed" })
		return p
	}
	newCard := func(replay bool, counter uint32) *vtag.Card {
		card, err := vtag.New(vtag.Config{Layout: ntag424.Layout{Mode: ntag424.ModeEnc}, URL: "https://sdm.example/tag", Replay: replay, Counter: counter, Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		return card
	}
	genuine := newCard(false, 0)
	for want := 1.0; want <= 2; want++ {
		if p := tapCard(genuine); p["verdict"] != "authentic" || p["ctr"] != want || p["uid"] != "04518DFAA96180" {
			t.Fatalf("tap %v: %v", want, p)
		}
	}
	// The same UID serving counter 11 and then the same counter and MAC
	// again: authentic, then replayed.
	replay := newCard(true, 10)
	start := time.Now()
	first, second := tapCard(replay), tapCard(replay)
	if first["ctr"] != 11.0 || first["verdict"] != "authentic" {
		t.Errorf("replay card first tap: %v, want authentic counter 11", first)
	}
	if second["verdict"] != "replayed" || second["ctr"] != first["ctr"] {
		t.Errorf("replay card second tap: %v, want replayed with the same counter", second)
	}
	t.Logf("replay taps took %v", time.Since(start))
}

// TestHealthFollowsPCSCD kills pcscd under a running daemon and starts it
// again: /healthz turns 503 (PC/SC unavailable) while it is gone and 200
// with the reader back once it returns, and the context reset is counted.
// It replaces the machine's pcscd, so it runs only where that is allowed
// (CI, or NFCD_PCSCD_RESTART=1; scripts/pcscd-ns.sh gives a private one).
func TestHealthFollowsPCSCD(t *testing.T) {
	if os.Getenv("CI") != "true" && os.Getenv("NFCD_PCSCD_RESTART") != "1" {
		t.Skip("SKIPPING: kills the machine's pcscd; set NFCD_PCSCD_RESTART=1 (CI does)")
	}
	vpcdtest.Require(t)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.IncludeReaders = []string{vpcdtest.Slot0}
	cfg.MetricsPublic = true
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, StateDir: dir, Version: "test", Log: zaptest.NewLogger(t), Ready: func(u string) { ready <- u }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	defer func() {
		cancel()
		<-done
	}()
	type report struct {
		code int
		r    health.Report
	}
	get := func() report {
		resp, err := http.Get(base + "healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r health.Report
		json.NewDecoder(resp.Body).Decode(&r)
		return report{resp.StatusCode, r}
	}
	await := func(what string, ok func(report) bool) report {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := get()
			if ok(r) {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /healthz still %d %+v", what, r.code, r.r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	up := func(r report) bool {
		return r.code == 200 && r.r.PCSC.State == health.PCSCRunning && len(r.r.Readers) == 1 && r.r.Readers[0].Name == vpcdtest.Slot0
	}
	before := await("at start", up)

	killed := time.Now()
	killPCSCD(t)
	down := await("pcscd killed", func(r report) bool { return r.code == 503 && r.r.PCSC.State == health.PCSCNoService })
	if !slices.Contains(down.r.Problems, health.ProblemPCSCUnavailable) || !down.r.PCSC.Since.After(before.r.PCSC.Since) || down.r.PCSC.Since.Before(killed.Add(-time.Second)) {
		t.Errorf("while pcscd is gone: %+v (killed at %v)", down.r, killed)
	}
	t.Logf("pcscd killed → 503 after %v", time.Since(killed))

	started := time.Now()
	startPCSCD(t)
	back := await("pcscd restarted", up)
	if !back.r.PCSC.Since.After(down.r.PCSC.Since) || back.r.Status != health.StatusOK {
		t.Errorf("after the restart: %+v", back.r)
	}
	t.Logf("pcscd restarted → 200 after %v", time.Since(started))
	resp, err := http.Get(base + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"nfcd_pcsc_context_resets_total 1\n", "nfcd_readers_connected 1\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// killPCSCD kills the running pcscd and waits until it is gone.
func killPCSCD(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/run/pcscd/pcscd.pid")
	if err != nil {
		t.Fatalf("pcscd pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.Trim(string(b), " \t\r\n\x00"))
	if err != nil || pid <= 1 {
		t.Fatalf("pcscd pid %q", b)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill pcscd %d: %v", pid, err)
	}
	for i := 0; i < 250 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	os.Remove("/run/pcscd/pcscd.comm")
	os.Remove("/run/pcscd/pcscd.pid")
}

// startPCSCD starts `pcscd -f` detached, so that it outlives the test for
// the packages that run after it.
func startPCSCD(t *testing.T) {
	t.Helper()
	cmd := exec.Command("pcscd", "-f")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pcscd: %v", err)
	}
	go cmd.Wait()
	for i := 0; i < 200; i++ {
		if _, err := os.Stat("/run/pcscd/pcscd.comm"); err == nil {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("pcscd did not come back")
}
