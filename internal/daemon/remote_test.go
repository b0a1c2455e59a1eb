package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

// remoteKey is the SDM file read key of the tags of the remote tests:
// the local profile and the fake service both know it.
var remoteKey = ntag424.Key{0x5A, 0xCE, 0x7E, 0x50, 0xAB, 0x65, 0xD5, 0xD5, 0x1F, 0xD5, 0xBF, 0x5A, 0x16, 0xB8, 0x20, 0x5B}

const remoteURL = "https://legit.example/t"

// remoteConfig is a daemon configuration with a plain-mirror profile for
// remoteURL and [remote.legitimate] pointing at srv.
func remoteConfig(t *testing.T, srv *lt.Server, mode remote.Mode, maxAge time.Duration) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Profiles = config.Profiles(profile.Spec{Name: "legit", Match: "https://legit.example/", LayoutSpec: ntag424.LayoutSpec{Mode: "plain"},
		FileReadKey: hex.EncodeToString(remoteKey[:])})
	cfg.Remote.Legitimate = &remote.Legitimate{
		Config: verifyclient.Config{BaseURL: srv.URL, Timeout: tomlfile.Duration{Duration: 500 * time.Millisecond}},
		Match:  []string{"https://legit.example/"}, Mode: mode, OutboxMaxAge: tomlfile.Duration{Duration: maxAge},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startRemoteDaemon runs a daemon with a simulated reader of plain-mirror
// tags that srv knows, in mode, giving up on taps after maxAge.
func startRemoteDaemon(t *testing.T, srv *lt.Server, mode remote.Mode, maxAge time.Duration) *harness {
	t.Helper()
	sim, err := simulate.New(simulate.Config{Layout: ntag424.Layout{Mode: ntag424.ModePlain}, Keys: ntag424.Keys{FileRead: remoteKey},
		URL: remoteURL, Dwell: 50 * time.Millisecond, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	uids, key := sim.RemoteTags()
	for _, u := range uids {
		if err := srv.AddTag(lt.Tag{UID: fmt.Sprintf("%X", u[:]), Key: key, Claimable: true, RecoverEnabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	h := &harness{t: t, dir: t.TempDir(), sim: sim, done: make(chan error, 1)}
	if h.token, err = token.Open(statedir.PathsOf(h.dir).Tokens).Create("test-client"); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	cfg := remoteConfig(t, srv, mode, maxAge)
	go func() {
		h.done <- Run(ctx, Options{Config: cfg, StateDir: h.dir, Source: sim, Version: "test", Log: zap.New(core), Ready: func(u string) { ready <- u }})
	}()
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

// settled waits for the tag.read of the next tap and, unless it is final
// at once, for the verdict.updated with its tap ID; it checks that they
// come in this order. It returns both payloads (updated nil if none).
func (c *client) settled(wantUpdate bool) (read, updated map[string]any) {
	c.t.Helper()
	return c.settledOf("", wantUpdate)
}

// remoteOf is the state of a payload's remote member, which is an object
// {"state":S} on the wire (not a plain string).
func remoteOf(p map[string]any) any {
	r, ok := p["remote"].(map[string]any)
	if !ok {
		return fmt.Sprintf("remote not an object: %#v", p["remote"])
	}
	return r["state"]
}

// settledOf is settled for the taps whose URL starts with prefix: on a
// shared pcscd, other tags may come by.
func (c *client) settledOf(prefix string, wantUpdate bool) (read, updated map[string]any) {
	c.t.Helper()
	m := c.next(func(m map[string]any) bool {
		if m["type"] == "tag.read" {
			u, _ := m["payload"].(map[string]any)["url"].(string)
			return strings.HasPrefix(u, prefix)
		}
		return m["type"] == "verdict.updated"
	})
	if m["type"] != "tag.read" {
		c.t.Fatalf("verdict.updated before its tag.read: %v", m)
	}
	read = m["payload"].(map[string]any)
	readSeq := m["seq"].(float64)
	if !wantUpdate {
		return read, nil
	}
	m = c.next(func(m map[string]any) bool {
		if m["type"] == "tag.read" {
			u, _ := m["payload"].(map[string]any)["url"].(string)
			return strings.HasPrefix(u, prefix)
		}
		return m["type"] == "verdict.updated"
	})
	if m["type"] != "verdict.updated" {
		c.t.Fatalf("another tag.read before the verdict.updated of tap %v: %v", read["tap"], m)
	}
	updated = m["payload"].(map[string]any)
	if updated["tap"] != read["tap"] || m["seq"].(float64) <= readSeq {
		c.t.Fatalf("verdict.updated %v (seq %v) does not follow tag.read %v (seq %v)", updated, m["seq"], read, readSeq)
	}
	return read, updated
}

// openPayload checks a tag.read or verdict.updated payload's signatures as
// a POS backend would and returns the version 2 verdict.
func openPayload(t *testing.T, pub ed25519.PublicKey, p map[string]any, updated bool) verdict.Verdict {
	t.Helper()
	var wire verdict.Payload
	if err := json.Unmarshal([]byte(mustJSON(p)), &wire); err != nil {
		t.Fatal(err)
	}
	if updated && (wire.SignatureV2 != nil || wire.Signature.V != verdict.Version2) {
		t.Errorf("verdict.updated signed %+v / %+v, want only a version 2 signature", wire.Signature, wire.SignatureV2)
	}
	if !updated && (wire.SignatureV2 == nil || wire.Signature.V != 0) {
		t.Errorf("tag.read signed %+v / %+v, want versions 1 and 2", wire.Signature, wire.SignatureV2)
	}
	v, err := wire.Open(pub)
	if err != nil {
		t.Fatalf("signature of %v: %v", p, err)
	}
	wire.Remote = "authentic"
	if v.Remote != "authentic" {
		if _, err := wire.Open(pub); err == nil {
			t.Errorf("a changed remote state still verifies: %v", p)
		}
	}
	return v
}

// checkTap checks the invariants for a genuine tap settled through the
// daemon: never replayed or counterfeit; authentic if and only if the
// service accepted its triple; no verify after one that may have been
// processed.
func checkTap(t *testing.T, srv *lt.Server, read map[string]any, final verdict.Verdict) {
	t.Helper()
	tr, err := verifyclient.TripleFromURL(read["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if final.Verdict == verdict.Replayed || final.Verdict == verdict.Counterfeit {
		t.Errorf("genuine tap %s ended %s (%s)", tr, final.Verdict, final.Reason)
	}
	if accepted := srv.Accepted(tr); accepted != (final.Verdict == verdict.Authentic) {
		t.Errorf("%s: accepted by the service %v, final verdict %s", tr, accepted, final.Verdict)
	}
	reqs := srv.VerifyRequests(tr)
	for i, r := range reqs[:max(len(reqs)-1, 0)] {
		if r.Status != 429 && r.Status != 503 {
			t.Errorf("%s: verify request %d of %d sent again after status %d (fault %q)", tr, i+1, len(reqs), r.Status, r.Fault)
		}
	}
}

// TestRemoteConfirm runs taps through a daemon in confirm mode against the
// fake service with faults: every WebSocket client sees the tag.read, then
// the verdict.updated of the same tap, both signed; the §3.10 invariants
// hold; the operator requests work over the WebSocket.
func TestRemoteConfirm(t *testing.T) {
	srv := lt.NewServer(lt.Options{})
	defer srv.Close()
	h := startRemoteDaemon(t, srv, remote.Confirm, 2*time.Second)
	c1, c2 := h.dial(), h.dial()
	pub := h.publicKey()

	type tc struct {
		name   string
		faults []lt.Fault
		want   string // final verdict
		reason string
	}
	for _, k := range []tc{
		{"no fault", nil, verdict.Authentic, verdict.ReasonOK},
		{"commit then drop", []lt.Fault{{Route: "verify", Kind: lt.CommitThenDrop}}, verdict.Authentic, verdict.ReasonOK},
		{"503 twice", []lt.Fault{{Route: "verify", Kind: lt.Status, Code: 503, Times: 2}}, verdict.Authentic, verdict.ReasonOK},
		{"malformed answer", []lt.Fault{{Route: "verify", Kind: lt.Malformed}}, verdict.Authentic, verdict.ReasonOK},
		{"200 with errors", []lt.Fault{{Route: "verify", Kind: lt.OKWithErrors}}, verdict.Unverified, verdict.ReasonRemoteRejected},
		{"drop before commit", []lt.Fault{{Route: "verify", Kind: lt.DropBeforeCommit}}, verdict.Unverified, verdict.ReasonRemoteUnreachable},
	} {
		for _, f := range k.faults {
			srv.Inject(f)
		}
		h.tap(simulate.Genuine)
		for i, c := range []*client{c1, c2} {
			read, upd := c.settled(true)
			r := openPayload(t, pub, read, false)
			u := openPayload(t, pub, upd, true)
			if r.Verdict != verdict.Authentic || r.Remote != "pending" || r.Profile != "legit" {
				t.Errorf("%s: tag.read %s remote %s", k.name, r.Verdict, r.Remote)
			}
			if u.Verdict != k.want || u.Reason != k.reason || u.UID != r.UID || u.Reader != r.Reader || u.URL != r.URL {
				t.Errorf("%s: verdict.updated %+v, want %s (%s) of the tap %+v", k.name, u, k.want, k.reason, r)
			}
			if i == 0 {
				checkTap(t, srv, read, u)
			}
		}
		srv.ClearFaults()
	}

	// Local verdicts the service cannot change are final at once and not
	// sent: a counterfeit tag, and the second presentation of a replay.
	h.tap(simulate.Counterfeit)
	if r, _ := c1.settled(false); r["verdict"] != verdict.Counterfeit || remoteOf(r) != "none" {
		t.Errorf("counterfeit tap: %v", r)
	}
	h.tap(simulate.Replay)
	if r, u := c1.settled(true); remoteOf(r) != "pending" || u["verdict"] != verdict.Authentic || remoteOf(u) != "authentic" {
		t.Errorf("replay tag, first tap: %v then %v", r, u)
	}
	h.tap(simulate.Replay)
	r, _ := c1.settled(false)
	if r["verdict"] != verdict.Replayed || r["reason"] != verdict.ReasonReplayedCounter || remoteOf(r) != "none" {
		t.Errorf("replay tag, second tap: %v", r)
	}
	tr, _ := verifyclient.TripleFromURL(r["url"].(string))
	if n := len(srv.VerifyRequests(tr)); n != 1 {
		t.Errorf("the replayed triple was sent %d times, want once (the first tap)", n)
	}

	// The operator requests, for the genuine tag's latest tap.
	h.tap(simulate.Genuine)
	read, _ := c1.settled(true)
	uid := read["uid"].(string)
	if res := c1.request("q1", "legitimate.latest", map[string]any{"uid": strings.ToLower(uid)}); mustJSON(res["payload"]) == "" ||
		res["type"] != "result" || res["payload"].(map[string]any)["latest"] != true {
		t.Errorf("legitimate.latest: %v", res)
	}
	wallet := "0x00000000000000000000000000000000000000aa"
	if res := c1.request("q2", "legitimate.claim", map[string]any{"uid": uid, "wallet": wallet}); res["type"] != "result" ||
		!strings.HasPrefix(res["payload"].(map[string]any)["hash"].(string), "0x") {
		t.Errorf("legitimate.claim: %v", res)
	}
	if res := c1.request("q3", "legitimate.claim", map[string]any{"uid": uid, "wallet": wallet}); res["type"] != "error" ||
		res["payload"].(map[string]any)["code"] != "already_attempted" {
		t.Errorf("second legitimate.claim: %v", res)
	}
	if res := c1.request("q4", "legitimate.transfers", map[string]any{"uid": uid}); res["type"] != "result" || !strings.Contains(mustJSON(res), wallet) {
		t.Errorf("legitimate.transfers: %v", res)
	}
	if res := c1.request("q5", "legitimate.verifications", map[string]any{"uid": uid, "limit": 10}); res["type"] != "result" ||
		len(res["payload"].(map[string]any)["verifications"].([]any)) == 0 {
		t.Errorf("legitimate.verifications: %v", res)
	}
	for id, q := range map[string]string{
		"e1": `{"v":1,"type":"legitimate.claim","id":"e1","payload":{"uid":"04AABBCCDDEEFF","wallet":"` + wallet + `"}}`,
		"e2": `{"v":1,"type":"legitimate.consent","id":"e2","payload":{"email":"nobody@example.com","subscribe":true}}`,
		"e3": `{"v":1,"type":"legitimate.verifications","id":"e3","payload":{"uid":"zz"}}`,
		"e4": `{"v":1,"type":"outbox.drop","id":"e4","payload":{"id":999}}`,
		"e5": `{"v":1,"type":"legitimate.claim","id":"e5","payload":{"uid":"` + uid + `","triple":"x"}}`,
		"e6": `{"v":1,"type":"legitimate.consent","id":"e6","payload":{"email":"nobody@example.com"}}`,
	} {
		c1.send(q)
		res := c1.next(func(m map[string]any) bool { return m["id"] == id })
		want := map[string]string{"e1": "no_recent_tap", "e2": "no_user", "e3": "bad_request", "e4": "no_item", "e5": "bad_request", "e6": "bad_request"}[id]
		if res["type"] != "error" || res["payload"].(map[string]any)["code"] != want {
			t.Errorf("%s: %v, want error %s", id, res, want)
		}
	}
	res := c1.request("o1", "outbox.status", json.RawMessage(`{}`))
	st := res["payload"].(map[string]any)
	if res["type"] != "result" || st["enabled"] != true || st["mode"] != "confirm" || st["count"] != 0.0 {
		t.Errorf("outbox.status: %v", res)
	}
	// The same through the admin API (nfcd outbox), and in /healthz.
	ac := admin.NewClient(admin.Path(h.dir))
	var ost remoteverify.Status
	if err := ac.Call(context.Background(), AdminOutboxStatus, nil, &ost); err != nil || !ost.Enabled || ost.Mode != "confirm" || ost.Count != 0 {
		t.Errorf("admin outbox.status: %+v, %v", ost, err)
	}
	var ae *admin.Error
	if err := ac.Call(context.Background(), AdminOutboxDrop, OutboxRequest{ID: 999}, nil); !errors.As(err, &ae) || ae.Code != admin.CodeBadRequest {
		t.Errorf("admin outbox.drop of no item: %v", err)
	}
	if hr := h.health(); !hr.Remote.Configured || !hr.Remote.Reachable || hr.Remote.OutboxDepth != 0 {
		t.Errorf("/healthz remote: %+v", hr.Remote)
	}
	req, _ := http.NewRequest(http.MethodGet, h.url+"metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "nfcd_outbox_depth 0\n") || !strings.Contains(string(b), `verdict="authentic"`) {
			t.Errorf("/metrics lacks the outbox or the taps:\n%s", b)
		}
	}
	for _, e := range h.logs.All() {
		line := mustJSON(e.ContextMap()) + e.Message
		if tr, err := verifyclient.TripleFromURL(read["url"].(string)); err == nil && strings.Contains(line, tr.CMAC) {
			t.Errorf("a log line holds a tap's cmac: %s", line)
		}
	}
}

// TestRemoteRequired: the tag.read waits for the remote answer, and the
// reader's card.removed waits behind it; an answer past the timeout
// comes as a verdict.updated after a pending tag.read.
func TestRemoteRequired(t *testing.T) {
	srv := lt.NewServer(lt.Options{})
	defer srv.Close()
	h := startRemoteDaemon(t, srv, remote.RemoteRequired, time.Minute)
	c := h.dial()
	pub := h.publicKey()

	h.tap(simulate.Genuine)
	m := c.next(func(m map[string]any) bool { return m["type"] == "tag.read" || m["type"] == "card.removed" })
	if m["type"] != "tag.read" {
		t.Fatalf("card.removed before the held tag.read: %v", m)
	}
	if v := openPayload(t, pub, m["payload"].(map[string]any), false); v.Verdict != verdict.Authentic || v.Remote != "authentic" {
		t.Errorf("held tag.read answered in time: %+v", v)
	}
	c.next(func(m map[string]any) bool { return m["type"] == "card.removed" })

	// 429 with Retry-After 1 s, three times: the client waits, then the
	// outbox; the tag.read goes out pending after the timeout (500 ms).
	srv.Inject(lt.Fault{Route: "verify", Kind: lt.Status, Code: 429, RetryAfter: "1", Times: 3})
	start := time.Now()
	h.tap(simulate.Genuine)
	var kinds []string
	var read, upd map[string]any
	for upd == nil {
		m := c.next(func(m map[string]any) bool {
			return m["type"] == "tag.read" || m["type"] == "verdict.updated" || m["type"] == "card.removed"
		})
		kinds = append(kinds, m["type"].(string))
		switch m["type"] {
		case "tag.read":
			read = m["payload"].(map[string]any)
			if d := time.Since(start); d < 400*time.Millisecond {
				t.Errorf("the pending tag.read came after %v, before the timeout", d)
			}
		case "verdict.updated":
			upd = m["payload"].(map[string]any)
		}
	}
	if strings.Join(kinds, " ") != "tag.read card.removed verdict.updated" {
		t.Errorf("events %v", kinds)
	}
	r, u := openPayload(t, pub, read, false), openPayload(t, pub, upd, true)
	if r.Verdict != verdict.Pending || r.Reason != verdict.ReasonRemotePending || u.Verdict != verdict.Authentic || u.Tap != r.Tap {
		t.Errorf("tag.read %+v, verdict.updated %+v", r, u)
	}
	checkTap(t, srv, read, u)
}

// TestRemoteFakeDemo: nfcd run --simulate --remote-fake — the simulated
// tags mirror in plain and an in-process fake service confirms them, with
// no configuration and no network.
func TestRemoteFakeDemo(t *testing.T) {
	dir := t.TempDir()
	tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("demo")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.SimulateInterval = tomlfile.Duration{Duration: 300 * time.Millisecond}
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, StateDir: dir, Simulate: true, RemoteFake: true, Version: "test", Log: zap.NewNop(),
			Ready: func(u string) { ready <- u }})
	}()
	h := &harness{t: t, dir: dir, token: tok, cancel: cancel, done: done}
	select {
	case h.url = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() { h.stop() })
	c := h.dial()
	pub := h.publicKey()
	read, upd := c.settledOf(simulate.DemoURL, true)
	r, u := openPayload(t, pub, read, false), openPayload(t, pub, upd, true)
	if r.Verdict != verdict.Authentic || r.Remote != "pending" || r.Profile != "demo" || u.Verdict != verdict.Authentic || u.Remote != "authentic" {
		t.Errorf("demo tap: tag.read %s/%s (%s), verdict.updated %s/%s", r.Verdict, r.Remote, r.Profile, u.Verdict, u.Remote)
	}
	if !strings.Contains(r.URL, "&cmac=") {
		t.Errorf("demo tag URL %s is not a plain mirror", r.URL)
	}
}

// TestRemoteDisabled: without [remote.legitimate] the legitimate.*
// requests answer remote_disabled; a payload that is not valid is still
// bad_request first.
func TestRemoteDisabled(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	for id, q := range map[string]string{
		"d1": `{"v":1,"type":"legitimate.latest","id":"d1","payload":{"uid":"04AABBCCDDEEFF"}}`,
		"d2": `{"v":1,"type":"legitimate.recover","id":"d2","payload":{"uid":"04AABBCCDDEEFF"}}`,
		"d3": `{"v":1,"type":"legitimate.consent","id":"d3","payload":{"email":"nobody@example.com"}}`,
	} {
		c.send(q)
		res := c.next(func(m map[string]any) bool { return m["id"] == id })
		want := map[string]string{"d1": "remote_disabled", "d2": "remote_disabled", "d3": "bad_request"}[id]
		if res["type"] != "error" || res["payload"].(map[string]any)["code"] != want {
			t.Errorf("%s: %v, want error %s", id, res, want)
		}
	}
}
