package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/tlscert"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/ws"
)

// TestRevokedTokenKeepsStreaming repeats issue 13 §3: after `nfcd token
// revoke`, a connection opened with that token kept receiving tag.read
// and answering history.query. The revoke comes from another process (a
// token Store of its own, as the CLI's); within a second the daemon closes
// the token's live connections with 1008 token_revoked, and only those.
func TestRevokedTokenKeepsStreaming(t *testing.T) {
	h := startDaemon(t)
	tokens := token.Open(statedir.PathsOf(h.dir).Tokens) // the CLI's view
	keep := h.dial()

	const rounds = 5
	var took []time.Duration
	for i := range rounds {
		name := "pos-" + string(rune('a'+i))
		tok, err := tokens.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		victim := *h
		victim.token = tok
		c := victim.dial()
		h.tap(simulate.Genuine)
		c.tagRead()
		keep.tagRead()

		start := time.Now()
		if err := tokens.Revoke(name); err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		go func() {
			for range c.events {
			}
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("revoked connection still open after 5 s")
		}
		d := time.Since(start)
		took = append(took, d)
		var ce *websocket.CloseError
		if !errors.As(c.closeErr, &ce) || ce.Code != ws.ClosePolicyViolation || ce.Text != ws.CloseReasonTokenRevoked {
			t.Fatalf("revoked connection ended with %v, want close 1008 %q", c.closeErr, ws.CloseReasonTokenRevoked)
		}
		if d > time.Second {
			t.Errorf("revocation took %v to close the connection, want under 1 s", d)
		}
	}
	// The other token's connection still streams and answers.
	h.tap(simulate.Genuine)
	keep.tagRead()
	keep.send(`{"v":1,"type":"history.query","id":"h","payload":{"limit":1}}`)
	keep.next(func(m map[string]any) bool { return m["id"] == "h" && m["type"] == "result" })
	slices.Sort(took)
	t.Logf("revocation → close frame over %d revocations: median %v, max %v (file notification, settled %v)",
		rounds, took[rounds/2], took[rounds-1], token.DefaultSettle)
	if !strings.Contains(logText(h), "token revoked") {
		t.Errorf("revocation not logged")
	}
}

// logText joins the harness's log messages.
func logText(h *harness) string {
	var b strings.Builder
	for _, e := range h.logs.All() {
		b.WriteString(e.Message)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestSignedVerdictCoversTagTamperAndOriginality repeats the second half of
// issue 13 §4: the TagTamper status, read from encrypted or MACed data,
// and the originality check cannot be recovered from the signed URL
// without the keys, so version 1 let them be changed unnoticed. The daemon
// fills them into the version 2 form, and changing either breaks
// signature_v2.
func TestSignedVerdictCoversTagTamperAndOriginality(t *testing.T) {
	spec := profile.Spec{
		Name:        "tt",
		Match:       "https://tags.example/",
		LayoutSpec:  ntag424.LayoutSpec{Mode: "plain", MACInputStart: "uid", TTParam: true},
		FileReadKey: testKeys[0],
	}
	h := startCustom(t, spec, func(c *config.Config) { c.Originality = true })
	c := h.dial()
	h.tap(simulate.Genuine)
	p := c.tagRead()
	if p["verdict"] != "authentic" || p["profile"] != "tt" || p["tt_status"] != "CC" || p["originality"] != "valid" {
		t.Fatalf("tag.read = %v; want authentic under tt with tt_status CC and originality valid", p)
	}
	pub := h.publicKey()
	var wire verdict.Payload
	if err := json.Unmarshal([]byte(mustJSON(p)), &wire); err != nil {
		t.Fatal(err)
	}
	got, err := wire.Open(pub)
	if err != nil || got.TTStatus != "CC" || got.Originality != "valid" || got.Profile != "tt" {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	for name, forge := range map[string]func(*verdict.Payload){
		"tt_status":   func(w *verdict.Payload) { w.TTStatus = "OO" },
		"originality": func(w *verdict.Payload) { w.Originality = "unchecked" },
		"profile":     func(w *verdict.Payload) { w.Profile = "other" },
	} {
		w := wire
		forge(&w)
		if _, err := w.Open(pub); err == nil {
			t.Errorf("signature_v2 still verifies with %s changed", name)
		}
	}
}

// startCustom starts a daemon with a simulated reader whose tags follow
// spec, the only profile, after mutate has changed the configuration.
func startCustom(t *testing.T, spec profile.Spec, mutate func(*config.Config)) *harness {
	t.Helper()
	l, k, err := spec.Parts(false)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simulate.New(simulate.Config{Layout: l, Keys: k, URL: "https://tags.example/t", Dwell: 50 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("test-client")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Profiles = config.Profiles(spec)
	if mutate != nil {
		mutate(&cfg)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	h := &harness{t: t, dir: dir, sim: sim, token: tok, done: make(chan error, 1), logs: logs}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		h.done <- Run(ctx, Options{Config: cfg, StateDir: dir, Source: sim, Version: "test", Log: zap.New(core), Ready: func(u string) { ready <- u }})
	}()
	select {
	case h.url = <-ready:
	case err := <-h.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	t.Cleanup(func() { h.stop() })
	return h
}

// TestDaemonBeyondLoopbackHandsOutSessions repeats issue 13 §1 against the
// daemon: listening on every interface, it serves TLS with a self-signed
// certificate made in the state directory (its fingerprint what `nfcd key
// show` reads), answers a network client only over TLS and only with an
// API token, and still gives the page on this machine its session token.
func TestDaemonBeyondLoopbackHandsOutSessions(t *testing.T) {
	lan := lanIP(t)
	h := startCustom(t, testSpec, func(c *config.Config) {
		c.Listen, c.AllowNonLoopback = "0.0.0.0:0", true
	})
	if !strings.HasPrefix(h.url, "https://") {
		t.Fatalf("ready URL %s, want https", h.url)
	}
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(h.url, "https://"), "/"))
	paths := statedir.PathsOf(h.dir)
	fp, err := tlscert.ReadFingerprint(paths.TLS, paths.TLSCert)
	if err != nil {
		t.Fatalf("no certificate in the state dir: %v", err)
	}
	lanAddr := net.JoinHostPort(lan.String(), port)
	// The client pins the fingerprint, as docs/protocol.md shows.
	var served string
	pinned := &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
		served = tlscert.Fingerprint(raw[0])
		if served != fp {
			return errors.New("fingerprint mismatch")
		}
		return nil
	}}
	tr := &http.Transport{TLSClientConfig: pinned, DisableKeepAlives: true}
	get := func(url string) (int, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get("http://" + lanAddr + "/v1/session"); err == nil {
		t.Errorf("plain HTTP from the LAN answered %d", code)
	}
	if code, err := get("https://" + lanAddr + "/v1/session"); err != nil || code != http.StatusForbidden {
		t.Errorf("session over TLS from the LAN = %d, %v; want 403", code, err)
	}
	if served != fp {
		t.Errorf("served certificate %s, key show reads %s", served, fp)
	}
	if code, err := get("http://127.0.0.1:" + port + "/v1/session"); err != nil || code != 200 {
		t.Errorf("session on this machine = %d, %v; want 200", code, err)
	}
	d := websocket.Dialer{TLSClientConfig: pinned, Subprotocols: []string{"nfcd.v1", "nfcd-token." + h.token}}
	c, resp, err := d.Dial("wss://"+lanAddr+"/v1/ws", nil)
	if err != nil {
		t.Fatalf("wss from the LAN with an API token: %v %v", err, resp)
	}
	c.Close()
}

// lanIP returns a non-loopback IPv4 address of this machine, or skips.
func lanIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.To4()
		}
	}
	t.Skip("no non-loopback IPv4 address on this machine")
	return nil
}
