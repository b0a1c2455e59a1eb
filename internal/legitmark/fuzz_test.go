package legitmark

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// FuzzStrip drives the metadata strippers and the Exif reader directly, on
// structures that need not decode as images: no panic, and a success is a
// fixed point (stripping again changes nothing).
func FuzzStrip(f *testing.F) {
	f.Add(withSegment(testJPEG(f, 8, 8, false), exifSegment(6)))
	f.Add(testPNG(f, 4, 4, false, true))
	f.Add(exifSegment(3)[10:])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = exifOrientation(data)
		if out, _, _, err := stripJPEG(data); err == nil {
			again, _, removed, err := stripJPEG(out)
			if err != nil || removed || !bytes.Equal(again, out) {
				t.Fatalf("stripJPEG is not idempotent (err %v removed %v)", err, removed)
			}
		}
		if out, _, _, err := stripPNG(data); err == nil {
			again, _, removed, err := stripPNG(out)
			if err != nil || removed || !bytes.Equal(again, out) {
				t.Fatalf("stripPNG is not idempotent (err %v removed %v)", err, removed)
			}
		}
	})
}

// FuzzDecodeResponses feeds arbitrary bodies to the response decoders and
// the error decoder: no panic, and an API error always has its status and a
// message.
func FuzzDecodeResponses(f *testing.F) {
	f.Add([]byte(`{"success":true,"sr":{"uuid":"u","micro_id":1,"state":{"primary":"QC","supplement":null},"item":{"type":"undefined","types":{"uuid":"t"}},"sides":{"required":[{"uuid":"s","media_url":["x"]}]}}}`))
	f.Add([]byte(`{"success":false,"error":{"code":400,"message":"Validation failed","errors":[{"code":"c","message":"m"}],"details":"d"}}`))
	f.Add([]byte(`{"errors":{"cmac":["has expired"]},"error":"x"}`))
	f.Add([]byte(`{"message":"ok","category":"SUCCESS","data":{"categories":[{"uuid":"c","children":[{"uuid":"d"}]}]}}`))
	f.Add([]byte(`<html>502</html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var sr srResponse
		if json.Unmarshal(body, &sr) == nil {
			_, _ = sr.sr("fuzz")
		}
		var tl taxonomyList
		if json.Unmarshal(body, &tl) == nil {
			_, _ = list[Category](tl.Data, "categories")
		}
		_, _ = list[Service](body, "data", "services")
		var pr ProgressReport
		_ = json.Unmarshal(body, &pr)
		cl := &Client{now: fixedNow}
		ae := cl.apiError("fuzz", &http.Response{StatusCode: 418, Header: http.Header{}}, body)
		if ae.Status != 418 || ae.Message == "" {
			t.Fatalf("apiError = %+v", ae)
		}
		_ = ae.Error()
	})
}

func fixedNow() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
