package ntag424

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/ndef"
	"github.com/nfcd/nfcd/internal/testvectors"
)

// sunURL is the sdm-backend demo URL of AN12196's encrypted-PICCData example
// (vector sdmbackend-enc-picc-demo): UID 04DE5F1EACC040, SDMReadCtr 61.
const sunURL = "https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086"

// AN12196 Table 30: a UID and its originality signature.
const (
	table30UID = "04518DFAA96180"
	table30Sig = "D1940D17CFEDA4BFF80359AB975F9F6514313E8F90C1D3CAAF5941AD744A1CDF9A83F883CAFE0FE95D1939B1B7E47113993324473B785D21"
)

const (
	hexSelectApp  = "00A4040C07D276000085010100"
	hexReadSFI    = "00B0820000"
	hexSelectFile = "00A4000C02E10400"
	hexGetVersion = "9060000000"
	hexNextFrame  = "90AF000000"
	hexReadSig    = "903C0000010000"
	hexGetUID     = "FFCA000000"
	hwNTAG424     = "04040230001105"
	swNTAG424     = "04040201021105"
	prodTable30   = table30UID + "CD65935D402118"
)

// uriFile is the NDEF file of a one-URI-record message.
func uriFile(tb testing.TB, url string) []byte {
	tb.Helper()
	b, err := ndef.EncodeFile(ndef.Message{ndef.NewURIRecord(url)})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// tap is the 2-APDU NDEF read of an NDEF file.
func tap(tb testing.TB, file []byte) []step {
	tb.Helper()
	return []step{ex(tb, hexSelectApp, "9000"), ex(tb, hexReadSFI, fmt.Sprintf("%X9000", file))}
}

// versionSteps answers GetVersion with the three frames.
func versionSteps(tb testing.TB, hw, sw, prod string) []step {
	tb.Helper()
	return []step{ex(tb, hexGetVersion, hw+"91AF"), ex(tb, hexNextFrame, sw+"91AF"), ex(tb, hexNextFrame, prod+"9100")}
}

func concat(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// TestTranscripts replays every golden transcript through ReadTag (and
// ReadNDEF) and checks the APDU count, the outcome and the error's sentinel.
func TestTranscripts(t *testing.T) {
	sunFile := uriFile(t, sunURL)
	for _, tc := range []struct {
		file      string
		opts      ReadOptions
		wantAPDUs int
		wantErr   error  // sentinel; nil: success
		wantStep  string // prefix of the error
		check     func(t *testing.T, r TagRead)
	}{
		{file: "acr1252u-tap-sun.txt", wantAPDUs: 2, check: func(t *testing.T, r TagRead) {
			if r.URL != sunURL || !bytes.Equal(r.NDEF, sunFile) {
				t.Errorf("URL = %q, NDEF = %X; want %q, %X", r.URL, r.NDEF, sunURL, sunFile)
			}
			if r.UID != nil || r.Version != nil || r.Signature != nil || r.Originality != OriginalityUnchecked {
				t.Errorf("default options read UID %X, Version %v, Signature %X, Originality %v", r.UID, r.Version, r.Signature, r.Originality)
			}
		}},
		{file: "acr1252u-readsig.txt", opts: ReadOptions{Originality: true}, wantAPDUs: 6, check: func(t *testing.T, r TagRead) {
			if r.Originality != OriginalityValid || r.OriginalityErr != nil {
				t.Errorf("Originality = %v (%v), want valid", r.Originality, r.OriginalityErr)
			}
			if want := unhex(t, table30UID); !bytes.Equal(r.UID, want) {
				t.Errorf("UID = %X, want %X", r.UID, want)
			}
			if want := unhex(t, table30Sig); !bytes.Equal(r.Signature, want) {
				t.Errorf("Signature = %X, want %X", r.Signature, want)
			}
			if r.Version == nil || !r.Version.IsNTAG424DNA() || r.URL != sunURL {
				t.Errorf("Version = %+v, URL = %q", r.Version, r.URL)
			}
		}},
		{file: "acr1252u-chained.txt", wantAPDUs: 3, check: func(t *testing.T, r TagRead) {
			if len(r.NDEF) != 416 || !strings.HasPrefix(r.URL, "https://sdm.example/long?p00=") || !strings.HasSuffix(r.URL, "p29=XXXXXXXX") {
				t.Errorf("chained read: %d bytes, URL %q", len(r.NDEF), r.URL)
			}
		}},
		{file: "acr1252u-fault-6a82.txt", wantAPDUs: 1, wantErr: ErrFileNotFound, wantStep: "select NDEF application: "},
		{file: "acr1252u-fault-6982.txt", wantAPDUs: 2, wantErr: ErrSecurity, wantStep: "read NDEF file: "},
		{file: "acr1252u-fault-6700.txt", wantAPDUs: 2, wantErr: ErrLength, wantStep: "read NDEF file: "},
		{file: "acr1252u-fault-removed.txt", wantAPDUs: 2, wantErr: ErrCardRemoved, wantStep: "read NDEF file: "},
		{file: "acr1252u-fault-empty.txt", wantAPDUs: 2, wantErr: ErrCardRemoved, wantStep: "read NDEF file: "},
		{file: "acr1252u-fault-short.txt", wantAPDUs: 2, wantErr: ErrShortResponse, wantStep: "read NDEF file: "},
		{file: "acr1252u-fault-nlen.txt", wantAPDUs: 2, wantErr: ErrBadResponse, wantStep: "read NDEF file: "},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c := loadTranscript(t, tc.file)
			r, err := ReadTag(context.Background(), c, tc.opts)
			c.done()
			if r.APDUs != tc.wantAPDUs || len(r.Timings.APDU) != tc.wantAPDUs {
				t.Errorf("ReadTag(%s) sent %d APDUs (%d timings), want %d", tc.file, r.APDUs, len(r.Timings.APDU), tc.wantAPDUs)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadTag(%s) = %v, want success", tc.file, err)
				}
				tc.check(t, r)
			} else {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ReadTag(%s) = %v, want %v", tc.file, err, tc.wantErr)
				}
				if !strings.HasPrefix(err.Error(), tc.wantStep) {
					t.Errorf("ReadTag(%s) error %q does not start with %q", tc.file, err, tc.wantStep)
				}
			}
			if tc.opts.Originality {
				return
			}
			c = loadTranscript(t, tc.file)
			file, n, err := ReadNDEF(context.Background(), c)
			c.done()
			if n != tc.wantAPDUs || !errors.Is(err, tc.wantErr) || (err == nil) != (file != nil) {
				t.Errorf("ReadNDEF(%s) = %d bytes, %d APDUs, %v; want %d APDUs, %v", tc.file, len(file), n, err, tc.wantAPDUs, tc.wantErr)
			}
		})
	}
}

// TestReadTagSUN reads the tap transcript and verifies its SUN message with
// the AN12196 keys, the split of work ReadTag documents.
func TestReadTagSUN(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := loadTranscript(t, "acr1252u-tap-sun.txt")
	c.clock = clock
	r, err := ReadTag(context.Background(), c, ReadOptions{Now: clock.Now})
	c.done()
	if err != nil {
		t.Fatal(err)
	}
	wantT := []time.Duration{120 * time.Microsecond, 310 * time.Microsecond}
	if fmt.Sprint(r.Timings.APDU) != fmt.Sprint(wantT) || r.Timings.Total != 430*time.Microsecond {
		t.Errorf("Timings = %v total %v, want %v total 430µs", r.Timings.APDU, r.Timings.Total, wantT)
	}
	for _, v := range testvectors.Load(t, "sun_enc_picc") {
		if v.ID != "sdmbackend-enc-picc-demo" {
			continue
		}
		if got := testvectors.String(v.Input, "url"); got != r.URL {
			t.Fatalf("vector URL %q, tag URL %q", got, r.URL)
		}
		p, err := vectorProfile(t, v)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Verify(r.URL)
		if err != nil {
			t.Fatalf("Verify(%s) = %v", r.URL, err)
		}
		if got, want := testvectors.Upper(res.UID[:]), testvectors.String(v.Expected, "uid"); got != want {
			t.Errorf("SUN UID = %s, want %s", got, want)
		}
		return
	}
	t.Fatal("vector sdmbackend-enc-picc-demo not found")
}

func TestReadNDEF(t *testing.T) {
	blob := func(nlen, size int) []byte { // NLEN then a counting pattern
		b := make([]byte, size)
		b[0], b[1] = byte(nlen>>8), byte(nlen)
		for i := 2; i < size; i++ {
			b[i] = byte(i)
		}
		return b
	}
	f87 := blob(85, 87)
	f100 := blob(98, 100)
	f300 := blob(298, 300)
	blank := make([]byte, 256)
	trailing := blob(10, 256)
	unplugged := errors.New("reader unplugged")
	for _, tc := range []struct {
		name      string
		steps     []step
		want      []byte
		wantAPDUs int
		wantErr   error
	}{
		{"fallback after 6A82", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "6A82"),
			ex(t, hexSelectFile, "9000"), ex(t, "00B0000000", fmt.Sprintf("%X9000", f100))}, f100, 4, nil},
		{"fallback after 6A86", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "6A86"),
			ex(t, hexSelectFile, "9000"), ex(t, "00B0000000", fmt.Sprintf("%X9000", f100))}, f100, 4, nil},
		{"fallback select fails", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "6A82"),
			ex(t, hexSelectFile, "6A82")}, nil, 3, ErrFileNotFound},
		{"6CXX retried with its Le", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "6C57"),
			ex(t, "00B0820057", fmt.Sprintf("%X9000", f87))}, f87, 3, nil},
		{"6CXX retried once only", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "6C57"),
			ex(t, "00B0820057", "6C57")}, nil, 3, ErrLength},
		{"short reads continue", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X9000", f100[:50])),
			ex(t, "00B0003232", fmt.Sprintf("%X9000", f100[50:]))}, f100, 3, nil},
		{"NLEN split over reads", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "009000"),
			ex(t, "00B0000100", fmt.Sprintf("%X9000", f87[1:]))}, f87, 3, nil},
		{"long file in 256-byte reads", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X9000", f300[:256])),
			ex(t, "00B001002C", fmt.Sprintf("%X9000", f300[256:]))}, f300, 3, nil},
		{"end of file at NLEN", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X6282", f100))}, f100, 2, nil},
		{"blank tag", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X9000", blank))}, []byte{0, 0}, 2, nil},
		{"bytes after NLEN dropped", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X9000", trailing))}, trailing[:12], 2, nil},
		{"first read longer than 256", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X009000", f300[:256]))}, nil, 2, ErrBadResponse},
		{"continuation longer than Le", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X9000", f300[:256])),
			ex(t, "00B001002C", fmt.Sprintf("%X009000", f300[256:]))}, nil, 3, ErrBadResponse},
		{"no progress", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "000A9000"),
			ex(t, "00B000020A", "9000")}, nil, 3, ErrBadResponse},
		{"NLEN beyond 32 KiB", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "FFFF0102039000")}, nil, 2, ErrBadResponse},
		{"end of file before NLEN", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, fmt.Sprintf("%X6282", f100[:60]))}, nil, 2, ErrBadResponse},
		{"select not supported", []step{ex(t, hexSelectApp, "6E00")}, nil, 1, ErrNotSupported},
		{"read status without sentinel", []step{ex(t, hexSelectApp, "9000"), ex(t, hexReadSFI, "6281")}, nil, 2, &StatusError{}},
		{"transport error", []step{ex(t, hexSelectApp, "9000"), {cmd: unhex(t, hexReadSFI), err: unplugged}}, nil, 2, unplugged},
		{"removed during select", []step{{cmd: unhex(t, hexSelectApp), removed: true}}, nil, 1, ErrCardRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, tc.steps...)
			file, n, err := ReadNDEF(context.Background(), c)
			c.done()
			if tc.wantErr != nil {
				var se *StatusError
				if _, isStatus := tc.wantErr.(*StatusError); isStatus && !errors.As(err, &se) || !isStatus && !errors.Is(err, tc.wantErr) {
					t.Errorf("ReadNDEF(%s) = %v, want %v", tc.name, err, tc.wantErr)
				}
				if file != nil {
					t.Errorf("ReadNDEF(%s) returned %X with error", tc.name, file)
				}
			} else {
				if err != nil {
					t.Fatalf("ReadNDEF(%s) = %v", tc.name, err)
				}
				if !bytes.Equal(file, tc.want) {
					t.Errorf("ReadNDEF(%s) = %X, want %X", tc.name, file, tc.want)
				}
			}
			if n != tc.wantAPDUs {
				t.Errorf("ReadNDEF(%s) sent %d APDUs, want %d", tc.name, n, tc.wantAPDUs)
			}
		})
	}
}

func TestReadURL(t *testing.T) {
	text, err := ndef.NewTextRecord("hello", "en")
	if err != nil {
		t.Fatal(err)
	}
	textFile, err := ndef.EncodeFile(ndef.Message{text})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		file    []byte
		want    string
		wantErr error
	}{
		{"SUN URL", uriFile(t, sunURL), sunURL, nil},
		{"text only", textFile, "", ndef.ErrNoURI},
		{"empty message", []byte{0, 0}, "", ndef.ErrNoMessage},
		{"malformed", []byte{0, 3, 0xD1, 0x01, 0x09}, "", &ndef.SyntaxError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, tap(t, tc.file)...)
			got, n, err := ReadURL(context.Background(), c)
			c.done()
			if n != 2 {
				t.Errorf("ReadURL(%s) sent %d APDUs, want 2", tc.name, n)
			}
			var se *ndef.SyntaxError
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("ReadURL(%s) = %v", tc.name, err)
			case tc.wantErr == nil:
			case errors.As(tc.wantErr, &se):
				if !errors.As(err, &se) {
					t.Errorf("ReadURL(%s) = %v, want a *ndef.SyntaxError", tc.name, err)
				}
			case !errors.Is(err, tc.wantErr):
				t.Errorf("ReadURL(%s) = %v, want %v", tc.name, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ReadURL(%s) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

// TestGetVersionAN12196 decodes the three frames of AN12196 Table 13 (an
// NTAG 424 DNA TagTamper, HW subtype 08h).
func TestGetVersionAN12196(t *testing.T) {
	var steps []step
	for _, v := range testvectors.Load(t, "apdu_info") {
		if v.ID != "an12196-t13-getversion" {
			continue
		}
		for _, e := range v.Input["exchanges"].([]any) {
			pair := e.([]any)
			steps = append(steps, ex(t, pair[0].(string), pair[1].(string)))
		}
	}
	if len(steps) != 3 {
		t.Fatalf("an12196-t13-getversion: %d exchanges, want 3", len(steps))
	}
	c := newFakeCard(t, "AN12196 Table 13", steps...)
	v, err := GetVersion(context.Background(), c)
	c.done()
	if err != nil {
		t.Fatal(err)
	}
	want := &Version{
		Hardware:       VersionInfo{0x04, 0x04, 0x08, 0x30, 0x00, 0x11, 0x05},
		Software:       VersionInfo{0x04, 0x04, 0x02, 0x01, 0x01, 0x11, 0x05},
		UID:            unhex(t, "04968CAA5C5E80"),
		BatchNo:        0xCD65935D4,
		FabKey:         0,
		ProductionWeek: 0x21,
		ProductionYear: 0x18,
	}
	if fmt.Sprintf("%+v", v) != fmt.Sprintf("%+v", want) {
		t.Errorf("GetVersion = %+v\nwant %+v", v, want)
	}
	if !v.IsNTAG424DNA() || !v.IsTagTamper() || v.RandomID() {
		t.Errorf("IsNTAG424DNA %v, IsTagTamper %v, RandomID %v; want true, true, false", v.IsNTAG424DNA(), v.IsTagTamper(), v.RandomID())
	}
	if y, w, ok := v.Produced(); y != 2018 || w != 21 || !ok {
		t.Errorf("Produced() = %d, %d, %v; want 2018, 21, true", y, w, ok)
	}
}

func TestGetVersionTranscript(t *testing.T) {
	c := loadTranscript(t, "acr1252u-getversion.txt")
	v, err := GetVersion(context.Background(), c)
	c.done()
	if err != nil {
		t.Fatal(err)
	}
	if !v.IsNTAG424DNA() || v.IsTagTamper() || !bytes.Equal(v.UID, unhex(t, table30UID)) || v.HasFabKeyID {
		t.Errorf("GetVersion = %+v: want a plain NTAG 424 DNA with UID %s", v, table30UID)
	}
}

func TestGetVersionFaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		steps   []step
		wantErr error
	}{
		{"final status on frame 1", []step{ex(t, hexGetVersion, hwNTAG424+"9100")}, ErrBadResponse},
		{"more frames after frame 3", []step{ex(t, hexGetVersion, hwNTAG424+"91AF"), ex(t, hexNextFrame, swNTAG424+"91AF"),
			ex(t, hexNextFrame, prodTable30+"91AF")}, ErrBadResponse},
		{"short hardware frame", versionSteps(t, "040402300011", swNTAG424, prodTable30), ErrBadResponse},
		{"long software frame", versionSteps(t, hwNTAG424, swNTAG424+"00", prodTable30), ErrBadResponse},
		{"short production frame", versionSteps(t, hwNTAG424, swNTAG424, prodTable30[:26]), ErrBadResponse},
		{"long production frame", versionSteps(t, hwNTAG424, swNTAG424, prodTable30+"1F00"), ErrBadResponse},
		{"not a DESFire-family tag", []step{ex(t, hexGetVersion, "6D00")}, ErrNotSupported},
		{"aborted", []step{ex(t, hexGetVersion, hwNTAG424+"91AF"), ex(t, hexNextFrame, "91CA")}, ErrAborted},
		{"removed", []step{ex(t, hexGetVersion, hwNTAG424+"91AF"), ex(t, hexNextFrame, "")}, ErrCardRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, tc.steps...)
			v, err := GetVersion(context.Background(), c)
			c.done()
			if !errors.Is(err, tc.wantErr) || v != nil {
				t.Errorf("GetVersion(%s) = %+v, %v; want nil, %v", tc.name, v, err, tc.wantErr)
			}
		})
	}
}

func TestVersionFabKeyID(t *testing.T) {
	// FabKey 1Fh: low nibble F of byte 11, bit 7 of byte 12; then FabKeyID.
	c := newFakeCard(t, "FabKeyID", versionSteps(t, hwNTAG424, swNTAG424, table30UID+"CD65935D4FA11842")...)
	v, err := GetVersion(context.Background(), c)
	c.done()
	if err != nil {
		t.Fatal(err)
	}
	if v.FabKey != 0x1F || !v.HasFabKeyID || v.FabKeyID != 0x42 || v.ProductionWeek != 0x21 {
		t.Errorf("GetVersion = %+v, want FabKey 1F, FabKeyID 42, week 21", v)
	}
}

func TestIsNTAG424DNA(t *testing.T) {
	for _, tc := range []struct {
		hw          string
		want, want2 bool // IsNTAG424DNA, IsTagTamper
	}{
		{"04040230001105", true, false},
		{"04040830001105", true, true},
		{"04048230001105", true, false}, // standard back modulation
		{"04040130001105", false, false},
		{"04010133001605", false, false}, // DESFire EV1
		{"05040230001105", false, false},
		{"04040231001105", false, false},
	} {
		v := &Version{Hardware: versionInfo(unhex(t, tc.hw))}
		if got, got2 := v.IsNTAG424DNA(), v.IsTagTamper(); got != tc.want || got2 != tc.want2 {
			t.Errorf("hardware %s: IsNTAG424DNA, IsTagTamper = %v, %v; want %v, %v", tc.hw, got, got2, tc.want, tc.want2)
		}
	}
	for _, tc := range []struct {
		week, year byte
		ok         bool
	}{{0x21, 0x18, true}, {0x00, 0x18, false}, {0x54, 0x18, false}, {0x2A, 0x18, false}, {0x21, 0xA0, false}} {
		v := &Version{ProductionWeek: tc.week, ProductionYear: tc.year}
		if _, _, ok := v.Produced(); ok != tc.ok {
			t.Errorf("Produced(week %02X, year %02X) ok = %v, want %v", tc.week, tc.year, ok, tc.ok)
		}
	}
}

// TestReadSig checks AN12196 Table 30's Read_Sig exchange, then refusals.
func TestReadSig(t *testing.T) {
	var rapdu string
	for _, v := range testvectors.Load(t, "apdu_info") {
		if v.ID == "an12196-t30-read-sig" {
			rapdu = testvectors.String(v.Input, "rapdu")
		}
	}
	if rapdu == "" {
		t.Fatal("an12196-t30-read-sig not found")
	}
	for _, tc := range []struct {
		name    string
		rsp     string
		wantErr error
	}{
		{"AN12196 Table 30, 9190", rapdu, nil},
		{"9100", table30Sig + "9100", nil},
		{"authentication required", "91AE", ErrAuth},
		{"55 bytes", table30Sig[2:] + "9190", ErrBadResponse},
		{"ISO success is not a Read_Sig answer", table30Sig + "9000", &StatusError{}},
		{"removed", "", ErrCardRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, ex(t, hexReadSig, tc.rsp))
			sig, err := ReadSig(context.Background(), c)
			c.done()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadSig(%s) = %v", tc.name, err)
				}
				if err := VerifyOriginality(unhex(t, table30UID), sig); err != nil {
					t.Errorf("VerifyOriginality(%s, ReadSig) = %v", table30UID, err)
				}
				return
			}
			var se *StatusError
			if _, isStatus := tc.wantErr.(*StatusError); isStatus && !errors.As(err, &se) || !isStatus && !errors.Is(err, tc.wantErr) || sig != nil {
				t.Errorf("ReadSig(%s) = %X, %v; want nil, %v", tc.name, sig, err, tc.wantErr)
			}
		})
	}
}

func TestGetUID(t *testing.T) {
	for _, tc := range []struct {
		name, rsp string
		want      string
		wantErr   error
	}{
		{"7-byte UID", "041E3C8A2D6B809000", "041E3C8A2D6B80", nil},
		{"random 4-byte ID", "08A1B2C39000", "08A1B2C3", nil},
		{"10-byte UID", "0102030405060708090A9000", "0102030405060708090A", nil},
		{"3 bytes", "0102039000", "", ErrBadResponse},
		{"reader refuses", "6A81", "", &StatusError{}},
		{"short", "63", "", ErrShortResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, ex(t, hexGetUID, tc.rsp))
			uid, err := GetUID(context.Background(), c)
			c.done()
			var se *StatusError
			switch _, isStatus := tc.wantErr.(*StatusError); {
			case tc.wantErr == nil && err != nil, isStatus && !errors.As(err, &se), tc.wantErr != nil && !isStatus && !errors.Is(err, tc.wantErr):
				t.Fatalf("GetUID(%s) = %v, want %v", tc.name, err, tc.wantErr)
			}
			if got := fmt.Sprintf("%X", uid); got != tc.want {
				t.Errorf("GetUID(%s) = %s, want %s", tc.name, got, tc.want)
			}
		})
	}
}

// TestReadTagOriginality covers the outcomes of the originality step, none
// of which fails the tap.
func TestReadTagOriginality(t *testing.T) {
	file := uriFile(t, sunURL)
	sig := unhex(t, table30Sig)
	flipped := fmt.Sprintf("%X", flip(sig, 77))
	for _, tc := range []struct {
		name      string
		steps     []step
		want      OriginalityStatus
		wantErr   error
		wantAPDUs int
		wantUID   string
	}{
		{"valid", concat(tap(t, file), versionSteps(t, hwNTAG424, swNTAG424, prodTable30),
			[]step{ex(t, hexReadSig, table30Sig+"9190")}), OriginalityValid, nil, 6, table30UID},
		{"signature bit flipped", concat(tap(t, file), versionSteps(t, hwNTAG424, swNTAG424, prodTable30),
			[]step{ex(t, hexReadSig, flipped+"9190")}), OriginalityInvalid, ErrNotOriginal, 6, table30UID},
		{"UID of another tag", concat(tap(t, file), versionSteps(t, hwNTAG424, swNTAG424, "04518DFAA96181CD65935D402118"),
			[]step{ex(t, hexReadSig, table30Sig+"9190")}), OriginalityInvalid, ErrNotOriginal, 6, "04518DFAA96181"},
		{"Read_Sig needs authentication", concat(tap(t, file), versionSteps(t, hwNTAG424, swNTAG424, prodTable30),
			[]step{ex(t, hexReadSig, "91AE")}), OriginalityUnavailable, ErrAuth, 6, table30UID},
		{"removed during Read_Sig", concat(tap(t, file), versionSteps(t, hwNTAG424, swNTAG424, prodTable30),
			[]step{{cmd: unhex(t, hexReadSig), removed: true}}), OriginalityUnavailable, ErrCardRemoved, 6, table30UID},
		{"GetVersion not supported", concat(tap(t, file), []step{ex(t, hexGetVersion, "6D00")}),
			OriginalityUnavailable, ErrNotSupported, 3, ""},
		{"DESFire EV1, not NTAG 424", concat(tap(t, file), versionSteps(t, "04010101001805", "04010101001805", prodTable30)),
			OriginalityUnavailable, ErrNotNTAG424, 5, table30UID},
		{"Random ID", concat(tap(t, file), versionSteps(t, hwNTAG424, swNTAG424, "00000000000000CD65935D402118")),
			OriginalityUnavailable, ErrRandomID, 5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, tc.steps...)
			r, err := ReadTag(context.Background(), c, ReadOptions{Originality: true})
			c.done()
			if err != nil {
				t.Fatalf("ReadTag(%s) = %v, want success", tc.name, err)
			}
			if r.Originality != tc.want || !errors.Is(r.OriginalityErr, tc.wantErr) || (tc.wantErr == nil) != (r.OriginalityErr == nil) {
				t.Errorf("ReadTag(%s) Originality = %v (%v), want %v (%v)", tc.name, r.Originality, r.OriginalityErr, tc.want, tc.wantErr)
			}
			if r.APDUs != tc.wantAPDUs {
				t.Errorf("ReadTag(%s) sent %d APDUs, want %d", tc.name, r.APDUs, tc.wantAPDUs)
			}
			if got := fmt.Sprintf("%X", r.UID); got != tc.wantUID {
				t.Errorf("ReadTag(%s) UID = %s, want %s", tc.name, got, tc.wantUID)
			}
			if r.URL != sunURL {
				t.Errorf("ReadTag(%s) URL = %q", tc.name, r.URL)
			}
		})
	}
}

// TestReadTagNeedUID checks when ReadTag sends GET DATA for the UID.
func TestReadTagNeedUID(t *testing.T) {
	plainURL := "https://example.com/product/42"
	plain := uriFile(t, plainURL)
	text, _ := ndef.NewTextRecord("hello", "en")
	textFile, _ := ndef.EncodeFile(ndef.Message{text})
	notSUN := func(url string) bool { return !strings.Contains(url, "cmac=") }
	for _, tc := range []struct {
		name      string
		steps     []step
		opts      ReadOptions
		wantURL   string
		wantUID   string
		wantAPDUs int
		wantErr   error
	}{
		{"plain URL", concat(tap(t, plain), []step{ex(t, hexGetUID, "041E3C8A2D6B809000")}),
			ReadOptions{NeedUID: notSUN}, plainURL, "041E3C8A2D6B80", 3, nil},
		{"SUN URL", tap(t, uriFile(t, sunURL)), ReadOptions{NeedUID: notSUN}, sunURL, "", 2, nil},
		{"no URI record", concat(tap(t, textFile), []step{ex(t, hexGetUID, "041E3C8A2D6B809000")}),
			ReadOptions{NeedUID: notSUN}, "", "041E3C8A2D6B80", 3, nil},
		{"blank tag", concat(tap(t, make([]byte, 256)), []step{ex(t, hexGetUID, "041E3C8A2D6B809000")}),
			ReadOptions{NeedUID: notSUN}, "", "041E3C8A2D6B80", 3, nil},
		{"UID known from GetVersion", concat(tap(t, plain), versionSteps(t, hwNTAG424, swNTAG424, prodTable30),
			[]step{ex(t, hexReadSig, table30Sig+"9190")}), ReadOptions{Originality: true, NeedUID: notSUN}, plainURL, table30UID, 6, nil},
		{"random ID falls back to GET DATA", concat(tap(t, plain), versionSteps(t, hwNTAG424, swNTAG424, "00000000000000CD65935D402118"),
			[]step{ex(t, hexGetUID, "08A1B2C39000")}), ReadOptions{Originality: true, NeedUID: notSUN}, plainURL, "08A1B2C3", 6, nil},
		{"GET DATA refused", concat(tap(t, plain), []step{ex(t, hexGetUID, "6A81")}),
			ReadOptions{NeedUID: notSUN}, plainURL, "", 3, &StatusError{}},
		{"malformed NDEF", tap(t, []byte{0, 3, 0xD1, 0x01, 0x09}), ReadOptions{NeedUID: notSUN}, "", "", 2, &ndef.SyntaxError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCard(t, tc.name, tc.steps...)
			r, err := ReadTag(context.Background(), c, tc.opts)
			c.done()
			switch tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("ReadTag(%s) = %v", tc.name, err)
				}
			case *StatusError:
				var se *StatusError
				if !errors.As(err, &se) {
					t.Fatalf("ReadTag(%s) = %v, want a *StatusError", tc.name, err)
				}
			case *ndef.SyntaxError:
				var se *ndef.SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("ReadTag(%s) = %v, want a *ndef.SyntaxError", tc.name, err)
				}
			}
			if r.URL != tc.wantURL || fmt.Sprintf("%X", r.UID) != tc.wantUID || r.APDUs != tc.wantAPDUs {
				t.Errorf("ReadTag(%s) = URL %q, UID %X, %d APDUs; want %q, %s, %d", tc.name, r.URL, r.UID, r.APDUs, tc.wantURL, tc.wantUID, tc.wantAPDUs)
			}
		})
	}
}

// scriptedCard answers the select with rsps[0], the first read with
// rsps[1] and every later command with rsps[2], at most 8 times in all.
type scriptedCard struct {
	rsps [3][]byte
	n    int
}

func (c *scriptedCard) Transmit(_ context.Context, apdu []byte) ([]byte, error) {
	if len(apdu) < 5 {
		return nil, fmt.Errorf("malformed APDU %X", apdu)
	}
	c.n++
	if c.n > 8 {
		return nil, errors.New("scripted card: too many APDUs")
	}
	return c.rsps[min(c.n-1, 2)], nil
}

// FuzzReadNDEF answers ReadNDEF's APDUs with arbitrary bytes. Invariants: no
// panic; an error comes with no file; a file is exactly NLEN+2 bytes; the
// APDU count matches what the card saw.
func FuzzReadNDEF(f *testing.F) {
	f.Add([]byte{0x90, 0x00}, append(uriFile(f, sunURL), 0x90, 0x00), []byte{0x90, 0x00})
	f.Add([]byte{0x6A, 0x82}, []byte{}, []byte{})
	f.Add([]byte{0x90, 0x00}, []byte{0x6A, 0x82}, []byte{0x00, 0x02, 0xAB, 0xCD, 0x90, 0x00})
	f.Add([]byte{0x90, 0x00}, []byte{0x00, 0x10, 0x01, 0x90, 0x00}, []byte{0x02, 0x03, 0x90, 0x00})
	f.Add([]byte{0x90, 0x00}, []byte{0x6C, 0x05}, []byte{0x00, 0x03, 0x01, 0x02, 0x03, 0x62, 0x82})
	f.Add([]byte{0x90, 0x00}, []byte{0xFF, 0xFF, 0x90, 0x00}, []byte{0x90})
	f.Fuzz(func(t *testing.T, sel, first, rest []byte) {
		c := &scriptedCard{rsps: [3][]byte{sel, first, rest}}
		file, n, err := ReadNDEF(context.Background(), c)
		if n != c.n {
			t.Fatalf("ReadNDEF counted %d APDUs, card saw %d", n, c.n)
		}
		if err != nil {
			if file != nil {
				t.Fatalf("ReadNDEF = %X with error %v", file, err)
			}
			return
		}
		if len(file) < 2 || len(file) != 2+(int(file[0])<<8|int(file[1])) {
			t.Fatalf("ReadNDEF = %X: length does not match NLEN", file)
		}
		if n < 2 {
			t.Fatalf("ReadNDEF succeeded after %d APDUs", n)
		}
	})
}

// benchCard answers the tap's two commands with fixed responses.
type benchCard struct {
	sel, read []byte
	odd       bool
}

func (c *benchCard) Transmit(_ context.Context, apdu []byte) ([]byte, error) {
	c.odd = !c.odd
	if c.odd {
		return c.sel, nil
	}
	return c.read, nil
}

// BenchmarkReadTag measures the package's share of a 2-APDU tap: SELECT,
// READ BINARY, NDEF parse and URL extraction, with a fake card.
func BenchmarkReadTag(b *testing.B) {
	file := uriFile(b, sunURL)
	c := &benchCard{sel: []byte{0x90, 0x00}, read: append(bytes.Clone(file), 0x90, 0x00)}
	ctx := context.Background()
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ReadTag(ctx, c, ReadOptions{})
		if err != nil || r.APDUs != 2 {
			b.Fatal(err, r.APDUs)
		}
	}
}
