package tap

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
)

// referenceWatchJSON is the `nfcd watch --json` object as encoding/json
// writes it from the contract's field list: AppendWatchJSON must write
// the same bytes.
func referenceWatchJSON(t testing.TB, e Event) []byte {
	var v any
	if e.Kind == event.TagRead {
		r := e.Read
		v = struct {
			Type      string          `json:"type"`
			Reader    string          `json:"reader"`
			UID       string          `json:"uid"`
			Ctr       ntag424.Counter `json:"ctr"`
			URL       string          `json:"url"`
			Verdict   string          `json:"verdict"`
			Reason    string          `json:"reason"`
			Detail    string          `json:"detail,omitempty"`
			Profile   string          `json:"profile,omitempty"`
			APDUs     int             `json:"apdus"`
			ElapsedMS float64         `json:"elapsed_ms"`
		}{e.Kind.WatchName(), e.Reader, r.UIDHex(), r.Ctr(), r.URL, r.Verdict, r.Reason, r.Detail, r.Profile, r.APDUs, ms(r.Elapsed)}
	} else {
		o := struct {
			Type   string         `json:"type"`
			Reader string         `json:"reader,omitempty"`
			ATR    string         `json:"atr,omitempty"`
			Code   event.Code     `json:"code,omitempty"`
			Error  string         `json:"error,omitempty"`
			State  reader.Service `json:"state,omitempty"`
		}{Type: e.Kind.WatchName(), Reader: e.Reader}
		switch e.Kind {
		case event.CardPresent:
			o.ATR = ntag424.Hex(e.ATR)
		case event.Error:
			o.Code = e.Code
			if e.Err != nil {
				o.Error = e.Err.Error()
			}
		case event.ServiceChanged:
			o.State = e.Service
		}
		v = o
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func tagEvent(readerName, url, verdict, reason, detail, prof string, ctr ntag424.Counter, apdus int, elapsed time.Duration) Event {
	rd := &Read{URL: url, APDUs: apdus, Elapsed: elapsed, UID: []byte{0x04, 0xDE, 0x5F, 0x1E, 0xAC, 0xC0, 0x40}}
	rd.Outcome = profile.Outcome{Profile: prof, Verdict: verdict, Reason: reason, Detail: detail}
	rd.Result.Ctr = ctr
	return Event{Kind: event.TagRead, Reader: readerName, Read: rd}
}

func TestAppendWatchJSON(t *testing.T) {
	events := []Event{
		tagEvent("ACS ACR122U 00 00", "https://sdm.example/?e=ABC&c=12", "authentic", "ok", "", "shop", ntag424.Counter{Value: 61, Valid: true}, 2, 1234567*time.Nanosecond),
		tagEvent("r <&> \"q\" \\ \x01\x1f\t\n\r\b\f", "https://x/\u2028\u2029é\xff\xfe", "counterfeit", "bad_mac", "uid: want 14 hex digits, got 13", "", ntag424.Counter{}, 3, 0),
		tagEvent("", "", "", "", "", "p", ntag424.Counter{Value: 1<<32 - 1, Valid: true}, 0, 90*time.Second),
		{Kind: event.CardPresent, Reader: "R", ATR: []byte{0x3B, 0x81, 0x80}},
		{Kind: event.CardPresent, Reader: "R"},
		{Kind: event.CardRemoved, Reader: "R"},
		{Kind: event.ReaderAdded, Reader: "Ü\x00"},
		{Kind: event.Error, Reader: "R", Code: event.CodeReadFailed, Err: errors.New("select NDEF application: <6A82>")},
		{Kind: event.Error, Code: event.CodeReaderFailed},
		{Kind: event.ServiceChanged, Service: reader.ServiceDown},
	}
	for _, e := range events {
		want := referenceWatchJSON(t, e)
		if got := e.AppendWatchJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendWatchJSON:\n got %s\nwant %s", got, want)
		}
		if got, _ := e.MarshalJSON(); !bytes.Equal(got, want) {
			t.Errorf("MarshalJSON:\n got %s\nwant %s", got, want)
		}
		if !json.Valid(e.AppendWatchJSON([]byte("x"))[1:]) {
			t.Errorf("not valid JSON: %s", e.AppendWatchJSON(nil))
		}
	}
}

func FuzzAppendWatchJSON(f *testing.F) {
	f.Add("ACS ACR122U", "https://sdm.example/?e=AB", "authentic", "ok", "", "p", uint32(5), true, 2, int64(1234567))
	f.Add("\u2028<>&", "\xff\x00\"\\", "malformed", "bad_url", "d\n", "", uint32(0), false, -1, int64(-5))
	f.Fuzz(func(t *testing.T, rd, url, verdict, reason, detail, prof string, ctr uint32, valid bool, apdus int, elapsed int64) {
		e := tagEvent(rd, url, verdict, reason, detail, prof, ntag424.Counter{Value: ctr, Valid: valid}, apdus, time.Duration(elapsed))
		if got, want := e.AppendWatchJSON(nil), referenceWatchJSON(t, e); !bytes.Equal(got, want) {
			t.Fatalf("AppendWatchJSON:\n got %s\nwant %s", got, want)
		}
		o := Event{Kind: event.Error, Reader: rd, Code: event.Code(reason), Err: errors.New(url)}
		if got, want := o.AppendWatchJSON(nil), referenceWatchJSON(t, o); !bytes.Equal(got, want) {
			t.Fatalf("AppendWatchJSON:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkAppendWatchJSON(b *testing.B) {
	e := tagEvent("ACS ACR122U PICC Interface 00 00", "https://sdm.example/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086", "authentic", "ok", "", "shop", ntag424.Counter{Value: 61, Valid: true}, 2, 1234567*time.Nanosecond)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendWatchJSON(buf[:0])
	}
}
