package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

// testKeys are the keys of the test profile, and secrets that must never
// reach a frame or a log line.
var testKeys = [2]string{"5ACE7E50AB65D5D51FD5BF5A16B8205B", "0C3B25D92B38AE443229DD59AD34B85D"}

// harness is a daemon with a manually tapped simulated reader, a token and
// a record of every log line.
type harness struct {
	t      *testing.T
	url    string
	dir    string
	token  string
	sim    *simulate.Source
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	done   chan error
}

var testSpec = profile.Spec{
	Name:        "test",
	Match:       "https://tags.example/",
	LayoutSpec:  ntag424.LayoutSpec{Mode: "enc"},
	FileReadKey: testKeys[0],
	MetaReadKey: testKeys[1],
}

func startDaemon(t *testing.T) *harness {
	t.Helper()
	return startDaemonIn(t, t.TempDir(), nil, "")
}

// startDaemonIn starts a daemon on dir; sim and tok reuse an earlier run's
// simulated tags and token when set.
func startDaemonIn(t *testing.T, dir string, sim *simulate.Source, tok string) *harness {
	t.Helper()
	return startDaemonWith(t, dir, sim, tok, nil)
}

// startDaemonWith is startDaemonIn with a change to the configuration.
func startDaemonWith(t *testing.T, dir string, sim *simulate.Source, tok string, mutate func(*config.Config)) *harness {
	t.Helper()
	return startDaemonOpts(t, dir, sim, tok, func(o *Options) {
		if mutate != nil {
			mutate(&o.Config)
		}
	})
}

// startDaemonOpts is startDaemonIn with the options changed by mutate.
func startDaemonOpts(t *testing.T, dir string, sim *simulate.Source, tok string, mutate func(*Options)) *harness {
	t.Helper()
	spec := testSpec
	l, k, err := spec.Parts(false)
	if err != nil {
		t.Fatal(err)
	}
	if sim == nil {
		if sim, err = simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://tags.example/t", Dwell: 50 * time.Millisecond, Rand: rand.Reader}); err != nil {
			t.Fatal(err)
		}
	}
	h := startWith(t, dir, tok, func(o *Options) {
		o.Config.Profiles = config.Profiles(spec)
		o.Source = sim
		if mutate != nil {
			mutate(o)
		}
	})
	h.sim = sim
	return h
}

// startWith starts a daemon on dir with the options edit makes (a
// loopback port, the test logger and, unless tok is set, a new token are
// given).
func startWith(t *testing.T, dir, tok string, edit func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, token: tok, done: make(chan error, 1)}
	var err error
	if h.token == "" {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if h.token, err = token.Open(statedir.PathsOf(h.dir).Tokens).Create("test-client"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	ready := make(chan string, 1)
	opts := Options{Config: cfg, StateDir: h.dir, Version: "test", Log: zap.New(core), Ready: func(u string) { ready <- u }}
	edit(&opts)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- Run(ctx, opts) }()
	select {
	case h.url = <-ready:
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready within 10 s")
	}
	t.Cleanup(func() { h.stop() })
	return h
}

// stop shuts the daemon down and returns how long it took.
func (h *harness) stop() time.Duration {
	start := time.Now()
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run returned %v", err)
		}
		h.done <- nil
	case <-time.After(2 * ShutdownTimeout):
		h.t.Fatal("daemon did not stop")
	}
	return time.Since(start)
}

// client is a WebSocket client that records every frame it receives.
type client struct {
	t      *testing.T
	c      *websocket.Conn
	mu     sync.Mutex
	frames []string
	events chan map[string]any
	// closeErr is the read error that ended the connection, set before
	// events is closed.
	closeErr error
	// seen, if set, is shown every frame next reads, matching or not.
	seen func(map[string]any)
}

func (h *harness) dial() *client {
	h.t.Helper()
	u := "ws" + strings.TrimPrefix(h.url, "http") + "v1/ws"
	d := websocket.Dialer{Subprotocols: []string{"nfcd.v1", "nfcd-token." + h.token}}
	c, resp, err := d.Dial(u, nil)
	if err != nil {
		h.t.Fatalf("dial %s: %v (%v)", u, err, resp)
	}
	cl := &client{t: h.t, c: c, events: make(chan map[string]any, 256)}
	go func() {
		defer close(cl.events)
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				cl.closeErr = err
				return
			}
			cl.mu.Lock()
			cl.frames = append(cl.frames, string(b))
			cl.mu.Unlock()
			var m map[string]any
			json.Unmarshal(b, &m)
			cl.events <- m
		}
	}()
	h.t.Cleanup(func() { c.Close() })
	cl.send(`{"v":1,"type":"subscribe","id":"s1","payload":{}}`)
	cl.next(func(m map[string]any) bool { return m["type"] == "result" && m["id"] == "s1" })
	return cl
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next event matching ok.
func (c *client) next(ok func(map[string]any) bool) map[string]any {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, open := <-c.events:
			if !open {
				c.t.Fatal("connection closed while waiting for an event")
			}
			if c.seen != nil {
				c.seen(m)
			}
			if ok(m) {
				return m
			}
		case <-timeout:
			c.t.Fatal("no matching event within 10 s")
		}
	}
}

// waitReader waits until the daemon lists the reader named name. It asks
// with readers.list rather than waiting for reader.added: the reader may
// have come before the client connected (then only hello lists it) or
// between hello and the subscription (then neither event reaches it).
func (c *client) waitReader(name string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		id := fmt.Sprintf("wait-reader-%d", i)
		c.send(fmt.Sprintf(`{"v":1,"type":"readers.list","id":%q}`, id))
		res := c.next(func(m map[string]any) bool { return m["id"] == id })
		p, _ := res["payload"].(map[string]any)
		rs, _ := p["readers"].([]any)
		for _, r := range rs {
			if r, _ := r.(map[string]any); r["name"] == name {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("reader %q not listed within 10 s (last list: %v)", name, p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *client) tagRead() map[string]any {
	c.t.Helper()
	m := c.next(func(m map[string]any) bool { return m["type"] == "tag.read" })
	return m["payload"].(map[string]any)
}

func (h *harness) tap(kind simulate.Kind) {
	h.t.Helper()
	if err := h.sim.Tap(context.Background(), kind); err != nil {
		h.t.Fatal(err)
	}
}

// publicKey reads the verdict key the daemon published for `nfcd key show`.
func (h *harness) publicKey() ed25519.PublicKey {
	b, err := os.ReadFile(statedir.PathsOf(h.dir).PublicKey)
	if err != nil || len(b) != ed25519.PublicKeySize {
		h.t.Fatalf("public key file: %v", err)
	}
	return b
}

// verifyPayload checks a tag.read payload's signature as a POS backend would
// (docs/signed-verdicts.md).
func verifyPayload(t *testing.T, pub ed25519.PublicKey, p map[string]any) {
	t.Helper()
	v := verdict.Verdict{
		Reader: p["reader"].(string), UID: p["uid"].(string), URL: p["url"].(string),
		Verdict: p["verdict"].(string), Reason: p["reason"].(string),
	}
	if c, ok := p["ctr"].(float64); ok {
		v.Ctr = ntag424.CounterOf(uint32(c))
	}
	tm, err := time.Parse(verdict.TimeLayout, p["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	v.Time = tm
	sig := p["signature"].(map[string]any)
	if sig["alg"] != "Ed25519" || sig["key_id"] != verdict.KeyID(pub) {
		t.Errorf("signature header %v, want Ed25519 and key %s", sig, verdict.KeyID(pub))
	}
	if err := verdict.Verify(pub, sig["key_id"].(string), v, sig["sig"].(string)); err != nil {
		t.Errorf("signature of %v: %v", p, err)
	}
	// Version 2 covers the profile, TagTamper status and originality too.
	var wire verdict.Payload
	if err := json.Unmarshal([]byte(mustJSON(p)), &wire); err != nil {
		t.Fatal(err)
	}
	if got, err := wire.Open(pub); err != nil || wire.SignatureV2 == nil || got.Profile != p["profile"] || got.Tap == "" || got.Remote != "off" || got.Fleet != "off" {
		t.Errorf("version 2: Open = %+v, %v; want the payload's profile, a tap ID, remote and fleet off", got, err)
	}
	wire.Profile = "forged"
	if _, err := wire.Open(pub); err == nil {
		t.Errorf("version 2: a changed profile still verifies")
	}
	v.Verdict = "authentic"
	if p["verdict"] != "authentic" {
		if err := verdict.Verify(pub, sig["key_id"].(string), v, sig["sig"].(string)); err == nil {
			t.Errorf("signature still verifies with the verdict changed to authentic")
		}
	}
}

// TestTapToVerdict runs genuine, counterfeit and replayed taps through the
// daemon and checks the tag.read events, their signatures, the replay
// verdict from the persisted counter, history and readers.
func TestTapToVerdict(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	pub := h.publicKey()

	h.tap(simulate.Genuine)
	p := c.tagRead()
	if p["verdict"] != "authentic" || p["uid"] != "04518DFAA96180" || p["ctr"] != 1.0 || p["reader"] != simulate.ReaderName {
		t.Fatalf("genuine tap: %v", p)
	}
	verifyPayload(t, pub, p)
	if tm := p["timings"].(map[string]any); tm["apdus"] != 2.0 {
		t.Errorf("timings %v, want 2 APDUs", tm)
	}

	h.tap(simulate.Counterfeit)
	if p = c.tagRead(); p["verdict"] != "counterfeit" || p["reason"] != "bad_mac" {
		t.Errorf("counterfeit tap: %v", p)
	}
	verifyPayload(t, pub, p)

	h.tap(simulate.Replay)
	first := c.tagRead()
	h.tap(simulate.Replay)
	second := c.tagRead()
	if first["verdict"] != "authentic" || second["verdict"] != "replayed" || first["ctr"] != second["ctr"] {
		t.Errorf("replay: first %v, second %v; want authentic then replayed with the same counter", first, second)
	}
	verifyPayload(t, pub, second)

	h.tap(simulate.Genuine)
	if p = c.tagRead(); p["verdict"] != "authentic" || p["ctr"] != 2.0 {
		t.Errorf("second genuine tap: %v", p)
	}

	c.send(`{"v":1,"type":"history.query","id":"h1","payload":{"uid":"045E9A7E000002"}}`)
	res := c.next(func(m map[string]any) bool { return m["id"] == "h1" })
	entries := res["payload"].(map[string]any)["entries"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["verdict"] != "replayed" || entries[1].(map[string]any)["verdict"] != "authentic" {
		t.Errorf("history of the replay tag: %v", res)
	}
	c.send(`{"v":1,"type":"history.query","id":"h2","payload":{"since":"bogus"}}`)
	if res := c.next(func(m map[string]any) bool { return m["id"] == "h2" }); res["type"] != "error" {
		t.Errorf("bad history query answered %v", res)
	}
	c.send(`{"v":1,"type":"readers.list","id":"r1","payload":{}}`)
	res = c.next(func(m map[string]any) bool { return m["id"] == "r1" })
	if !strings.Contains(mustJSON(res), simulate.ReaderName) {
		t.Errorf("readers.list: %v", res)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestReplayAcrossRestart: a counter accepted before a restart still makes
// the same tap a replay after it.
func TestReplayAcrossRestart(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	h.tap(simulate.Replay)
	if p := c.tagRead(); p["verdict"] != "authentic" {
		t.Fatalf("first tap %v", p)
	}
	h.stop()

	// Same state directory, new daemon run; the replay tag serves the
	// same counter and MAC again.
	h2 := startDaemonIn(t, h.dir, h.sim, h.token)
	c2 := h2.dial()
	h2.tap(simulate.Replay)
	if p := c2.tagRead(); p["verdict"] != "replayed" {
		t.Errorf("after restart: %v, want replayed", p)
	}
}

// TestSecretsNeverLeak taps every verdict and then searches every frame
// and every log line of the session for the keys and the token.
func TestSecretsNeverLeak(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	for _, k := range []simulate.Kind{simulate.Genuine, simulate.Counterfeit, simulate.Replay, simulate.Replay} {
		h.tap(k)
		c.tagRead()
	}
	c.send(`{"v":1,"type":"history.query","id":"h","payload":{}}`)
	c.next(func(m map[string]any) bool { return m["id"] == "h" })
	h.stop()
	secrets := []string{h.token, testKeys[0], testKeys[1], strings.ToLower(testKeys[0]), strings.ToLower(testKeys[1])}
	c.mu.Lock()
	frames := strings.Join(c.frames, "\n")
	c.mu.Unlock()
	var logs strings.Builder
	for _, e := range h.logs.All() {
		logs.WriteString(e.Message)
		for _, f := range e.Context {
			logs.WriteString(" " + f.Key + "=" + f.String + " ")
			if f.Interface != nil {
				logs.WriteString(mustJSON(f.Interface))
			}
		}
		logs.WriteString("\n")
	}
	if len(frames) < 100 || logs.Len() < 100 {
		t.Fatalf("too little captured: %d bytes of frames, %d of logs", len(frames), logs.Len())
	}
	for _, s := range secrets {
		if strings.Contains(frames, s) {
			t.Errorf("a secret appears in a WebSocket frame")
		}
		if strings.Contains(logs.String(), s) {
			t.Errorf("a secret appears in a log line")
		}
	}
}

// TestShutdown: cancelling Run closes every socket with 1001 and returns
// within ShutdownTimeout.
func TestShutdown(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	if took := h.stop(); took > ShutdownTimeout {
		t.Errorf("shutdown took %v, want < %v", took, ShutdownTimeout)
	}
	timeout := time.After(5 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-c.events:
		case <-timeout:
			t.Fatal("socket still open 5 s after shutdown")
		}
	}
	if !websocket.IsCloseError(c.closeErr, websocket.CloseGoingAway) {
		t.Errorf("connection ended with %v, want close 1001 (going away)", c.closeErr)
	}
}

// TestNoTokenRefused: the daemon's socket is closed to clients without a
// token and to foreign origins.
func TestNoTokenRefused(t *testing.T) {
	h := startDaemon(t)
	u := "ws" + strings.TrimPrefix(h.url, "http") + "v1/ws"
	d := websocket.Dialer{Subprotocols: []string{"nfcd.v1"}}
	if _, resp, err := d.Dial(u, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %v %v, want 401", err, resp)
	}
	d.Subprotocols = append(d.Subprotocols, "nfcd-token."+h.token)
	hdr := http.Header{"Origin": {"https://evil.example"}}
	if _, resp, err := d.Dial(u, hdr); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: %v %v, want 403", err, resp)
	}
	if err := token.Open(statedir.PathsOf(h.dir).Tokens).Revoke("test-client"); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := d.Dial(u, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token: %v %v, want 401", err, resp)
	}
}

// stuckSource presents a card whose Connect never returns and ignores its
// context, like a reader driver that hangs.
type stuckSource struct{ block chan struct{} }

func (s stuckSource) Run(ctx context.Context, out chan<- reader.Event) error {
	out <- reader.Event{Kind: event.ReaderAdded, Reader: "stuck", Time: time.Now()}
	out <- reader.Event{Kind: event.CardPresent, Reader: "stuck", Time: time.Now()}
	<-ctx.Done()
	return nil
}

func (s stuckSource) Connect(ctx context.Context, name string) (reader.Card, error) {
	<-s.block
	return nil, errors.New("released")
}

// TestShutdownBounded: one deadline bounds the whole shutdown even when a
// part never stops (a read stuck in a reader driver): Run returns within
// ShutdownTimeout and a little, not once per part.
func TestShutdownBounded(t *testing.T) {
	src := stuckSource{block: make(chan struct{})}
	defer close(src.block)
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, StateDir: t.TempDir(), Source: src, Log: zap.NewNop(), Ready: func(u string) { ready <- u }})
	}()
	<-ready
	time.Sleep(100 * time.Millisecond) // the read is now stuck in Connect
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if took := time.Since(start); took < ShutdownTimeout-time.Second || took > ShutdownTimeout+1500*time.Millisecond {
			t.Errorf("shutdown with a stuck read took %v, want about %v", took, ShutdownTimeout)
		}
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(3 * ShutdownTimeout):
		t.Fatal("Run did not return")
	}
}
