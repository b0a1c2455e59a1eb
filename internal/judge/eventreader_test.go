package judge

import (
	"encoding/json"
	"testing"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/verdict"
)

// TestEventReaderMatchesEncoding: every payload the stage publishes names
// its reader (ws.ReaderNamer) exactly as the top-level "reader" string of
// its JSON encoding does, which is what the WebSocket server would decode
// without the method.
func TestEventReaderMatchesEncoding(t *testing.T) {
	payloads := []interface {
		EventReader() (string, bool)
	}{
		TagRead{Payload: verdict.Payload{Reader: "ACS ACR122U 00 00"}},
		TagRead{},
		VerdictUpdated{Payload: verdict.Payload{Reader: "r\"1\u00e9<"}},
		readerPayload{Reader: "reader 2", ATR: "3B8F"},
		readerPayload{},
		event.ErrorPayload{Reader: "reader 3", Code: event.CodeStoreUnavailable},
		event.ErrorPayload{Code: event.CodeStoreUnavailable},
	}
	for _, p := range payloads {
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		var want string
		r, has := m["reader"]
		has = has && len(r) > 0 && r[0] == '"' && json.Unmarshal(r, &want) == nil
		got, ok := p.EventReader()
		if got != want || ok != has {
			t.Errorf("%T %s: EventReader = %q, %v; the encoding says %q, %v", p, raw, got, ok, want, has)
		}
	}
}
