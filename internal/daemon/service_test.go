package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/reader"
)

// switchSource is a reader source whose events the test sends.
type switchSource struct{ events chan reader.Event }

func (s switchSource) Run(ctx context.Context, out chan<- reader.Event) error {
	for {
		select {
		case ev := <-s.events:
			ev.Time = time.Now()
			select {
			case out <- ev:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (switchSource) Connect(context.Context, string) (reader.Card, error) {
	return nil, errors.New("no card")
}

// TestPCSCStateReported: hello and readers.list say whether the PC/SC
// service runs, and every change is a pcsc.changed event, so a page can
// say "reader service down" rather than "no reader".
func TestPCSCStateReported(t *testing.T) {
	src := switchSource{events: make(chan reader.Event)}
	h := startWith(t, t.TempDir(), "", func(o *Options) { o.Source = src })

	state := func(payload map[string]any) string {
		t.Helper()
		p, ok := payload["pcsc"].(map[string]any)
		if !ok {
			t.Fatalf("no pcsc object in %v", payload)
		}
		return p["state"].(string)
	}
	c := h.dial()
	// The hello is the first frame; dial consumed it while subscribing.
	c.mu.Lock()
	first := c.frames[0]
	c.mu.Unlock()
	if want := `"pcsc":{"state":"starting"}`; !strings.Contains(first, want) {
		t.Errorf("hello before the source said anything = %s, want %s", first, want)
	}

	src.events <- reader.Event{Kind: event.Error, Err: errors.New("pcsc: establish context: smart card service unavailable (scard: Service not available)")}
	src.events <- reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceDown}
	ev := c.next(func(m map[string]any) bool { return m["type"] == "pcsc.changed" })
	if s := ev["payload"].(map[string]any)["state"]; s != "no_service" {
		t.Errorf("pcsc.changed state %v, want no_service", s)
	}
	c.send(`{"v":1,"type":"readers.list","id":"r1"}`)
	res := c.next(func(m map[string]any) bool { return m["id"] == "r1" })["payload"].(map[string]any)
	if s := state(res); s != "no_service" {
		t.Errorf("readers.list pcsc state %q, want no_service", s)
	}
	if rs := res["readers"].([]any); len(rs) != 0 {
		t.Errorf("readers.list readers %v, want none", rs)
	}
	c2 := h.dial()
	c2.mu.Lock()
	first = c2.frames[0]
	c2.mu.Unlock()
	if want := `"pcsc":{"state":"no_service"}`; !strings.Contains(first, want) {
		t.Errorf("hello while the service is down = %s, want %s", first, want)
	}

	src.events <- reader.Event{Kind: event.ServiceChanged, Service: reader.ServiceRunning}
	src.events <- reader.Event{Kind: event.ReaderAdded, Reader: "R1"}
	ev = c.next(func(m map[string]any) bool { return m["type"] == "pcsc.changed" })
	if s := ev["payload"].(map[string]any)["state"]; s != "running" {
		t.Errorf("pcsc.changed state %v, want running", s)
	}
	c.next(func(m map[string]any) bool { return m["type"] == "reader.added" })
	c.send(`{"v":1,"type":"readers.list","id":"r2"}`)
	res = c.next(func(m map[string]any) bool { return m["id"] == "r2" })["payload"].(map[string]any)
	if s := state(res); s != "running" || len(res["readers"].([]any)) != 1 {
		t.Errorf("readers.list = %v, want pcsc running and reader R1", res)
	}
	// The cause of the outage stays in the log.
	c.mu.Lock()
	c2.mu.Lock()
	frames := append(append([]string(nil), c.frames...), c2.frames...)
	c2.mu.Unlock()
	c.mu.Unlock()
	for _, f := range frames {
		if strings.Contains(f, "scard") || strings.Contains(f, "establish context") {
			t.Errorf("an internal error reached a client: %s", f)
		}
	}
}
