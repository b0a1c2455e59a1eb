package ws_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/ws"
)

// TestSetAllowedOrigins swaps the origin list while a client of a removed
// origin is connected: it stays connected and keeps receiving events, new
// connections follow the new list, and an invalid list changes nothing.
func TestSetAllowedOrigins(t *testing.T) {
	ts := startServer(t, nil)
	c, _, err := ts.dialRaw(dialOpts{origin: "https://pos.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := &client{t: t, c: c}
	old.read() // hello
	old.call("subscribe", "s", map[string]any{})

	if err := ts.SetAllowedOrigins([]string{"https://new.example"}); err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]int{
		"https://pos.example.com":     http.StatusForbidden,
		"https://new.example":         http.StatusSwitchingProtocols,
		"http://127.0.0.1:" + ts.port: http.StatusSwitchingProtocols,
	} {
		c, resp, _ := ts.dialRaw(dialOpts{origin: origin})
		if c != nil {
			c.Close()
		}
		if resp == nil || resp.StatusCode != want {
			t.Errorf("origin %s after the swap: %v, want %d", origin, resp, want)
		}
	}
	ts.Publish("tag.read", tagPayload("R1", 1))
	if f := old.read(); f.Type != "tag.read" {
		t.Errorf("the connected client of the removed origin got %s, want the event", f.Type)
	}
	if err := ts.SetAllowedOrigins([]string{"https://ok.example", "not an origin"}); err == nil {
		t.Error("an invalid origin was accepted")
	}
	if c, resp, _ := ts.dialRaw(dialOpts{origin: "https://new.example"}); resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("a refused list changed the origins: %v", resp)
	} else {
		c.Close()
	}
}

type countingMetrics struct {
	mu                    sync.Mutex
	clients               []int
	dropped, slowClosures int
}

func (m *countingMetrics) SetWSClients(n int) {
	m.mu.Lock()
	m.clients = append(m.clients, n)
	m.mu.Unlock()
}
func (m *countingMetrics) WSDropped() { m.mu.Lock(); m.dropped++; m.mu.Unlock() }
func (m *countingMetrics) WSSlowClientClosed() {
	m.mu.Lock()
	m.slowClosures++
	m.mu.Unlock()
}

func (m *countingMetrics) snapshot() (clients []int, dropped, slow int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.clients...), m.dropped, m.slowClosures
}

// TestMetrics: clients are counted as they come and go; a client that
// does not read has messages dropped and is then closed, and both are
// counted.
func TestMetrics(t *testing.T) {
	m := &countingMetrics{}
	ts := startServer(t, func(c *ws.Config) { c.Metrics = m; c.SendQueue = 4 })
	a := ts.dial(t)
	b := ts.dial(t)
	b.call("subscribe", "s", map[string]any{})
	a.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		clients, _, _ := m.snapshot()
		if len(clients) >= 3 && clients[len(clients)-1] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client counts %v, want 1, 2, then 1", clients)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// b stops reading: its queue fills, then it is closed.
	for i := 0; i < 5000; i++ {
		ts.Publish("tag.read", tagPayload("R1", i))
		if _, dropped, slow := m.snapshot(); dropped > 0 && slow > 0 {
			break
		}
	}
	if _, dropped, slow := m.snapshot(); dropped == 0 || slow != 1 {
		t.Errorf("dropped %d, slow closures %d; want some drops and one closure", dropped, slow)
	}
}
