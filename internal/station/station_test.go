package station_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/station"
)

type requirements struct {
	UUID     string `json:"uuid"`
	Required []struct {
		UUID       string `json:"uuid"`
		Name       string `json:"name"`
		Key        string `json:"key"`
		OverlayURL string `json:"overlay_url"`
		ExampleURL string `json:"example_url"`
		Uploaded   bool   `json:"uploaded"`
	} `json:"required"`
	Progress legitmark.Progress `json:"progress"`
}

type record struct {
	Reference string `json:"reference"`
	UUID      string `json:"uuid"`
	MicroID   string `json:"micro_id"`
	TagUID    string `json:"tag_uid"`
	Phase     string `json:"phase"`
	State     struct {
		Primary string `json:"primary"`
	} `json:"state"`
}

// noisyJPEG is a photo large enough to need several chunks.
func noisyJPEG(t testing.TB, w, h int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range m.Pix {
		m.Pix[i] = uint8(r.UintN(256))
	}
	var b bytes.Buffer
	must(t, jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}))
	return b.Bytes()
}

func tinyJPEG(t testing.TB) []byte {
	m := image.NewGray(image.Rect(0, 0, 100, 100))
	for i := range m.Pix {
		m.Pix[i] = color.Gray{uint8(i)}.Y
	}
	var b bytes.Buffer
	must(t, jpeg.Encode(&b, m, nil))
	return b.Bytes()
}

// The station flow over the WebSocket API against the fake: taxonomy,
// create for the tapped tag, requirements with proxied guides, a refused
// photo, binary uploads with progress, submit refused until met, submit,
// live status to COMPLETE/APPROVED with a certificate; and no secret or
// presigned URL in any frame or log line.
func TestStationFlow(t *testing.T) {
	r := newRig(t, rigOpts{fake: legitmarktest.Options{AutoAdvance: time.Millisecond}})
	cl := r.dial()

	var tax station.Taxonomy
	cl.result(station.TypeTaxonomy, nil, &tax)
	choice, err := tax.Resolve("handbags", "Tote", "louis vuitton")
	must(t, err)

	var rec record
	cl.result(station.TypeCreate, map[string]any{"category": choice.Category, "type": choice.Type, "brand": choice.Brand}, &rec)
	if !strings.HasPrefix(rec.Reference, "kiosk7-") || len(rec.Reference) != len("kiosk7-")+26 || rec.UUID == "" ||
		rec.TagUID != "04A1B2C3D4E5F6" || rec.Phase != "draft" || rec.State.Primary != "DRAFT" {
		t.Fatalf("sr.create = %+v", rec)
	}
	info, _ := r.fake.SR(rec.UUID)
	if info.ExternalID != rec.Reference {
		t.Errorf("the service got reference %q, want %q", info.ExternalID, rec.Reference)
	}

	var req requirements
	cl.result(station.TypeRequirements, map[string]string{"uuid": rec.UUID}, &req)
	if len(req.Required) != 5 || req.Progress.TotalRequired != 5 {
		t.Fatalf("requirements = %+v", req)
	}
	for _, sd := range req.Required {
		if !strings.HasPrefix(sd.OverlayURL, station.MediaPath) || !strings.HasPrefix(sd.ExampleURL, station.MediaPath) {
			t.Errorf("side %s guides %q %q are not the daemon's", sd.Name, sd.OverlayURL, sd.ExampleURL)
		}
	}
	// The guide is served through the daemon.
	rec2 := httpGet(t, r.st.MediaHandler(), req.Required[0].OverlayURL)
	if rec2.code != 200 || rec2.ct != "image/png" || len(rec2.body) < 100 {
		t.Errorf("overlay = %d %s %d bytes", rec2.code, rec2.ct, len(rec2.body))
	}
	if g := httpGet(t, r.st.MediaHandler(), station.MediaPath+"00112233"); g.code != 404 {
		t.Errorf("unknown guide = %d, want 404", g.code)
	}

	// Submit before any photo: refused with the missing sides.
	e := cl.errorOf(station.TypeSubmit, map[string]string{"uuid": rec.UUID})
	var det struct {
		Missing []struct{ Name string } `json:"missing"`
	}
	json.Unmarshal(e.Details, &det)
	if e.Code != "requirements_not_met" || len(det.Missing) != 5 {
		t.Errorf("early submit = %+v, want requirements_not_met with 5 missing sides", e)
	}

	// A photo that is too small fails with its code; the side stays open.
	front := req.Required[0].UUID
	cl.upload(rec.UUID, front, tinyJPEG(t))
	got := cl.waitUploads(map[string]bool{front: true})
	if got[front].Stage != station.StageFailed || got[front].Code != legitmark.ImageTooSmall {
		t.Errorf("tiny photo ended %+v, want failed image_too_small", got[front])
	}

	// Every required side, one of them several chunks long.
	sides := map[string]bool{}
	for i, sd := range req.Required {
		data := photo(t, i)
		if i == 1 {
			data = noisyJPEG(t, 1000, 900)
			if len(data) < 3*station.ChunkBytes {
				t.Fatalf("noisy photo is only %d bytes", len(data))
			}
		}
		cl.upload(rec.UUID, sd.UUID, data)
		sides[sd.UUID] = true
	}
	done := cl.waitUploads(sides)
	met := false
	for side, p := range done {
		if p.Stage != station.StageDone || p.Total <= 0 || p.Bytes != p.Total {
			t.Errorf("side %s ended %+v", side, p)
		}
		met = met || (p.Progress != nil && p.Progress.Met)
	}
	if !met {
		t.Error("no upload reported progress met")
	}

	cl.result(station.TypeSubmit, map[string]string{"uuid": rec.UUID}, &rec)
	if rec.Phase != "submitted" {
		t.Errorf("submit = %+v", rec)
	}
	var st statusEv
	for !st.Final {
		f := cl.next(station.EventStatus, 30*time.Second)
		json.Unmarshal(f.Payload, &st)
	}
	if !st.Authentic || st.State.Primary != "COMPLETE" || !strings.HasPrefix(st.CertificateURL, "https://") {
		t.Errorf("final status = %+v", st)
	}
	var one statusEv
	cl.result(station.TypeStatus, map[string]string{"uuid": rec.UUID}, &one)
	if !one.Final || !one.Authentic {
		t.Errorf("sr.status = %+v", one)
	}
	var list struct {
		SRs []record `json:"srs"`
	}
	cl.result(station.TypeList, nil, &list)
	if len(list.SRs) != 1 || list.SRs[0].UUID != rec.UUID || list.SRs[0].Phase != "final" {
		t.Errorf("sr.list = %+v", list)
	}
	checkSecrets(t, r, cl)
}

// checkSecrets: neither the API key nor a presigned URL nor an S3
// signature is in any frame the client got or any log line.
func checkSecrets(t *testing.T, r *rig, cl *wsClient) {
	t.Helper()
	bad := []string{legitmarktest.DefaultKey, "X-Amz-Signature", "X-Amz-Credential", "/s3/sr/", "lm_usr_", "leo_"}
	frames := cl.allFrames()
	if len(frames) < 10 {
		t.Fatalf("only %d frames to check", len(frames))
	}
	for _, f := range frames {
		for _, b := range bad {
			if bytes.Contains(f, []byte(b)) {
				t.Errorf("a frame carries %q: %.300s", b, f)
			}
		}
	}
	for _, e := range r.logs.All() {
		line := fmt.Sprintf("%s %v", e.Message, e.ContextMap())
		for _, b := range []string{legitmarktest.DefaultKey, "X-Amz-Signature=", "lm_usr_"} {
			if strings.Contains(line, b) {
				t.Errorf("a log line carries %q: %s", b, line)
			}
		}
	}
}

type httpResult struct {
	code int
	ct   string
	body []byte
}

func httpGet(t *testing.T, h http.Handler, path string) httpResult {
	t.Helper()
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1"+path, nil)
	h.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = 200
	}
	return httpResult{rec.code, rec.header.Get("Content-Type"), rec.body.Bytes()}
}

type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}

var _ io.Writer = (*recorder)(nil)

// Requests the station refuses, each with its code: no authentic tap,
// bad payloads, unknown SRs and sides, too big an upload, chunks that do
// not fit.
func TestStationRefusals(t *testing.T) {
	r := newRig(t, rigOpts{noTapNow: true})
	cl := r.dial()
	create := map[string]any{"category": legitmarktest.CategoryHandbags, "type": legitmarktest.TypeTote}
	if e := cl.errorOf(station.TypeCreate, create); e.Code != station.CodeNoAuthenticTap {
		t.Errorf("create without a tap = %+v", e)
	}
	r.st.NoteTap("04AA", "counterfeit", time.Now())
	if e := cl.errorOf(station.TypeCreate, create); e.Code != station.CodeNoAuthenticTap {
		t.Errorf("create after a counterfeit tap = %+v", e)
	}
	r.st.NoteTap("04BB", "authentic", time.Now().Add(-station.TapWindow-time.Minute))
	if e := cl.errorOf(station.TypeCreate, create); e.Code != station.CodeNoAuthenticTap {
		t.Errorf("create after an old tap = %+v", e)
	}
	r.st.NoteTap("04CC", "authentic", time.Now())
	for name, p := range map[string]any{
		"unknown field": map[string]any{"category": legitmarktest.CategoryHandbags, "type": legitmarktest.TypeTote, "uid": "04"},
		"bad category":  map[string]any{"category": "../x", "type": legitmarktest.TypeTote},
		"no type":       map[string]any{"category": legitmarktest.CategoryHandbags},
	} {
		if e := cl.errorOf(station.TypeCreate, p); e.Code != "bad_request" {
			t.Errorf("%s: %+v", name, e)
		}
	}
	// The service refuses an unknown category: a code, not its text.
	if e := cl.errorOf(station.TypeCreate, map[string]any{"category": "ca000000-0000-4000-8000-00000000dead", "type": legitmarktest.TypeTote}); e.Code != "rejected" || e.Message != station.Message("rejected") {
		t.Errorf("unknown category = %+v", e)
	}
	if e := cl.errorOf(station.TypeRequirements, map[string]string{"uuid": "00000000-0000-4000-8000-000000000000"}); e.Code != "not_found" {
		t.Errorf("requirements of an unknown SR = %+v", e)
	}
	var rec record
	cl.result(station.TypeCreate, create, &rec)
	if rec.TagUID != "04CC" {
		t.Errorf("tag uid %q, want the last authentic tap", rec.TagUID)
	}
	if e := cl.errorOf(station.TypeUploadBegin, map[string]any{"uuid": rec.UUID, "side": "5d000000-0000-4000-8000-000000000001", "size": 10}); e.Code != "unknown_side" {
		t.Errorf("a side of another category = %+v", e)
	}
	front := legitmarktest.SideUUIDs(legitmarktest.CategoryHandbags, true)[0]
	if e := cl.errorOf(station.TypeUploadBegin, map[string]any{"uuid": rec.UUID, "side": front, "size": station.MaxRawImageBytes + 1}); e.Code != station.CodeUploadTooBig {
		t.Errorf("too big = %+v", e)
	}
	var b struct {
		UploadID string `json:"upload_id"`
	}
	cl.result(station.TypeUploadBegin, map[string]any{"uuid": rec.UUID, "side": front, "size": station.ChunkBytes + 10}, &b)
	send := func(seq int, final bool, n int) wsErr {
		id, ch := cl.register()
		cl.write(2, chunkFrame(id, b.UploadID, seq, final, make([]byte, n)))
		f := cl.await(ch, "chunk")
		var e wsErr
		json.Unmarshal(f.Payload, &e)
		if f.Type == "result" {
			e.Code = "ok"
		}
		return e
	}
	for name, tc := range map[string]struct {
		seq   int
		final bool
		n     int
	}{
		"short chunk":     {0, false, 100},
		"seq past end":    {2, true, 10},
		"not final":       {1, false, 10},
		"final too early": {0, true, station.ChunkBytes},
	} {
		if e := send(tc.seq, tc.final, tc.n); e.Code != station.CodeUploadChunk {
			t.Errorf("%s: %+v", name, e)
		}
	}
	if e := send(0, false, station.ChunkBytes); e.Code != "ok" {
		t.Errorf("good chunk: %+v", e)
	}
	id, ch := cl.register()
	cl.write(2, chunkFrame(id, "0123456789abcdef0123456789abcdef", 0, true, []byte("x")))
	if f := cl.await(ch, "chunk"); !strings.Contains(string(f.Payload), station.CodeUploadUnknown) {
		t.Errorf("chunk of an unknown upload = %s", f.Payload)
	}
	// Submitting while a photo is still arriving is refused.
	if e := cl.errorOf(station.TypeSubmit, map[string]string{"uuid": rec.UUID}); e.Code != "requirements_not_met" {
		t.Errorf("submit during an upload = %+v", e)
	}
	// A new photo for the side replaces the unfinished one.
	old := b.UploadID
	cl.result(station.TypeUploadBegin, map[string]any{"uuid": rec.UUID, "side": front, "size": 10}, &b)
	for {
		var p progressEv
		json.Unmarshal(cl.next(station.EventUploadProgress, 5*time.Second).Payload, &p)
		if p.UploadID == old && p.Stage == station.StageFailed {
			if p.Code != station.CodeReplaced {
				t.Errorf("replaced upload ended %+v", p)
			}
			break
		}
	}
	b.UploadID = old
	if e := send(1, true, 10); e.Code != station.CodeUploadUnknown {
		t.Errorf("chunk of the replaced upload: %+v", e)
	}
}

// QC rejects a photo after submit: the status event says so, the side is
// missing again, a new photo and a second submit take the SR to its end.
func TestStationResubmission(t *testing.T) {
	r := newRig(t, rigOpts{spool: t.TempDir()})
	cl := r.dial()
	var rec record
	cl.result(station.TypeCreate, map[string]any{"category": legitmarktest.CategoryHandbags, "type": legitmarktest.TypeTote}, &rec)
	var req requirements
	cl.result(station.TypeRequirements, map[string]string{"uuid": rec.UUID}, &req)
	sides := map[string]bool{}
	for i, sd := range req.Required {
		cl.upload(rec.UUID, sd.UUID, photo(t, i))
		sides[sd.UUID] = true
	}
	cl.waitUploads(sides)
	cl.result(station.TypeSubmit, map[string]string{"uuid": rec.UUID}, &rec)
	rejected := req.Required[2]
	must(t, r.fake.RejectQC(rec.UUID, rejected.UUID))
	var st statusEv
	for !st.NeedsResubmission {
		json.Unmarshal(cl.next(station.EventStatus, 20*time.Second).Payload, &st)
	}
	cl.result(station.TypeRequirements, map[string]string{"uuid": rec.UUID}, &req)
	for _, sd := range req.Required {
		if sd.Uploaded == (sd.UUID == rejected.UUID) {
			t.Errorf("after QC rejection side %s uploaded = %v", sd.Name, sd.Uploaded)
		}
	}
	var list struct {
		SRs []record `json:"srs"`
	}
	cl.result(station.TypeList, map[string]bool{"open": true}, &list)
	if len(list.SRs) != 1 || list.SRs[0].Phase != "resubmit" {
		t.Errorf("open SRs = %+v, want one in phase resubmit", list.SRs)
	}
	cl.upload(rec.UUID, rejected.UUID, photo(t, 99))
	if p := cl.waitUploads(map[string]bool{rejected.UUID: true})[rejected.UUID]; p.Stage != station.StageDone || p.Progress == nil || !p.Progress.Met {
		t.Fatalf("new photo: %+v", p)
	}
	cl.result(station.TypeSubmit, map[string]string{"uuid": rec.UUID}, &rec)
	if rec.Phase != "submitted" {
		t.Fatalf("second submit = %+v", rec)
	}
	for range 6 {
		r.fake.Advance(rec.UUID)
	}
	for !st.Final {
		json.Unmarshal(cl.next(station.EventStatus, 20*time.Second).Payload, &st)
	}
	if !st.Authentic {
		t.Errorf("final status %+v", st)
	}
	if n := r.fake.Count("sr.submit"); n != 2 {
		t.Errorf("%d submits, want 2", n)
	}
}
