package daemon_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

// guideMarker precedes the client's code block in docs/integrate.md.
const guideMarker = "<!-- pos.mjs: TestIntegrateGuide runs this block -->"

// guideClient returns the client code of docs/integrate.md, as printed.
func guideClient(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/integrate.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), guideMarker+"\n```js\n")
	if !ok {
		t.Fatalf("docs/integrate.md has no %q followed by a js code block", guideMarker)
	}
	code, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("docs/integrate.md: the client's code block does not end")
	}
	return code + "\n"
}

// guideNode returns node and the flags it needs for a global WebSocket,
// or skips without Node ≥ 20.
func guideNode(t *testing.T) (string, []string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node not found in PATH; the integration guide's client did NOT run (install Node ≥ 20)")
	}
	out, err := exec.Command(node, "--version").Output()
	var major int
	if err == nil {
		fmt.Sscanf(string(out), "v%d", &major)
	}
	switch {
	case major < 20:
		t.Skipf("SKIPPED: node %s is older than v20; the integration guide's client did NOT run", strings.TrimSpace(string(out)))
	case major < 22:
		return node, []string{"--experimental-websocket", "--no-warnings"}
	}
	return node, nil
}

// guideRun is the guide's client running under node.
type guideRun struct {
	t     *testing.T
	lines chan string
	out   []string
}

// startGuide runs code (pos.mjs) next to the daemon's nfcd-client.js with
// the environment the guide sets, until the test ends.
func startGuide(t *testing.T, node string, flags []string, dir, code string, env ...string) *guideRun {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "pos.mjs"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, append(flags, "pos.mjs")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &guideRun{t: t, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pos.mjs printed %q; stderr:\n%s", r.out, stderr.String())
		}
	})
	return r
}

// expect waits for the next line the client prints to be want.
func (r *guideRun) expect(want string) {
	r.t.Helper()
	select {
	case l, ok := <-r.lines:
		if !ok {
			r.t.Fatalf("pos.mjs exited while %q was due", want)
		}
		r.out = append(r.out, l)
		if l != want {
			r.t.Fatalf("pos.mjs printed %q, want %q", l, want)
		}
	case <-time.After(15 * time.Second):
		r.t.Fatalf("pos.mjs printed nothing within 15 s; want %q", want)
	}
}

// TestIntegrateGuide runs the client of docs/integrate.md, exactly as the
// guide prints it, against a daemon: it fetches nfcd-client.js from the
// daemon as the guide says, connects with a token from `nfcd token create`,
// verifies signature version 2 with the key of `nfcd key show`, accepts
// authentic taps, rejects counterfeit and replayed ones, and reports the
// PC/SC service going away and the daemon going away. A second run with
// another public key rejects every verdict: the signature check is real.
func TestIntegrateGuide(t *testing.T) {
	node, flags := guideNode(t)
	code := guideClient(t)

	spec := profile.Spec{
		Name: "tags", Match: "https://tags.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "enc"},
		FileReadKey: "5ACE7E50AB65D5D51FD5BF5A16B8205B", MetaReadKey: "0C3B25D92B38AE443229DD59AD34B85D",
	}
	l, k, err := spec.Parts(false)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://tags.example/t", Dwell: 50 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	src := ctlSource{Source: sim, ctl: make(chan reader.Event)}
	state := t.TempDir()
	paths := statedir.PathsOf(state)
	tok, err := token.Open(paths.Tokens).Create("pos-1") // nfcd token create --name pos-1
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Profiles = config.Profiles(spec)
	dctx, stopDaemon := context.WithCancel(context.Background())
	defer stopDaemon()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(dctx, daemon.Options{Config: cfg, StateDir: state, Source: src, Version: "guide-test",
			Log: zaptest.NewLogger(t), Ready: func(u string) { ready <- u }})
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("daemon.Run: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon not ready after 15s")
	}
	stopped := false
	defer func() {
		if !stopped {
			stopDaemon()
			<-done
		}
	}()

	// nfcd key show --json
	pub, err := paths.ReadPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	keyEnv := func(pub ed25519.PublicKey) []string {
		return []string{"NFCD_PUBLIC_KEY=" + base64.RawURLEncoding.EncodeToString(pub), "NFCD_KEY_ID=" + verdict.KeyID(pub)}
	}
	// curl -sO http://127.0.0.1:PORT/nfcd-client.js
	dir := t.TempDir()
	res, err := http.Get(base + "nfcd-client.js")
	if err != nil {
		t.Fatal(err)
	}
	client, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET nfcd-client.js: %d, %v", res.StatusCode, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nfcd-client.js"), client, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"NFCD_URL=ws" + strings.TrimPrefix(base, "http") + "v1/ws", "NFCD_TOKEN=" + tok}

	tap := func(kind simulate.Kind) {
		t.Helper()
		if err := sim.Tap(context.Background(), kind); err != nil {
			t.Fatal(err)
		}
	}
	send := func(evs ...reader.Event) {
		t.Helper()
		for _, ev := range evs {
			select {
			case src.ctl <- ev:
			case <-time.After(5 * time.Second):
				t.Fatal("the pipeline does not take source events")
			}
		}
	}

	// A client with another key accepts nothing.
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	forged := startGuide(t, node, flags, dir, code, append(env, keyEnv(otherPub)...)...)
	forged.expect("ready")

	pos := startGuide(t, node, flags, dir, code, append(env, keyEnv(pub)...)...)
	pos.expect("ready")
	tap(simulate.Genuine)
	pos.expect("accept 04518DFAA96180 counter 1")
	forged.expect("reject 04518DFAA96180: bad signature")
	tap(simulate.Counterfeit)
	pos.expect("reject 04C0FFEE000001: counterfeit (bad_mac)")
	tap(simulate.Replay)
	pos.expect("accept 045E9A7E000002 counter 1")
	tap(simulate.Replay)
	pos.expect("reject 045E9A7E000002: replayed (replayed_counter)")

	send(reader.Event{Kind: event.Error, Err: fmt.Errorf("pcsc: smart card service unavailable")},
		reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceDown},
		reader.Event{Kind: event.ReaderRemoved, Reader: simulate.ReaderName})
	pos.expect("outage: reader service down")
	// reader.removed comes from the reader's goroutine, the service event
	// from the pipeline's: let it arrive before the service is back.
	time.Sleep(300 * time.Millisecond)
	send(reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceRunning})
	pos.expect("outage: no reader connected")
	send(reader.Event{Kind: event.ReaderAdded, Reader: simulate.ReaderName})
	pos.expect("ready")
	tap(simulate.Genuine)
	pos.expect("accept 04518DFAA96180 counter 2")

	stopDaemon()
	if err := <-done; err != nil {
		t.Errorf("daemon.Run: %v", err)
	}
	stopped = true
	pos.expect("outage: tag check not reachable")
}
