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

// TestPrepare: a prepared event takes its seq when it is published, not
// when it is prepared, and its frame is what Publish would have made; an
// event Publish would reject, or a second Publish, publishes nothing.
func TestPrepare(t *testing.T) {
	s, err := NewServer(Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	a := s.Prepare("tag.read", namedPayload{Reader: "a", name: "a"})
	b := s.Prepare("tag.read", map[string]string{"reader": "b"})
	if seq := s.Publish("card.present", map[string]string{"reader": "b"}); seq != 1 {
		t.Fatalf("Publish after two Prepares: seq %d, want 1", seq)
	}
	if seq := b.Publish(); seq != 2 {
		t.Fatalf("b: seq %d, want 2", seq)
	}
	if seq := a.Publish(); seq != 3 {
		t.Fatalf("a: seq %d, want 3", seq)
	}
	if seq := a.Publish(); seq != 0 {
		t.Errorf("a published twice: seq %d, want 0", seq)
	}
	for i, want := range []string{
		`{"v":1,"type":"card.present","seq":1,"payload":{"reader":"b"}}`,
		`{"v":1,"type":"tag.read","seq":2,"payload":{"reader":"b"}}`,
		`{"v":1,"type":"tag.read","seq":3,"payload":{"reader":"a"}}`,
	} {
		if got := string(s.ring[i].frame); got != want {
			t.Errorf("frame %d\n%s\nwant\n%s", i, got, want)
		}
	}
	if s.ring[1].reader != "b" || s.ring[2].reader != "a" {
		t.Errorf("readers %q %q, want b a", s.ring[1].reader, s.ring[2].reader)
	}
	for _, p := range []interface{ Publish() uint64 }{s.Prepare("x", []int{1}), s.Prepare("", map[string]int{}), s.Prepare(TypeHello, map[string]int{})} {
		if seq := p.Publish(); seq != 0 {
			t.Errorf("a rejected event was published with seq %d", seq)
		}
	}
	if len(s.ring) != 3 {
		t.Errorf("%d events kept, want 3", len(s.ring))
	}
}
