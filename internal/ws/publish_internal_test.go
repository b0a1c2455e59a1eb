package ws

import (
	"encoding/json"
	"strconv"
	"testing"

	"go.uber.org/zap"
)

// namedPayload names its reader (ReaderNamer) differently from its
// encoding, so that the test sees which of the two Publish used.
type namedPayload struct {
	Reader string `json:"reader"`
	name   string
}

func (p namedPayload) EventReader() (string, bool) { return p.name, true }

// TestPublishFrameAndReader: the frame is the envelope of the payload's
// encoding with the next seq, for payloads that name their reader and
// those that do not; the reader filters match is the ReaderNamer's when
// the payload is one, else the decoded top-level "reader" string.
func TestPublishFrameAndReader(t *testing.T) {
	s, err := NewServer(Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		typ     string
		payload any
		reader  string
		has     bool
	}{
		{"tag.read", namedPayload{Reader: "encoded", name: "named"}, "named", true},
		{"card.present", map[string]any{"reader": "r <1>", "atr": "3B"}, "r <1>", true},
		{"reader.error", map[string]any{"reader": 7}, "", false},
		{"service", struct {
			State string `json:"state"`
		}{"running"}, "", false},
		{"odd\"type<", map[string]string{"a": "b"}, "", false},
	}
	for i, c := range cases {
		seq := s.Publish(c.typ, c.payload)
		if seq != uint64(i+1) {
			t.Fatalf("%s: seq %d, want %d", c.typ, seq, i+1)
		}
		raw, _ := json.Marshal(c.payload)
		typ, _ := json.Marshal(c.typ)
		want := `{"v":1,"type":` + string(typ) + `,"seq":` + strconv.Itoa(i+1) + `,"payload":` + string(raw) + `}`
		ev := s.ring[len(s.ring)-1]
		if string(ev.frame) != want {
			t.Errorf("frame\n%s\nwant\n%s", ev.frame, want)
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(ev.frame, &env); err != nil {
			t.Errorf("frame is not JSON: %v", err)
		}
		if ev.reader != c.reader || ev.hasReader != c.has {
			t.Errorf("%s: reader %q %v, want %q %v", c.typ, ev.reader, ev.hasReader, c.reader, c.has)
		}
	}
	if s.Publish("x", []int{1}) != 0 || s.Publish("x", func() {}) != 0 {
		t.Error("a payload that is not an object or does not encode was published")
	}
}

// BenchmarkPublish: one tag.read-sized event into the ring, no client.
func BenchmarkPublish(b *testing.B) {
	s, err := NewServer(Config{}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	p := namedPayload{Reader: "ACS ACR122U PICC Interface 00 00", name: "ACS ACR122U PICC Interface 00 00"}
	b.ReportAllocs()
	for b.Loop() {
		s.Publish("tag.read", p)
	}
}
