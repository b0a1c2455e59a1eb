package daemon

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestConnectionLimitsFromConfig: max_connections_per_token reaches the
// WebSocket server; one connection more is refused with 429.
func TestConnectionLimitsFromConfig(t *testing.T) {
	h := startWith(t, t.TempDir(), "", func(o *Options) {
		o.Config.MaxConnections, o.Config.MaxConnectionsPerToken = 3, 2
	})
	t.Cleanup(func() { h.stop() })
	h.dial()
	h.dial()
	u := "ws" + strings.TrimPrefix(h.url, "http") + "v1/ws"
	d := websocket.Dialer{Subprotocols: []string{"nfcd.v1", "nfcd-token." + h.token}}
	c, resp, err := d.Dial(u, nil)
	if err == nil {
		c.Close()
		t.Fatal("a third connection of the token was admitted, want 429")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third connection: %v (%v), want 429", err, resp)
	}
}
