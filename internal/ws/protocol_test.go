package ws

import (
	"encoding/json"
	"testing"
)

// FuzzParseRequest checks that no client frame panics the parser, that an
// error leaves the request without a payload, and that an accepted request
// is a known type with an id and an object payload.
// testKnown knows the built-in requests and two registered ones.
func testKnown(typ string) bool {
	switch typ {
	case TypeSubscribe, TypeResume, TypePing, "readers.list", "history.query":
		return true
	}
	return false
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"ping","id":"1"}`,
		`{"v":1,"type":"subscribe","id":"s","payload":{"readers":["R1"],"types":["tag.read"]}}`,
		`{"v":1,"type":"resume","id":"r","payload":{"since":42,"stream":"00ff"}}`,
		`{"v":1,"type":"history.query","id":"h","payload":{"limit":10}}`,
		`{"v":1,"type":"readers.list","id":"x","payload":null}`,
		`{"v":2,"type":"ping","id":"1"}`,
		`{"v":1,"type":"ping","id":7}`,
		`{"v":1,"type":"ping","id":"1","payload":[]}`,
		`[1]`, `null`, ``, `{`, "\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b, testKnown)
		if err != nil {
			if req.Payload != nil {
				t.Errorf("parseRequest(%q) failed with %v but returned a payload", b, err)
			}
			if err.Code == "" || err.Message == "" {
				t.Errorf("parseRequest(%q) error without code or message: %+v", b, err)
			}
			return
		}
		if !testKnown(req.Type) {
			t.Fatalf("parseRequest(%q) accepted type %q", b, req.Type)
		}
		if req.ID == "" || len(req.ID) > maxIDLen {
			t.Errorf("parseRequest(%q) accepted id %q", b, req.ID)
		}
		if !json.Valid(req.Payload) || req.Payload[0] != '{' {
			t.Errorf("parseRequest(%q) payload %q is not an object", b, req.Payload)
		}
		// Subscribe parsing must not panic either.
		parseSubscribe(req.Payload, req.Type == TypeResume)
	})
}

func TestFilterMatches(t *testing.T) {
	f := filter{
		readers: map[string]struct{}{"R1": {}},
		types:   map[string]struct{}{TypeTagRead: {}},
	}
	tests := []struct {
		typ, reader string
		hasReader   bool
		want        bool
	}{
		{TypeTagRead, "R1", true, true},
		{TypeTagRead, "R2", true, false},
		{TypeTagRead, "", false, true},
		{TypeCardPresent, "R1", true, false},
	}
	for _, tc := range tests {
		if got := f.matches(tc.typ, tc.reader, tc.hasReader); got != tc.want {
			t.Errorf("matches(%q, %q, %v) = %v, want %v", tc.typ, tc.reader, tc.hasReader, got, tc.want)
		}
	}
	var all filter
	if !all.matches("anything", "R9", true) {
		t.Errorf("zero filter rejected an event")
	}
}

// FuzzParseBinary checks that no binary frame panics the parser, that an
// accepted frame is a known binary type whose body is the bytes after its
// header, and that a refused one carries no body.
func FuzzParseBinary(f *testing.F) {
	h := []byte(`{"v":1,"type":"test.chunk","id":"1","payload":{"seq":0}}`)
	f.Add(append(append([]byte{0, byte(len(h))}, h...), 1, 2, 3))
	f.Add([]byte{0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{0})
	f.Add([]byte{})
	known := func(typ string) bool { return typ == "test.chunk" }
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseBinary(b, known)
		if err != nil {
			if req.Data != nil || req.binary || err.Code == "" {
				t.Errorf("parseBinary(%q) = %+v, %v", b, req, err)
			}
			return
		}
		hl := int(b[0])<<8 | int(b[1])
		if !req.binary || req.Type != "test.chunk" || req.ID == "" || len(req.Data) != len(b)-2-hl || hl > MaxBinaryHeaderBytes {
			t.Errorf("parseBinary(%q) accepted %+v", b, req)
		}
		var p map[string]any
		if json.Unmarshal(req.Payload, &p) != nil {
			t.Errorf("payload %q is not an object", req.Payload)
		}
	})
}
