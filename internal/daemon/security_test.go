package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
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
	t.Logf("revocation → close frame over %d revocations: median %v, max %v (poll interval %v)",
		rounds, took[rounds/2], took[rounds-1], token.DefaultWatchInterval)
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
