//go:build linux

package daemon

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

// TestPCSCDRemote runs remote verification end to end on the real pcscd:
// a virtual plain-mirror tag (nfcd vtag's code) on the vpcd reader, the
// daemon in confirm mode against the fake service. Two WebSocket clients
// each see every tap's tag.read and then its verdict.updated, in order,
// and the §3.10 invariants hold under faults.
func TestPCSCDRemote(t *testing.T) {
	vpcdtest.Require(t)
	srv := lt.NewServer(lt.Options{})
	defer srv.Close()
	card, err := vtag.New(vtag.Config{Layout: ntag424.Layout{Mode: ntag424.ModePlain}, Keys: ntag424.Keys{FileRead: remoteKey},
		URL: remoteURL, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	uid := card.UID()
	if err := srv.AddTag(lt.Tag{UID: ntag424.Hex(uid[:]), Key: remoteKey}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("e2e")
	if err != nil {
		t.Fatal(err)
	}
	cfg := remoteConfig(t, srv, remote.Confirm, 2*time.Second)
	cfg.IncludeReaders = []string{vpcdtest.Slot0}
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
	c1, c2 := h.dial(), h.dial()
	c1.waitReader(vpcdtest.Slot0)
	c2.waitReader(vpcdtest.Slot0)
	pub := h.publicKey()

	// The vpcd slot is shared: another tag may come by between ours.
	ours := func(m map[string]any) bool {
		u, _ := m["payload"].(map[string]any)["url"].(string)
		return strings.HasPrefix(u, remoteURL)
	}
	present := func() {
		t.Helper()
		card.Presentation()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		conn, err := vpcd.Dial(ctx, vpcdtest.Slot0Addr)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- conn.Serve(ctx, card) }()
		// Until the daemon has read the tag: then pull it.
		c1.next(func(m map[string]any) bool { return m["type"] == "tag.read" && ours(m) || m["type"] == "error" })
		cancel()
		<-served
	}
	for _, f := range []*lt.Fault{
		nil,
		{Route: "verify", Kind: lt.CommitThenDrop},
		{Route: "verify", Kind: lt.Status, Code: 503, Times: 2},
		{Route: "verify", Kind: lt.Truncated},
		nil,
	} {
		if f != nil {
			srv.Inject(*f)
		}
		present()
		// c1's tag.read was taken by present; c2 checks the order of
		// both events, c1 the verdict.updated after it.
		read, upd := c2.settledOf(remoteURL, true)
		r, u := openPayload(t, pub, read, false), openPayload(t, pub, upd, true)
		if r.Verdict != verdict.Authentic || r.Remote != "pending" || u.Verdict != verdict.Authentic || u.Remote != "authentic" || u.Tap != r.Tap {
			t.Errorf("fault %v: tag.read %s/%s, verdict.updated %s/%s", f, r.Verdict, r.Remote, u.Verdict, u.Remote)
		}
		checkTap(t, srv, read, u)
		m := c1.next(func(m map[string]any) bool {
			return m["type"] == "verdict.updated" || m["type"] == "tag.read" && ours(m)
		})
		if m["type"] != "verdict.updated" || m["payload"].(map[string]any)["tap"] != r.Tap {
			t.Errorf("second client: %v, want the verdict.updated of %s", m, r.Tap)
		}
		srv.ClearFaults()
	}
}
