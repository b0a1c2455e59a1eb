package vtag

import (
	"bytes"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/ndef"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// h decodes hex, ignoring spaces; it panics on bad test input.
func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// seeded returns a deterministic randomness source.
func seeded(seed byte) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return mrand.NewChaCha8(s)
}

var (
	testKeys = ntag424.Keys{
		FileRead: ntag424.Key(h("5ACE7E50AB65D5D51FD5BF5A16B8205B")),
		MetaRead: ntag424.Key(h("C4F5AB1C48AE5DD8E1B9EBA3F9B1C5C2")),
	}
	testUID = [7]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}
)

// layouts are the personalisations the card is exercised with.
var layouts = []struct {
	name   string
	layout ntag424.Layout
	keys   ntag424.Keys
}{
	{"plain", ntag424.Layout{Mode: ntag424.ModePlain}, testKeys},
	{"plain-tt-uid-window", ntag424.Layout{Mode: ntag424.ModePlain, MACInputStart: "uid", TTParam: true}, testKeys},
	{"enc", ntag424.Layout{Mode: ntag424.ModeEnc, MACInputStart: "picc_data"}, testKeys},
	{"encfile-tt", ntag424.Layout{Mode: ntag424.ModeEncFile, MACInputStart: "picc_data", TTInEnc: true, TTInEncOffset: 4}, testKeys},
	{"lrp-enc", ntag424.Layout{Mode: ntag424.ModeEnc, Crypto: ntag424.CryptoLRP}, testKeys},
	{"lrp-encfile", ntag424.Layout{Mode: ntag424.ModeEncFile, Crypto: ntag424.CryptoLRP, MACInputStart: "enc"}, testKeys},
	{"diversified-enc", ntag424.Layout{Mode: ntag424.ModeEnc, Names: ntag424.Names{PICCData: "p", CMAC: "m"}},
		ntag424.Keys{FileRead: testKeys.FileRead, MetaRead: testKeys.MetaRead, Diversify: true, DivInput: []byte{0x30, 0x42}}},
}

func newCard(t testing.TB, cfg Config) *Card {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = "https://sdm.example/tag"
	}
	if cfg.Layout.Mode == 0 {
		cfg.Layout, cfg.Keys = layouts[0].layout, layouts[0].keys
	}
	if cfg.Rand == nil {
		cfg.Rand = seeded(1)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return c
}

// xfer sends apdu (hex) and requires the status word sw.
func xfer(t testing.TB, c *Card, apdu string, sw uint16) []byte {
	t.Helper()
	rsp := c.Transmit(h(apdu))
	if len(rsp) < 2 {
		t.Fatalf("Transmit(%s) = % X, want status %04X", apdu, rsp, sw)
	}
	if got := uint16(rsp[len(rsp)-2])<<8 | uint16(rsp[len(rsp)-1]); got != sw {
		t.Fatalf("Transmit(%s) = % X, want status %04X", apdu, rsp, sw)
	}
	return rsp[:len(rsp)-2]
}

// Reader styles: how a reader fetches the NDEF file.
const (
	bySFI     = "sfi"     // SELECT app, READ BINARY P1=82 Le=00: 2 APDUs
	byChained = "chained" // SELECT app, SELECT E104, read NLEN, then 59-byte chunks
)

// tapURL presents the card and reads its URL the way style says.
func tapURL(t testing.TB, c *Card, style string) string {
	t.Helper()
	c.Presentation()
	file := readNDEF(t, c, style)
	msg, err := ndef.ParseFile(file)
	if err != nil {
		t.Fatalf("ndef.ParseFile(% X) = %v", file, err)
	}
	url, err := msg.FirstURI()
	if err != nil {
		t.Fatalf("FirstURI() = %v", err)
	}
	return url
}

func readNDEF(t testing.TB, c *Card, style string) []byte {
	t.Helper()
	xfer(t, c, "00A4040C07D276000085010100", swOK)
	if style == bySFI {
		return xfer(t, c, "00B0820000", swOK)
	}
	xfer(t, c, "00A4000C02E104", swOK)
	nlen := xfer(t, c, "00B0000002", swOK)
	n := int(nlen[0])<<8 | int(nlen[1])
	file := bytes.Clone(nlen)
	for off := 2; off < 2+n; {
		chunk := xfer(t, c, hex.EncodeToString([]byte{0x00, 0xB0, byte(off >> 8), byte(off), byte(min(59, 2+n-off))}), swOK)
		if len(chunk) == 0 {
			t.Fatalf("empty chunk at offset %d", off)
		}
		file = append(file, chunk...)
		off += len(chunk)
	}
	return file
}

// TestPlainKAT reproduces a published SUN URL: a tag with UID
// 041E3C8A2D6B80, the zero key and SDMReadCtr 5 mirrors counter 6 on its
// next tap (vector sdmbackend-plain-ctr6, nfc-developer/sdm-backend).
func TestPlainKAT(t *testing.T) {
	var v testvectors.Vector
	for _, x := range testvectors.Load(t, "sun_plain") {
		if x.ID == "sdmbackend-plain-ctr6" {
			v = x
		}
	}
	want := testvectors.String(v.Input, "url")
	if want == "" {
		t.Fatal("vector sdmbackend-plain-ctr6 not found")
	}
	c := newCard(t, Config{UID: testUID, URL: "https://sdm.example/tagpt", Counter: 5,
		Layout: ntag424.Layout{Mode: ntag424.ModePlain}})
	for _, style := range []string{bySFI, byChained} {
		c.ctr = 5
		if got := tapURL(t, c, style); got != want {
			t.Errorf("%s tap URL = %s, want %s", style, got, want)
		}
	}
}

// TestTaps reads the tag like a reader does, for every layout and both
// reader styles, and checks the URL verifies, carries the UID, and that
// the counter moves once per presentation that is read.
func TestTaps(t *testing.T) {
	for _, l := range layouts {
		for _, style := range []string{bySFI, byChained} {
			t.Run(l.name+"/"+style, func(t *testing.T) {
				prof, err := ntag424.NewProfile(l.layout, l.keys)
				if err != nil {
					t.Fatal(err)
				}
				c := newCard(t, Config{UID: testUID, Layout: l.layout, Keys: l.keys, Counter: 41, TT: [2]byte{'O', 'C'}})
				var urls []string
				for tap := 1; tap <= 3; tap++ {
					url := tapURL(t, c, style)
					urls = append(urls, url)
					res, err := prof.Verify(url)
					if err != nil {
						t.Fatalf("tap %d: Verify(%s) = %v", tap, url, err)
					}
					if res.UID != testUID {
						t.Errorf("tap %d: UID = %X, want %X", tap, res.UID, testUID)
					}
					if want := uint32(41 + tap); res.Ctr.Valid && res.Ctr.Value != want {
						t.Errorf("tap %d: ctr = %s, want %d", tap, res.Ctr, want)
					}
					if got, want := c.Counter(), uint32(41+tap); got != want {
						t.Errorf("tap %d: Counter() = %d, want %d", tap, got, want)
					}
					if res.HasTT && res.TT != [2]byte{'O', 'C'} {
						t.Errorf("tap %d: TT = %q, want OC", tap, res.TT)
					}
					if l.layout.Mode == ntag424.ModeEncFile && !bytes.Equal(res.FileData()[:4], defaultFileData[:4]) {
						t.Errorf("tap %d: file data = %q, want x...", tap, res.FileData())
					}
					// Reading again in the same presentation gives the same bytes.
					again := readNDEF(t, c, style)
					if msg, _ := ndef.ParseFile(again); msg == nil {
						t.Fatalf("tap %d: second read unparsable", tap)
					} else if u, _ := msg.FirstURI(); u != url {
						t.Errorf("tap %d: second read URL = %s, want %s", tap, u, url)
					}
				}
				if urls[0] == urls[1] || urls[1] == urls[2] {
					t.Errorf("URLs repeat across taps: %q", urls)
				}
				// A presentation nobody reads does not move the counter.
				c.Presentation()
				xfer(t, c, "FFCA000000", swOK)
				c.Presentation()
				if got := c.Counter(); got != 44 {
					t.Errorf("Counter() after unread presentations = %d, want 44", got)
				}
				if got := c.Taps(); got != 3 {
					t.Errorf("Taps() = %d, want 3", got)
				}
			})
		}
	}
}

// TestDeterministic checks that the injected randomness alone decides the
// URL: same seed, same URLs; another seed, other PICCData.
func TestDeterministic(t *testing.T) {
	for _, l := range layouts[2:] {
		t.Run(l.name, func(t *testing.T) {
			mk := func(seed byte) [2]string {
				c := newCard(t, Config{Layout: l.layout, Keys: l.keys, Rand: seeded(seed)})
				return [2]string{tapURL(t, c, bySFI), tapURL(t, c, bySFI)}
			}
			a, b, other := mk(7), mk(7), mk(8)
			if a != b {
				t.Errorf("same seed: %q != %q", a, b)
			}
			if a == other {
				t.Errorf("different seeds gave the same URLs %q", a)
			}
		})
	}
}

// TestCounterRestarts checks that a warm reset starts a new presentation and
// a power cycle does not (pcscd powers an idle card down and up while it is
// in the field).
func TestCounterRestarts(t *testing.T) {
	c := newCard(t, Config{})
	u1 := tapURL(t, c, bySFI)
	c.PowerOff()
	c.PowerOn()
	xfer(t, c, "00B0820000", swFileNotFound) // back at the PICC level
	if got := readNDEF(t, c, bySFI); !bytes.Contains(got, []byte(u1[len("https://"):])) {
		t.Errorf("read after power cycle = %q, want the URL %s", got, u1)
	}
	c.Reset()
	readNDEF(t, c, bySFI)
	if got := c.Counter(); got != 2 {
		t.Errorf("Counter() after reset and read = %d, want 2", got)
	}
}

func TestReplay(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			c := newCard(t, Config{Layout: l.layout, Keys: l.keys, Replay: true, Counter: 9})
			var u [5]string
			for i := range u {
				u[i] = tapURL(t, c, bySFI)
			}
			if u[0] != u[1] || u[2] != u[3] {
				t.Errorf("replayed taps differ: %q", u)
			}
			if u[1] == u[2] || u[3] == u[4] {
				t.Errorf("fresh tap repeats the replayed one: %q", u)
			}
			if got := c.Counter(); got != 12 {
				t.Errorf("Counter() after 5 taps = %d, want 12 (3 fresh)", got)
			}
			prof, _ := ntag424.NewProfile(l.layout, l.keys)
			for i, url := range u {
				if _, err := prof.Verify(url); err != nil {
					t.Errorf("tap %d: Verify = %v", i+1, err)
				}
			}
		})
	}
}

func TestCounterfeit(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			prof, _ := ntag424.NewProfile(l.layout, l.keys)
			c := newCard(t, Config{Layout: l.layout, Keys: l.keys, Counterfeit: true})
			url := tapURL(t, c, bySFI)
			if _, err := prof.Verify(url); !errors.Is(err, ntag424.ErrBadMAC) {
				t.Errorf("Verify(%s) = %v, want ErrBadMAC", url, err)
			}
		})
	}
}

func TestNoSUN(t *testing.T) {
	c := newCard(t, Config{NoSUN: true, URL: "https://sdm.example/plain", Layout: ntag424.Layout{Mode: 99}})
	for range 2 {
		if url := tapURL(t, c, bySFI); url != "https://sdm.example/plain" {
			t.Errorf("URL = %s, want the bare template", url)
		}
	}
}

func TestCounterExhausted(t *testing.T) {
	c := newCard(t, Config{Counter: maxCtr - 1})
	prof, _ := ntag424.NewProfile(layouts[0].layout, layouts[0].keys)
	res, err := prof.Verify(tapURL(t, c, bySFI))
	if err != nil || res.Ctr != ntag424.CounterOf(maxCtr) {
		t.Fatalf("last tap: ctr %s, %v; want %d", res.Ctr, err, maxCtr)
	}
	c.Presentation()
	xfer(t, c, "00A4040C07D276000085010100", swOK)
	xfer(t, c, "00B0820000", swSecurity)
	if c.Counter() != maxCtr {
		t.Errorf("Counter() = %X, want FFFFFF", c.Counter())
	}
}

func TestFaults(t *testing.T) {
	const sel = "00A4040C07D276000085010100"
	t.Run("6A82", func(t *testing.T) {
		c := newCard(t, Config{Fault: FaultSelect})
		c.Presentation()
		xfer(t, c, sel, swFileNotFound)
		xfer(t, c, "00A4000C02E110", swFileNotFound)
		xfer(t, c, "00B0820000", swFileNotFound)
		xfer(t, c, "00A4000C02E104", swFileNotFound)
	})
	for _, f := range []struct {
		fault Fault
		sw    uint16
	}{{FaultReadRefused, swSecurity}, {FaultWrongLength, swWrongLength}} {
		t.Run(string(f.fault), func(t *testing.T) {
			c := newCard(t, Config{Fault: f.fault})
			c.Presentation()
			xfer(t, c, sel, swOK)
			xfer(t, c, "00B0820000", f.sw)
			xfer(t, c, "00B0000002", f.sw)
			xfer(t, c, "00B0810000", swOK) // the CC file is still readable
			if c.Counter() != 0 {
				t.Errorf("Counter() = %d after refused reads, want 0", c.Counter())
			}
		})
	}
	t.Run("short", func(t *testing.T) {
		c := newCard(t, Config{Fault: FaultShort})
		for _, style := range []string{bySFI, byChained} {
			c.Presentation()
			xfer(t, c, sel, swOK)
			var file []byte
			if style == bySFI {
				file = xfer(t, c, "00B0820000", swOK)
			} else {
				xfer(t, c, "00A4000C02E104", swOK)
				file = xfer(t, c, "00B0000002", swOK)
				for {
					chunk := xfer(t, c, hex.EncodeToString([]byte{0, 0xB0, 0, byte(len(file)), 59}), swOK)
					if len(chunk) == 0 {
						break
					}
					file = append(file, chunk...)
				}
			}
			nlen := int(file[0])<<8 | int(file[1])
			if len(file) >= 2+nlen {
				t.Errorf("%s: read %d bytes, NLEN %d: not short", style, len(file), nlen)
			}
			if _, err := ndef.ParseFile(file); !errors.Is(err, ndef.ErrTruncated) {
				t.Errorf("%s: ParseFile = %v, want ErrTruncated", style, err)
			}
		}
	})
	t.Run("removed", func(t *testing.T) {
		c := newCard(t, Config{Fault: FaultRemoved})
		for _, style := range []string{bySFI, byChained} {
			c.Presentation()
			xfer(t, c, sel, swOK)
			if style == byChained {
				xfer(t, c, "00A4000C02E104", swOK)
				xfer(t, c, "00B0000002", swOK) // NLEN still arrives
				if rsp := c.Transmit(h("00B000023B")); len(rsp) != 0 {
					t.Fatalf("%s: body read = % X, want empty", style, rsp)
				}
			} else if rsp := c.Transmit(h("00B0820000")); len(rsp) != 0 {
				t.Fatalf("%s: read = % X, want empty", style, rsp)
			}
			if rsp := c.Transmit(h("FFCA000000")); len(rsp) != 0 {
				t.Errorf("%s: GET DATA after removal = % X, want empty", style, rsp)
			}
			if atr := c.ATR(); len(atr) != 0 {
				t.Errorf("%s: ATR after removal = % X, want empty", style, atr)
			}
		}
		c.Presentation()
		if got := c.ATR(); !bytes.Equal(got, atr[:]) {
			t.Errorf("ATR after new presentation = % X", got)
		}
		if c.Counter() != 2 {
			t.Errorf("Counter() = %d, want 2 (one per interrupted tap)", c.Counter())
		}
	})
}

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fault
		ok   bool
	}{{"", FaultNone, true}, {"6a82", FaultSelect, true}, {"6982", FaultReadRefused, true}, {"6700", FaultWrongLength, true},
		{"SHORT", FaultShort, true}, {"removed", FaultRemoved, true}, {"9000", "", false}, {"gone", "", false}} {
		got, err := ParseFault(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFault(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("ParseFault(%q) error %v does not wrap ErrConfig", tc.in, err)
		}
	}
}

func TestNewErrors(t *testing.T) {
	long := "https://sdm.example/" + strings.Repeat("a", 200)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no URL", Config{Layout: ntag424.Layout{Mode: ntag424.ModePlain}}},
		{"bad UTF-8", Config{URL: "https://\xff", Layout: ntag424.Layout{Mode: ntag424.ModePlain}}},
		{"counter", Config{URL: "https://a", Counter: 1 << 24, Layout: ntag424.Layout{Mode: ntag424.ModePlain}}},
		{"fault", Config{URL: "https://a", Fault: "boom", Layout: ntag424.Layout{Mode: ntag424.ModePlain}}},
		{"signature", Config{URL: "https://a", Signature: make([]byte, 55), Layout: ntag424.Layout{Mode: ntag424.ModePlain}}},
		{"too long", Config{URL: long, Layout: ntag424.Layout{Mode: ntag424.ModePlain}}},
		{"file data", Config{URL: "https://a", FileData: make([]byte, 15), Layout: ntag424.Layout{Mode: ntag424.ModeEncFile, MACInputStart: "enc"}}},
	} {
		if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%s) = %v, want ErrConfig", tc.name, err)
		}
	}
	var fe *ntag424.FormatError
	if _, err := New(Config{URL: "https://a", Layout: ntag424.Layout{Mode: ntag424.ModePlain, TTParam: true}}); !errors.As(err, &fe) {
		t.Errorf("New(TT outside MAC window) = %v, want *ntag424.FormatError", err)
	}
	if _, err := New(Config{URL: "https://a", Layout: ntag424.Layout{Mode: ntag424.ModePlain}, Rand: errReader{}}); err != nil {
		t.Errorf("New must not read Rand: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestRandFailure(t *testing.T) {
	c := newCard(t, Config{Layout: layouts[2].layout, Keys: layouts[2].keys, Rand: errReader{}})
	c.Presentation()
	xfer(t, c, "00A4040C07D276000085010100", swOK)
	xfer(t, c, "00B0820000", swMemoryFailure)
	if c.Counter() != 0 {
		t.Errorf("Counter() = %d after a failed mirror, want 0", c.Counter())
	}
}

func TestGetData(t *testing.T) {
	c := newCard(t, Config{UID: testUID})
	if got := c.ATR(); !bytes.Equal(got, h("3B8180018080")) {
		t.Errorf("ATR() = % X, want 3B 81 80 01 80 80", got)
	}
	for _, tc := range []struct {
		apdu string
		data string
		sw   uint16
	}{
		{"FFCA000000", "041E3C8A2D6B80", swOK},
		{"FFCA0000", "041E3C8A2D6B80", swOK},
		{"FFCA000007", "041E3C8A2D6B80", swOK},
		{"FFCA00000A", "041E3C8A2D6B80", swEndOfData},
		{"FFCA000004", "", swWrongLe | 7},
		{"FFCA010000", "80", swOK},
		{"FFCA020000", "", swWrongParams},
		{"FFCA000100", "", swWrongParams},
		{"FF00000000", "", swINSNotSupp},
	} {
		if got := xfer(t, c, tc.apdu, tc.sw); !bytes.Equal(got, h(tc.data)) {
			t.Errorf("Transmit(%s) data = % X, want %s", tc.apdu, got, tc.data)
		}
	}
}

// TestVectors replays the AN12196 ISO exchanges of the shared vectors.
func TestVectors(t *testing.T) {
	c := newCard(t, Config{})
	c.Presentation()
	byID := map[string]testvectors.Vector{}
	for _, v := range testvectors.Load(t, "apdu_info") {
		byID[v.ID] = v
	}
	for _, id := range []string{"an12196-t11-select-ndef-app", "an12196-t21-select-e105"} {
		v, ok := byID[id]
		if !ok {
			t.Fatalf("vector %s missing", id)
		}
		capdu, rapdu := testvectors.Hex(t, v.Input, "capdu"), testvectors.Hex(t, v.Input, "rapdu")
		if got := c.Transmit(capdu); !bytes.Equal(got, rapdu) {
			t.Errorf("%s: Transmit(% X) = % X, want % X", id, capdu, got, rapdu)
		}
	}
	// Read_Sig (Table 30): the same signature for the same UID. AN12196
	// prints status 9190; the card answers 9100, the status the data sheet
	// gives for every successful native command.
	v := byID["an12196-t30-read-sig"]
	capdu, rapdu := testvectors.Hex(t, v.Input, "capdu"), testvectors.Hex(t, v.Input, "rapdu")
	got := xfer(t, c, hex.EncodeToString(capdu), swNativeOK)
	if want := rapdu[:len(rapdu)-2]; !bytes.Equal(got, want) {
		t.Errorf("Read_Sig = % X, want % X", got, want)
	}
}

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  []string // hex APDU / expected status pairs
	}{
		{"app by name, P2 00", []string{"00A4040007D276000085010100", "9000"}},
		{"app by name, no Le", []string{"00A4040C07D2760000850101", "9000"}},
		{"file before app", []string{"00A4000C02E104", "6A82", "00A4020C02E103", "6A82"}},
		{"files after app", []string{"00A4040C07D2760000850101", "9000", "00A4000C02E103", "9000", "00A4020C02E104", "9000", "00A4000C02E105", "9000"}},
		{"app by FID", []string{"00A4000C02E110", "9000", "00A4000C02E104", "9000", "00A4010C02E110", "9000"}},
		{"unknown AID keeps app", []string{"00A4040C07D2760000850101", "9000", "00A4040C07A000000003101000", "6A82", "00A4000C02E104", "9000"}},
		{"PICC name leaves app", []string{"00A4040C07D2760000850101", "9000", "00A4040C07D2760000850100", "9000", "00A4000C02E104", "6A82"}},
		{"MF by FID and empty", []string{"00A4040C07D2760000850101", "9000", "00A4000C023F00", "9000", "00A4000C02E104", "6A82", "00A4000C", "9000"}},
		{"parent", []string{"00A4040C07D2760000850101", "9000", "00A4030C", "9000", "00A4000C02E104", "6A82"}},
		{"unknown file", []string{"00A4040C07D2760000850101", "9000", "00A4000C02E106", "6A82", "00A4010C02E104", "6A82"}},
		{"bad P1 P2", []string{"00A4050C02E104", "6A86", "00A4000402E104", "6A86"}},
		{"bad Lc", []string{"00A4000C03E10400", "6A87", "00A4020C", "6A87", "00A4040C11D276000085010100000000000000000000", "6700", "00A4030C01E1", "6A87"}},
		{"length mismatch", []string{"00A4040C08D2760000850101", "6700", "00A4040C00", "6700"}},
		{"wrong CLA", []string{"80A4040C07D2760000850101", "6E00", "00A5000000", "6D00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCard(t, Config{})
			c.Presentation()
			runSeq(t, c, tc.seq)
		})
	}
}

func runSeq(t *testing.T, c *Card, seq []string) {
	t.Helper()
	for i := 0; i+1 < len(seq); i += 2 {
		sw := h(seq[i+1])
		xfer(t, c, seq[i], uint16(sw[0])<<8|uint16(sw[1]))
	}
}

// TestReadBinary pins the short file identifier semantics: the SFI is the
// file number (NDEF file 02, so P1 = 82), as on the real tag.
func TestReadBinary(t *testing.T) {
	const app = "00A4040C07D2760000850101"
	c := newCard(t, Config{})
	cc := h("001720010000FF0406E10401000000 0506E10500808283 000000000000000000")
	for _, tc := range []struct {
		name string
		seq  []string
		data string // expected data of the last exchange, "" = don't care
	}{
		{"CC by SFI 01", []string{app, "9000", "00B0810000", "9000"}, hex.EncodeToString(cc)},
		{"CC selected", []string{app, "9000", "00A4000C02E103", "9000", "00B0000005", "9000"}, "0017200100"},
		{"SFI 04 is not the NDEF file", []string{app, "9000", "00B0840000", "6A82"}, ""},
		{"SFI 05 and 1E", []string{app, "9000", "00B0850000", "6A82", "00B09E0000", "6A82"}, ""},
		{"SFI 1F and RFU bits", []string{app, "9000", "00B09F0000", "6A86", "00B0A20000", "6A86", "00B0C20000", "6A86"}, ""},
		{"proprietary file needs key 2", []string{app, "9000", "00B0830000", "6982", "00A4000C02E105", "9000", "00B0000010", "6982"}, ""},
		{"SFI at PICC level", []string{"00B0820000", "6A82"}, ""},
		{"no file selected", []string{app, "9000", "00B0000000", "6985", "00B0800000", "6985"}, ""},
		{"SFI selects the file", []string{app, "9000", "00B0810001", "9000", "00B0000102", "9000"}, "1720"},
		{"SFI 00 is the current file", []string{app, "9000", "00A4000C02E103", "9000", "00B0800302", "9000"}, "0100"},
		{"NDEF tail", []string{app, "9000", "00B082FA00", "9000"}, "000000000000"},
		{"NDEF past end", []string{app, "9000", "00A4000C02E104", "9000", "00B0010000", "6A86", "00B00FFF01", "6A86"}, ""},
		{"CC past end", []string{app, "9000", "00B0812000", "6A86"}, ""},
		{"no Le", []string{app, "9000", "00B08200", "6700"}, ""},
		{"with data", []string{app, "9000", "00B082000100", "6700", "00B08200010000", "6700"}, ""},
		{"extended Le", []string{app, "9000", "00B0820000FFFF", "6700"}, ""},
		{"wrong CLA", []string{app, "9000", "90B0820000", "911C", "10B0820000", "6E00"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Presentation()
			runSeq(t, c, tc.seq[:len(tc.seq)-2])
			last := tc.seq[len(tc.seq)-2:]
			sw := h(last[1])
			got := xfer(t, c, last[0], uint16(sw[0])<<8|uint16(sw[1]))
			if tc.data != "" && !bytes.Equal(got, h(tc.data)) {
				t.Errorf("Transmit(%s) data = % X, want %s", last[0], got, tc.data)
			}
		})
	}
	// Le limits the answer; Le 00 is the whole 256-byte file.
	c.Presentation()
	xfer(t, c, app, swOK)
	if got := xfer(t, c, "00B0820000", swOK); len(got) != ndefSize {
		t.Errorf("Le=00 read %d bytes, want %d", len(got), ndefSize)
	}
	if got := xfer(t, c, "00B0820010", swOK); len(got) != 16 {
		t.Errorf("Le=10 read %d bytes, want 16", len(got))
	}
}

func TestGetVersion(t *testing.T) {
	c := newCard(t, Config{UID: testUID})
	c.Presentation()
	if got := xfer(t, c, "9060000000", swNativeMore); !bytes.Equal(got, h("04040230001105")) {
		t.Errorf("frame 1 = % X", got)
	}
	if got := xfer(t, c, "90AF000000", swNativeMore); !bytes.Equal(got, h("04040201021105")) {
		t.Errorf("frame 2 = % X", got)
	}
	got := xfer(t, c, "90AF000000", swNativeOK)
	if len(got) != 14 || !bytes.Equal(got[:7], testUID[:]) {
		t.Errorf("frame 3 = % X, want UID then 7 bytes of production data", got)
	}
	// Frame counts and shapes match the AN12196 Table 13 exchange.
	for _, v := range testvectors.Load(t, "apdu_info") {
		if v.ID != "an12196-t13-getversion" {
			continue
		}
		ex, _ := v.Input["exchanges"].([]any)
		if len(ex) != 3 {
			t.Fatalf("t13: %d exchanges", len(ex))
		}
		c.Presentation()
		for i, e := range ex {
			pair := e.([]any)
			want := h(pair[1].(string))
			got := c.Transmit(h(pair[0].(string)))
			if len(got) != len(want) || !bytes.Equal(got[len(got)-2:], want[len(want)-2:]) {
				t.Errorf("t13 exchange %d: % X, want the shape of % X", i+1, got, want)
			}
		}
	}
	runSeq(t, c, []string{
		"90AF000000", "911C", // nothing pending
		"9060000000", "91AF", "00A4040C07D2760000850101", "6985", "90AF000000", "911C", // ISO aborts
		"9060000000", "91AF", "903C0000010000", "91CA", "90AF000000", "911C", // native aborts
		"9060000000", "91AF", "FFCA000000", "9000", "90AF000000", "91AF", // the reader answers GET DATA
		"90AF00000100", "917E", // a frame with data
		"906000000100", "917E", "9060010000", "6A86",
	})
}

func TestReadSig(t *testing.T) {
	c := newCard(t, Config{})
	sig := xfer(t, c, "903C0000010000", swNativeOK)
	if uid := c.UID(); ntag424.VerifyOriginality(uid[:], sig) != nil {
		t.Errorf("default tag signature does not verify: % X", sig)
	}
	other := newCard(t, Config{UID: testUID})
	sig = xfer(t, other, "903C00000100", swNativeOK)
	if !bytes.Equal(sig, make([]byte, 56)) {
		t.Errorf("Read_Sig for another UID = % X, want zeros", sig)
	}
	if err := ntag424.VerifyOriginality(testUID[:], sig); !errors.Is(err, ntag424.ErrNotOriginal) {
		t.Errorf("VerifyOriginality(zeros) = %v, want ErrNotOriginal", err)
	}
	// A tag with its own genuine pair (icedevml/nfc-ev2-crypto test_ecc.py).
	uid, realSig := h("047728824D6580"), h("9C7068636A285FEBA1E2406654009DCE6E8A9C9CE318BE0262ED162519B970B32FB802858420D667D12CEBCD32BB4BC8AFE21C753A5A6C26")
	real := newCard(t, Config{UID: [7]byte(uid), Signature: realSig})
	if got := xfer(t, real, "903C0000010000", swNativeOK); ntag424.VerifyOriginality(uid, got) != nil {
		t.Errorf("configured signature does not verify")
	}
	runSeq(t, c, []string{"903C0000010100", "919E", "903C000000", "917E", "903C000002000000", "917E", "9051000000", "91AE", "90F5000000", "917E", "90FA000000", "911C"})
}

// TestMalformed sends APDUs no reader should send; each gets an ISO error.
func TestMalformed(t *testing.T) {
	c := newCard(t, Config{})
	for _, apdu := range []string{"", "00", "00A4", "00A404", "00A4040C0AD2", "00B0820000FF", "00A4040C00000000", "906000000300 00"} {
		rsp := c.Transmit(h(apdu))
		if !bytes.Equal(rsp, status(swWrongLength)) {
			t.Errorf("Transmit(%q) = % X, want 67 00", apdu, rsp)
		}
	}
}
