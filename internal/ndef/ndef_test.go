package ndef

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// an12196URL is the SUN URL template of NXP AN12196 rev. 1.8, Table 17.
const an12196URL = "https://choose.url.com/ntag424?e=00000000000000000000000000000000&c=0000000000000000"

// an12196File is the 128-byte CmdData of Cmd.WriteData to the NDEF file in
// NXP AN12196 rev. 1.8, Table 18 (testvector an12196-t18-writedata-full):
// NLEN 0x0051, one short URI record with identifier code 0x04 ("https://"),
// then zero padding up to the write size.
const an12196File = "0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D30303030303030303030" +
	"3030303030303030303030303030303030303030303026633D3030303030303030303030303030303000" +
	"000000000000000000000000000000000000000000000000000000000000000000000000000000000000" +
	"0000"

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Join(strings.Fields(s), "")
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func equalRecords(a, b Record) bool {
	return a.TNF == b.TNF && bytes.Equal(a.Type, b.Type) && bytes.Equal(a.ID, b.ID) && bytes.Equal(a.Payload, b.Payload)
}

func equalMessages(a, b Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalRecords(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestAN12196File(t *testing.T) {
	file := unhex(t, an12196File)
	if len(file) != 128 {
		t.Fatalf("vector is %d bytes, want 128", len(file))
	}

	m, err := ParseFile(file)
	if err != nil {
		t.Fatalf("ParseFile(AN12196) error: %v", err)
	}
	if len(m) != 1 {
		t.Fatalf("ParseFile(AN12196) = %d records, want 1", len(m))
	}
	if got := m[0].Payload[0]; got != 0x04 {
		t.Errorf("URI identifier code = 0x%02X, want 0x04", got)
	}
	u, err := m.FirstURI()
	if err != nil || u != an12196URL {
		t.Errorf("FirstURI() = %q, %v, want %q", u, err, an12196URL)
	}

	// Build the same file from the URL: it must match the document byte
	// for byte, without the padding.
	enc, err := EncodeFile(Message{NewURIRecord(an12196URL)})
	if err != nil {
		t.Fatalf("EncodeFile error: %v", err)
	}
	if want := file[:2+0x51]; !bytes.Equal(enc, want) {
		t.Errorf("EncodeFile(NewURIRecord(%q)) =\n%X\nwant\n%X", an12196URL, enc, want)
	}
	back, err := ParseFile(enc)
	if err != nil || !equalMessages(back, m) {
		t.Errorf("ParseFile(EncodeFile) = %v, %v, want %v", back, err, m)
	}
}

func TestParse(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{"empty record", "D0 00 00", Message{{TNF: TNFEmpty}}},
		{"short URI", "D1 01 04 55 04 61 2E 62",
			Message{{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte("\x04a.b")}}},
		{"long form, small payload", "C1 01 00000001 55 00",
			Message{{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte{0}}}},
		{"long record", "C2 01 0000012C 78" + strings.Repeat("AB", 300),
			Message{{TNF: TNFMedia, Type: []byte("x"), Payload: long}}},
		{"IL with empty ID", "D9 01 00 00 55",
			Message{{TNF: TNFWellKnown, Type: []byte("U")}}},
		{"media with ID", "DA 0A 03 01 746578742F706C61696E 31 616263",
			Message{{TNF: TNFMedia, Type: []byte("text/plain"), ID: []byte("1"), Payload: []byte("abc")}}},
		{"absolute URI", "D3 05 00 612E622F63",
			Message{{TNF: TNFAbsoluteURI, Type: []byte("a.b/c")}}},
		{"external", "D4 09 01 6E78702E636F6D3A78 FF",
			Message{{TNF: TNFExternal, Type: []byte("nxp.com:x"), Payload: []byte{0xFF}}}},
		{"unknown", "D5 00 02 ABCD",
			Message{{TNF: TNFUnknown, Payload: []byte{0xAB, 0xCD}}}},
		{"two records", "91 01 03 54 02 656E  51 01 01 55 00",
			Message{
				{TNF: TNFWellKnown, Type: []byte("T"), Payload: []byte("\x02en")},
				{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte{0}},
			}},
		{"three records", "91 01 01 55 00  15 00 00  50 00 00",
			Message{
				{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte{0}},
				{TNF: TNFUnknown},
				{TNF: TNFEmpty},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.in)
			got, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%s) error: %v", tc.in, err)
			}
			if !equalMessages(got, tc.want) {
				t.Fatalf("Parse(%s) = %v, want %v", tc.in, got, tc.want)
			}
			// The same message as a Type 4 Tag file, with padding.
			file := append([]byte{byte(len(in) >> 8), byte(len(in))}, in...)
			file = append(file, 0, 0, 0)
			got, err = ParseFile(file)
			if err != nil || !equalMessages(got, tc.want) {
				t.Errorf("ParseFile(%X) = %v, %v, want %v", file, got, err, tc.want)
			}
			// Round trip through the encoder.
			enc, err := got.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary(%v) error: %v", got, err)
			}
			again, err := Parse(enc)
			if err != nil || !equalMessages(again, tc.want) {
				t.Errorf("Parse(MarshalBinary) = %v, %v, want %v", again, err, tc.want)
			}
		})
	}
}

func TestParseAliases(t *testing.T) {
	in := unhex(t, "D9 01 02 01 55 41 0061")
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	in[5] = 'B'
	in[7] = 'z'
	if string(m[0].ID) != "B" || m[0].Payload[1] != 'z' {
		t.Errorf("records do not alias the input: %v", m[0])
	}
	// Capacity is capped, so appending to a field cannot overwrite the
	// bytes after it.
	if cap(m[0].Type) != len(m[0].Type) || cap(m[0].ID) != len(m[0].ID) {
		t.Errorf("field capacity not capped: %v", m[0])
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		file   bool // ParseFile instead of Parse
		in     string
		offset int
		is     error // sentinel wanted, or nil for none
	}{
		{"empty", false, "", 0, ErrNoMessage},
		{"no TYPE_LENGTH", false, "D1", 1, ErrTruncated},
		{"no short PAYLOAD_LENGTH", false, "D1 01", 2, ErrTruncated},
		{"short long PAYLOAD_LENGTH", false, "C1 01 000000", 2, ErrTruncated},
		{"no ID_LENGTH", false, "D9 01 01", 3, ErrTruncated},
		{"type truncated", false, "D1 05 00 55", 3, ErrTruncated},
		{"ID truncated", false, "D9 01 00 03 55 41", 5, ErrTruncated},
		{"payload truncated", false, "D1 01 05 55 04 61", 4, ErrTruncated},
		{"32-bit payload length", false, "C1 01 FFFFFFFF 55 00", 7, ErrTruncated},
		{"first record without MB", false, "51 01 01 55 00", 0, nil},
		{"MB on second record", false, "91 01 01 55 00  D1 01 01 55 00", 5, nil},
		{"no ME", false, "91 01 01 55 00", 5, ErrTruncated},
		{"no ME after two", false, "91 01 01 55 00  11 01 01 55 00", 10, ErrTruncated},
		{"trailing byte", false, "D1 01 01 55 00  00", 5, nil},
		{"record after ME", false, "D1 01 01 55 00  51 01 01 55 00", 5, nil},
		{"CF on first", false, "B1 01 01 55 00", 0, ErrChunked},
		{"CF on second", false, "91 01 01 55 00  31 01 01 55 00", 5, ErrChunked},
		{"TNF Unchanged", false, "D6 00 00", 0, ErrChunked},
		{"TNF Unchanged second", false, "91 01 01 55 00  56 00 00", 5, ErrChunked},
		{"TNF Reserved", false, "D7 00 00", 0, nil},
		{"Empty with type", false, "D0 01 00 55", 1, nil},
		{"Empty with payload", false, "D0 00 01 00", 2, nil},
		{"Empty with long payload", false, "C0 00 00000001 00", 2, nil},
		{"Empty with ID", false, "D8 00 00 01 41", 3, nil},
		{"Unknown with type", false, "D5 01 00 55", 1, nil},

		{"file empty", true, "", 0, ErrTruncated},
		{"file one byte", true, "00", 1, ErrTruncated},
		{"file NLEN 0", true, "0000", 2, ErrNoMessage},
		{"file NLEN 0 padded", true, "0000 D1 01 01 55 00", 2, ErrNoMessage},
		{"file NLEN past end", true, "0005 D1 01 01 55", 0, ErrTruncated},
		{"file NLEN FFFF", true, "FFFF D1 01 01 55 00", 0, ErrTruncated},
		{"file NLEN cuts record", true, "0004 D1 01 01 55 00", 6, ErrTruncated},
		{"file trailing inside NLEN", true, "0006 D1 01 01 55 00 00", 7, nil},
		{"file CF", true, "0005 B1 01 01 55 00", 2, ErrChunked},
		{"file no MB", true, "0005 51 01 01 55 00", 2, nil},
		{"file Empty with type", true, "0004 D0 01 00 55", 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.in)
			var (
				m   Message
				err error
			)
			if tc.file {
				m, err = ParseFile(in)
			} else {
				m, err = Parse(in)
			}
			if err == nil {
				t.Fatalf("parse(%s) = %v, want error", tc.in, m)
			}
			if m != nil {
				t.Errorf("parse(%s) returned %v with error %v, want nil", tc.in, m, err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("parse(%s) error %v (%T), want *SyntaxError", tc.in, err, err)
			}
			if se.Offset != tc.offset {
				t.Errorf("parse(%s) error %q at offset %d, want %d", tc.in, err, se.Offset, tc.offset)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("parse(%s) error %q, want errors.Is %v", tc.in, err, tc.is)
			}
			if tc.is == nil && se.Err != nil {
				t.Errorf("parse(%s) error %q wraps %v, want no sentinel", tc.in, err, se.Err)
			}
			if want := fmt.Sprintf("ndef: offset %d: ", tc.offset); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("parse(%s) error %q, want prefix %q", tc.in, err, want)
			}
		})
	}
}

func TestSyntaxErrorString(t *testing.T) {
	tests := []struct {
		err  *SyntaxError
		want string
	}{
		{&SyntaxError{Offset: 5, Msg: "reserved TNF 0x07"}, "ndef: offset 5: reserved TNF 0x07"},
		{&SyntaxError{Offset: 0, Part: "URI payload", Msg: "x"}, "ndef: URI payload offset 0: x"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestTNFString(t *testing.T) {
	for tnf, want := range map[TNF]string{
		TNFEmpty: "Empty", TNFWellKnown: "WellKnown", TNFMedia: "Media", TNFAbsoluteURI: "AbsoluteURI",
		TNFExternal: "External", TNFUnknown: "Unknown", TNFUnchanged: "Unchanged", TNFReserved: "Reserved",
		TNF(0x09): "TNF(0x9)",
	} {
		if got := tnf.String(); got != want {
			t.Errorf("TNF(%d).String() = %q, want %q", uint8(tnf), got, want)
		}
	}
}

func TestRecordString(t *testing.T) {
	r := Record{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte("\x04a.b")}
	if got, want := r.String(), `{WellKnown type="U" id="" payload=04612E62}`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestMarshalBinary(t *testing.T) {
	u := Record{TNF: TNFWellKnown, Type: []byte("U"), Payload: []byte{0}}
	tests := []struct {
		name string
		m    Message
		want string
	}{
		{"single short", Message{u}, "D1 01 01 55 00"},
		{"empty record", Message{{TNF: TNFEmpty}}, "D0 00 00"},
		{"short at 255", Message{{TNF: TNFUnknown, Payload: make([]byte, 255)}},
			"D5 00 FF" + strings.Repeat("00", 255)},
		{"long at 256", Message{{TNF: TNFUnknown, Payload: make([]byte, 256)}},
			"C5 00 00000100" + strings.Repeat("00", 256)},
		{"ID sets IL", Message{{TNF: TNFMedia, Type: []byte("a/b"), ID: []byte("id"), Payload: []byte{1}}},
			"DA 03 01 02 612F62 6964 01"},
		{"empty ID has no IL", Message{{TNF: TNFMedia, Type: []byte("a/b"), ID: []byte{}}},
			"D2 03 00 612F62"},
		{"two records", Message{u, u}, "91 01 01 55 00  51 01 01 55 00"},
		{"three records", Message{u, u, u}, "91 01 01 55 00  11 01 01 55 00  51 01 01 55 00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary(%v) error: %v", tc.m, err)
			}
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Errorf("MarshalBinary(%v) = %X, want %X", tc.m, got, want)
			}
			prefix := []byte{0xEE}
			app, err := tc.m.AppendBinary(prefix)
			if err != nil || !bytes.Equal(app, append([]byte{0xEE}, got...)) {
				t.Errorf("AppendBinary(EE, %v) = %X, %v, want EE%X", tc.m, app, err, got)
			}
		})
	}
}

func TestMarshalBinaryErrors(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		is   error
	}{
		{"empty message", Message{}, ErrNoMessage},
		{"nil message", nil, ErrNoMessage},
		{"Unchanged", Message{{TNF: TNFUnchanged, Payload: []byte{1}}}, ErrChunked},
		{"Reserved", Message{{TNF: TNFReserved}}, nil},
		{"TNF 8", Message{{TNF: 8, Type: []byte("U")}}, nil},
		{"Empty with payload", Message{{TNF: TNFEmpty, Payload: []byte{1}}}, nil},
		{"Empty with type", Message{{TNF: TNFEmpty, Type: []byte("U")}}, nil},
		{"Empty with ID", Message{{TNF: TNFEmpty, ID: []byte("1")}}, nil},
		{"Unknown with type", Message{{TNF: TNFUnknown, Type: []byte("x")}}, nil},
		{"type too long", Message{{TNF: TNFExternal, Type: make([]byte, 256)}}, nil},
		{"ID too long", Message{{TNF: TNFExternal, Type: []byte("a:b"), ID: make([]byte, 256)}}, nil},
		{"bad second record", Message{NewURIRecord("x"), {TNF: TNFReserved}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte{1, 2}
			got, err := tc.m.AppendBinary(prefix)
			if err == nil {
				t.Fatalf("AppendBinary(%v) = %X, want error", tc.m, got)
			}
			if !bytes.Equal(got, []byte{1, 2}) {
				t.Errorf("AppendBinary(%v) changed b to %X on error", tc.m, got)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("AppendBinary(%v) error %v, want errors.Is %v", tc.m, err, tc.is)
			}
			if _, err := EncodeFile(tc.m); err == nil {
				t.Errorf("EncodeFile(%v) succeeded, want error", tc.m)
			}
		})
	}
}

func TestAppendFile(t *testing.T) {
	m := Message{NewURIRecord("https://a.b")}
	got, err := AppendFile([]byte{0xFF}, m)
	if want := unhex(t, "FF 0008 D1 01 04 55 04 612E62"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AppendFile(FF, %v) = %X, %v, want %X", m, got, err, want)
	}

	// The largest message NLEN can describe, and one byte more.
	for _, tc := range []struct {
		payload int
		ok      bool
	}{
		{65535 - 6, true}, // header, TYPE_LENGTH, 4-byte PAYLOAD_LENGTH
		{65535 - 5, false},
	} {
		m := Message{{TNF: TNFUnknown, Payload: make([]byte, tc.payload)}}
		got, err := AppendFile([]byte{9}, m)
		switch {
		case tc.ok && err != nil:
			t.Errorf("AppendFile(payload %d) error: %v", tc.payload, err)
		case tc.ok && (len(got) != 1+2+65535 || got[1] != 0xFF || got[2] != 0xFF):
			t.Errorf("AppendFile(payload %d) = %d bytes, NLEN %X, want 65538 bytes, NLEN FFFF", tc.payload, len(got), got[1:3])
		case !tc.ok && !errors.Is(err, ErrTooLarge):
			t.Errorf("AppendFile(payload %d) error %v, want ErrTooLarge", tc.payload, err)
		case !tc.ok && !bytes.Equal(got, []byte{9}):
			t.Errorf("AppendFile(payload %d) changed b on error", tc.payload)
		}
	}
}

// typicalFile is a 100-byte NDEF file holding one SUN URL, the kind nfcd
// reads on every tap.
func typicalFile(tb testing.TB) []byte {
	tb.Helper()
	u := "https://sun.example.com/taps?p=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086&shop=4711&x=123456"
	f, err := EncodeFile(Message{NewURIRecord(u)})
	if err != nil {
		tb.Fatal(err)
	}
	if len(f) != 100 {
		tb.Fatalf("typical file is %d bytes, want 100", len(f))
	}
	return f
}

func BenchmarkParseFile(b *testing.B) {
	f := typicalFile(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		if _, err := ParseFile(f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFileFirstURI(b *testing.B) {
	f := typicalFile(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		m, err := ParseFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.FirstURI(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeFile(b *testing.B) {
	m, err := ParseFile(typicalFile(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeFile(m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAllocations pins the tap path: parsing a one-record file allocates
// only the Message slice, and FirstURI only the URI string.
func TestAllocations(t *testing.T) {
	f := typicalFile(t)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ParseFile(f); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("ParseFile allocs = %v, want <= 1", n)
	}
	m, err := ParseFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := m.FirstURI(); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("FirstURI allocs = %v, want <= 1", n)
	}
}
