package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// vectorLine turns a sun_* test vector into a batch request line.
func vectorLine(t testing.TB, v testvectors.Vector) []byte {
	req := map[string]any{
		"id":     v.ID,
		"url":    v.Input["url"],
		"layout": v.Input["layout"],
		"keys": map[string]any{
			"sdm_file_read_key": v.Input["sdm_file_read_key"],
			"sdm_meta_read_key": v.Input["sdm_meta_read_key"],
		},
		"extra_field": "ignored",
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type result struct {
	ID          *string `json:"id"`
	Valid       bool    `json:"valid"`
	Reason      string  `json:"reason"`
	UID         *string `json:"uid"`
	Ctr         *int    `json:"ctr"`
	TTStatus    *string `json:"tt_status"`
	FileData    *string `json:"file_data"`
	PICCDataTag *string `json:"picc_data_tag"`
}

// TestVectors runs every SUN vector through the batch contract, checks one
// output line per input line in order, and the fields of each.
func TestVectors(t *testing.T) {
	vs := testvectors.Load(t, "sun_plain", "sun_enc_picc", "sun_encfile")
	var in bytes.Buffer
	for _, v := range vs {
		in.Write(vectorLine(t, v))
		in.WriteByte('\n')
	}
	var out bytes.Buffer
	if err := NewVerifier().Run(&in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(vs) {
		t.Fatalf("got %d output lines for %d inputs", len(lines), len(vs))
	}
	for i, v := range vs {
		var r result
		if err := json.Unmarshal([]byte(lines[i]), &r); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
		if r.ID == nil || *r.ID != v.ID {
			t.Errorf("line %d: id %v, want %s", i, r.ID, v.ID)
		}
		want := !v.Negative()
		if r.Valid != want {
			t.Errorf("%s: valid = %v (%s), want %v", v.ID, r.Valid, r.Reason, want)
			continue
		}
		if !want {
			if r.UID != nil || r.Ctr != nil || r.Reason == "ok" {
				t.Errorf("%s: invalid result carries uid/ctr or reason ok: %s", v.ID, lines[i])
			}
			continue
		}
		if r.Reason != "ok" || r.UID == nil || *r.UID != v.Expected["uid"] {
			t.Errorf("%s: %s, want uid %v", v.ID, lines[i], v.Expected["uid"])
		}
		if r.Ctr == nil || float64(*r.Ctr) != v.Expected["ctr"] {
			t.Errorf("%s: ctr %v, want %v", v.ID, r.Ctr, v.Expected["ctr"])
		}
		if fd, ok := v.Expected["file_data"]; ok && (r.FileData == nil || *r.FileData != fd) {
			t.Errorf("%s: file_data %v, want %v", v.ID, r.FileData, fd)
		}
		if tt, ok := v.Expected["tt_status"]; ok && (r.TTStatus == nil || *r.TTStatus != tt) {
			t.Errorf("%s: tt_status %v, want %v", v.ID, r.TTStatus, tt)
		}
		mode := v.Input["layout"].(map[string]any)["mode"]
		if (mode != "plain") != (r.PICCDataTag != nil) {
			t.Errorf("%s: picc_data_tag %v in mode %v", v.ID, r.PICCDataTag, mode)
		}
	}
}

func TestBadInput(t *testing.T) {
	const zero = "00000000000000000000000000000000"
	plainURL := "https://x/?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	for _, tc := range []struct {
		name, line, want string
	}{
		{"not json", `garbage`, `{"id":null,"valid":false,"reason":"bad_input","detail":"invalid JSON at offset 1"}`},
		{"empty line", ``, `{"id":null,"valid":false,"reason":"bad_input","detail":"invalid JSON at offset 0"}`},
		{"id wrong type", `{"id":5}`, `{"id":null,"valid":false,"reason":"bad_input","detail":"field \"id\": wrong type"}`},
		{"missing url", `{"id":"a","layout":{"mode":"plain"}}`, `{"id":"a","valid":false,"reason":"bad_input","detail":"missing url"}`},
		{"missing layout", `{"id":"a","url":"x"}`, `{"id":"a","valid":false,"reason":"bad_input","detail":"missing layout"}`},
		{"missing mode", `{"id":"a","url":"x","layout":{}}`, `{"id":"a","valid":false,"reason":"bad_input","detail":"mode: missing"}`},
		{"bad mode", `{"id":"a","url":"x","layout":{"mode":"x"},"keys":{"sdm_file_read_key":"` + zero + `"}}`, `{"id":"a","valid":false,"reason":"bad_input","detail":"mode: must be plain, enc or encfile"}`},
		{"short key", `{"id":"a","url":"x","layout":{"mode":"plain"},"keys":{"sdm_file_read_key":"0011"}}`, `{"id":"a","valid":false,"reason":"bad_input","detail":"sdm_file_read_key: want 32 hex digits, got 4"}`},
		{"tt outside window", `{"id":"a","url":"x","layout":{"mode":"plain","tt_param":true},"keys":{"sdm_file_read_key":"` + zero + `"}}`, `{"id":"a","valid":false,"reason":"bad_format","detail":"tt: TagTamper status mirrored outside the MAC input window"}`},
		{"malformed url", `{"id":"a","url":"https://x/?uid=041E&ctr=000006&cmac=4B00064004B0B3D3","layout":{"mode":"plain"}}`, `{"id":"a","valid":false,"reason":"bad_format","detail":"uid: want 14 hex digits, got 4"}`},
		{"plain uid-only", `{"id":"a","url":"https://x/?uid=041E3C8A2D6B80&cmac=0000000000000000","layout":{"mode":"plain","ctr":false},"keys":{"sdm_file_read_key":"` + zero + `"}}`, `{"id":"a","valid":false,"reason":"bad_mac"}`},
		{"valid", `{"id":"a\u2028\"","url":"` + plainURL + `","layout":{"mode":"plain"},"keys":{"sdm_file_read_key":"` + zero + `"}}`, "{\"id\":\"a\u2028\\\"\",\"valid\":true,\"reason\":\"ok\",\"uid\":\"041E3C8A2D6B80\",\"ctr\":6}"},
		// Keys default to the factory all-zero keys, as for single URLs.
		{"keys default to zero", `{"id":"z","url":"` + plainURL + `","layout":{"mode":"plain"}}`, `{"id":"z","valid":true,"reason":"ok","uid":"041E3C8A2D6B80","ctr":6}`},
	} {
		got := string(NewVerifier().Line(nil, []byte(tc.line)))
		if got != tc.want+"\n" {
			t.Errorf("Line(%s):\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("Line(%s) output is not JSON: %s", tc.name, got)
		}
	}
}

// TestDefaultProfiles: lines without a layout are verified with the
// Verifier's profiles, matched by URL prefix.
func TestDefaultProfiles(t *testing.T) {
	const plainURL = "https://x/?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3"
	set, err := profile.Parse("p.toml", []byte(`[[profile]]
name = "x"
match = "https://x/"
mode = "plain"
sdm_file_read_key = "00000000000000000000000000000000"
`))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier()
	v.Profiles = set
	for _, tc := range []struct{ line, want string }{
		{`{"id":"1","url":"` + plainURL + `"}`, `{"id":"1","valid":true,"reason":"ok","uid":"041E3C8A2D6B80","ctr":6}`},
		{`{"id":"2","url":"https://elsewhere/?a=b"}`, `{"id":"2","valid":false,"reason":"unknown_profile"}`},
	} {
		if got := string(v.Line(nil, []byte(tc.line))); got != tc.want+"\n" {
			t.Errorf("Line(%s) = %s, want %s", tc.line, got, tc.want)
		}
	}
}

// TestRunLines checks that blank, overlong and unterminated lines each get
// exactly one answer, in order.
func TestRunLines(t *testing.T) {
	long := `{"id":"` + strings.Repeat("x", MaxLine) + `"}`
	in := "garbage\n\n" + long + "\r\n" + `{"id":"last"}`
	var out bytes.Buffer
	if err := NewVerifier().Run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[2], "line longer than") || !strings.Contains(lines[3], `"id":"last"`) {
		t.Errorf("unexpected output:\n%s", out.String())
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestRunWriteError(t *testing.T) {
	in := strings.Repeat(`{"id":"a"}`+"\n", 10000)
	if err := NewVerifier().Run(strings.NewReader(in), errWriter{}); err == nil {
		t.Error("Run to a failing writer returned nil")
	}
}

// BenchmarkBatch measures `nfcd verify --batch` throughput on one core over
// a mix of plain, encrypted-PICCData and rejected lines; target ≥ 100k
// lines/s (reported as lines/s).
func BenchmarkBatch(b *testing.B) {
	vs := testvectors.Load(b, "sun_plain", "sun_enc_picc")
	var lines [][]byte
	for _, v := range vs {
		if v.Input["layout"].(map[string]any)["crypto"] == "lrp" {
			continue // LRP costs ~200 key schedules a line; measured in ntag424
		}
		lines = append(lines, vectorLine(b, v))
	}
	var in bytes.Buffer
	const n = 10000
	for i := 0; i < n; i++ {
		in.Write(lines[i%len(lines)])
		in.WriteByte('\n')
	}
	data := in.Bytes()
	v := NewVerifier()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		w := bufio.NewWriter(io.Discard)
		if err := v.Run(bytes.NewReader(data), w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(0, "ns/op")
	_ = fmt.Sprint
}
