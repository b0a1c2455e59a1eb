package legitmark_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

func sideImages(t testing.TB, names []string, offset int) []legitmark.SideImage {
	var out []legitmark.SideImage
	for i, n := range names {
		out = append(out, legitmark.SideImage{Side: legitmark.SideKey(n), Data: variantJPEG(t, offset+i)})
	}
	return out
}

// progressLog checks the progress reports of an Upload: per side, bytes
// never go backwards within an attempt, never exceed the total, and one
// Done report ends it.
type progressLog struct {
	mu     sync.Mutex
	events []legitmark.UploadProgress
}

func (p *progressLog) add(e legitmark.UploadProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

func (p *progressLog) check(t *testing.T) (done map[string]legitmark.UploadProgress) {
	t.Helper()
	done = map[string]legitmark.UploadProgress{}
	last := map[string]int64{}
	for _, e := range p.events {
		if _, ok := done[e.SideName]; ok {
			t.Errorf("report for %s after its Done", e.SideName)
		}
		if e.Total > 0 && e.Bytes > e.Total {
			t.Errorf("%s: %d of %d bytes", e.SideName, e.Bytes, e.Total)
		}
		if e.Done {
			done[e.SideName] = e
			continue
		}
		if e.Bytes < last[e.SideName] && e.Bytes != 0 {
			t.Errorf("%s: progress went back from %d to %d", e.SideName, last[e.SideName], e.Bytes)
		}
		last[e.SideName] = e.Bytes
	}
	return done
}

// The station flow end to end, with the state machine walked by the fake:
// create → requirements → partial upload → submit refused with the missing
// sides → rest uploaded (finished sides skipped) → submit → poll through QC,
// UNDERWAY to COMPLETE/APPROVED.
func TestStationFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{AutoAdvance: 2 * time.Minute})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		w := legitmark.NewWorkflow(c, &legitmark.MemJournal{}, nil)
		ctx := t.Context()

		rec, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk42-01J9ZQ", TagUID: "04A1B2C3D4E5F6",
			Category: legitmarktest.CategoryHandbags, Type: legitmarktest.TypeTote, Brand: legitmarktest.BrandLV})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Phase != legitmark.PhaseDraft || rec.TagUID != "04A1B2C3D4E5F6" || rec.MicroID == "" {
			t.Fatalf("record after create = %+v", rec)
		}
		again, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk42-01J9ZQ", Category: legitmarktest.CategoryHandbags, Type: legitmarktest.TypeTote})
		if err != nil || again.UUID != rec.UUID || len(f.SRs()) != 1 {
			t.Errorf("repeated Create = %v, %v; SRs %d; want the same SR", again, err, len(f.SRs()))
		}

		req, err := w.Requirements(ctx, rec.UUID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range req.Required {
			names = append(names, s.Name)
			if s.OverlayImage == "" || s.ExampleImage == "" {
				t.Errorf("side %s has no template images", s.Name)
			}
		}
		if want := []string{"Front", "Back", "Bottom", "Date Code", "Hardware"}; !slices.Equal(names, want) {
			t.Fatalf("required sides %v, want %v", names, want)
		}

		var pl progressLog
		first := sideImages(t, names[:3], 0)
		res, err := w.Upload(ctx, rec.UUID, first, pl.add)
		if err != nil || len(res.Uploaded) != 3 || res.Progress.CurrentRequired != 3 || res.Progress.Met {
			t.Fatalf("Upload(3 sides) = %+v, %v", res, err)
		}
		for name, d := range pl.check(t) {
			if d.Err != nil || d.Bytes != d.Total || d.Total == 0 {
				t.Errorf("%s done = %+v", name, d)
			}
		}

		_, err = w.Submit(ctx, rec.UUID)
		var nm *legitmark.NotMetError
		if !errors.As(err, &nm) || !errors.Is(err, legitmark.ErrNotMet) {
			t.Fatalf("Submit before met = %v, want *NotMetError", err)
		}
		var missing []string
		for _, s := range nm.Missing {
			missing = append(missing, s.Name)
		}
		if !slices.Equal(missing, []string{"Date Code", "Hardware"}) || f.Count("sr.submit") != 0 {
			t.Errorf("missing %v (submits sent: %d), want Date Code, Hardware and no submit", missing, f.Count("sr.submit"))
		}

		all := append(first, sideImages(t, names[3:], 3)...)
		putsBefore := f.Count("s3.put")
		res, err = w.Upload(ctx, rec.UUID, all, nil)
		if err != nil || len(res.Skipped) != 3 || len(res.Uploaded) != 2 || !res.Progress.Met {
			t.Fatalf("Upload(all) = %+v, %v; want 3 skipped, 2 uploaded, met", res, err)
		}
		if n := f.Count("s3.put") - putsBefore; n != 2 {
			t.Errorf("PUTs for the second upload = %d, want 2", n)
		}

		rec, err = w.Submit(ctx, rec.UUID)
		if err != nil || rec.Phase != legitmark.PhaseSubmitted {
			t.Fatalf("Submit = %+v, %v", rec, err)
		}
		var seen []legitmark.State
		st, err := w.Watch(ctx, rec.UUID, func(s legitmark.Status) { seen = append(seen, s.State) })
		if err != nil || !st.Final || !st.Authentic || st.CertificateURL == "" {
			t.Fatalf("Watch = %+v, %v", st, err)
		}
		info, _ := f.SR(rec.UUID)
		if !slices.Equal(seen, info.History[1:]) {
			t.Errorf("Watch saw %v, the SR went through %v", seen, info.History)
		}
		if len(info.History) != 7 {
			t.Errorf("history %v, want DRAFT → QC/PENDING → QC/APPROVED → UNDERWAY ×3 → COMPLETE/APPROVED", info.History)
		}
		recs, _ := w.Records(ctx)
		if len(recs) != 1 || recs[0].Phase != legitmark.PhaseFinal || recs[0].CertificateURL == "" || len(recs[0].Sides) != 5 {
			t.Errorf("journal record = %+v", recs[0])
		}
		if _, err := w.Upload(ctx, rec.UUID, all, nil); !errors.Is(err, legitmark.ErrAlreadyFinal) {
			t.Errorf("Upload after final = %v, want ErrAlreadyFinal", err)
		}
	})
}

// QC rejects a side; Watch stops with NeedsResubmission listing it; the
// station re-uploads only that side and submits again; authentication ends
// REJECTED (not authentic).
func TestResubmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		w := legitmark.NewWorkflow(c, &legitmark.MemJournal{}, nil)
		ctx := t.Context()
		rec, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk42-resub", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
		if err != nil {
			t.Fatal(err)
		}
		imgs := sideImages(t, legitmarktest.SideNames(legitmarktest.CategoryFootwear, true), 0)
		if _, err := w.Upload(ctx, rec.UUID, imgs, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Submit(ctx, rec.UUID); err != nil {
			t.Fatal(err)
		}
		sole := legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, true)[4]
		go func() {
			time.Sleep(time.Minute)
			if err := f.RejectQC(rec.UUID, sole); err != nil {
				t.Error(err)
			}
		}()
		st, err := w.Watch(ctx, rec.UUID, nil)
		if err != nil || !st.NeedsResubmission || len(st.Missing) != 1 || st.Missing[0].Name != "Sole" {
			t.Fatalf("Watch = %+v, %v; want NeedsResubmission with Sole missing", st, err)
		}
		recs, _ := w.Records(ctx)
		if recs[0].Phase != legitmark.PhaseResubmit {
			t.Errorf("phase %s, want resubmit", recs[0].Phase)
		}
		res, err := w.Upload(ctx, rec.UUID, imgs, nil)
		if err != nil || !slices.Equal(res.Uploaded, []string{"Sole"}) || len(res.Skipped) != 6 {
			t.Fatalf("re-upload = %+v, %v; want only Sole", res, err)
		}
		if _, err := w.Submit(ctx, rec.UUID); err != nil {
			t.Fatalf("resubmit = %v", err)
		}
		if err := f.SetOutcome(rec.UUID, false); err != nil {
			t.Fatal(err)
		}
		go func() {
			for range 5 {
				time.Sleep(90 * time.Second)
				if err := f.Advance(rec.UUID); err != nil {
					t.Error(err)
				}
			}
		}()
		st, err = w.Watch(ctx, rec.UUID, nil)
		if err != nil || !st.Final || st.Authentic || !st.State.Counterfeit() {
			t.Fatalf("Watch after resubmission = %+v, %v; want COMPLETE/REJECTED", st, err)
		}
	})
}

func TestUploadParallelismAndErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		var inFlight, peak atomic.Int32
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPut {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
			}
			return f.Transport().RoundTrip(r)
		})
		f.Inject("s3.put", legitmarktest.Delay(time.Second), 0) // every PUT takes a second
		c := newClient(t, f, testConfig(), legitmark.Options{HTTPClient: &http.Client{Transport: rt}})
		w := legitmark.NewWorkflow(c, &legitmark.MemJournal{}, nil)
		ctx := t.Context()
		rec, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk42-par", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
		if err != nil {
			t.Fatal(err)
		}
		names := append(legitmarktest.SideNames(legitmarktest.CategoryFootwear, true), legitmarktest.SideNames(legitmarktest.CategoryFootwear, false)...)
		imgs := sideImages(t, names, 0)
		imgs[len(names)-2].Data = []byte("GIF89a, not a photo") // Receipt (optional): bad content
		imgs = append(imgs,
			legitmark.SideImage{Side: "Lid", Data: variantJPEG(t, 50)},   // no such side
			legitmark.SideImage{Side: "front", Data: variantJPEG(t, 51)}, // a second image for Front
		)
		start := time.Now()
		res, err := w.Upload(ctx, rec.UUID, imgs, nil)
		if got := peak.Load(); got != 4 {
			t.Errorf("peak parallel PUTs = %d, want 4", got)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("11 uploads, 4 at a time, 1 s each took %v, want 3s", d)
		}
		if err == nil || len(res.Uploaded) != 11 || len(res.Failed) != 3 {
			t.Fatalf("Upload = %d uploaded %d failed, %v", len(res.Uploaded), len(res.Failed), err)
		}
		codes := map[string]string{}
		for _, fe := range res.Failed {
			codes[fe.SideName] = fe.Code()
		}
		if codes["Lid"] != "unknown_side" || codes["Receipt"] != legitmark.ImageFormat || codes["Front"] != "rejected" {
			t.Errorf("failure codes %v", codes)
		}
		var ie *legitmark.ImageError
		if !errors.As(err, &ie) || !errors.Is(err, legitmark.ErrUnknownSide) {
			t.Errorf("joined error %v lacks the per-side causes", err)
		}
		if !res.Progress.Met {
			t.Errorf("progress %+v, want met (all required sides uploaded)", res.Progress)
		}
	})
}

// A restart in every unsettled place: the create's answer lost while the
// find is down; uploads half done; the submit's answer lost while reads are
// down. A new Workflow on the same journal settles each by reading state,
// does not upload finished sides again, and resumes polling.
func TestResumeAfterRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{AutoAdvance: 3 * time.Minute})
		j := &legitmark.MemJournal{}
		ctx := t.Context()
		boot := func() *legitmark.Workflow {
			return legitmark.NewWorkflow(newClient(t, f, testConfig(), legitmark.Options{}), j, nil)
		}

		w := boot()
		f.Inject("sr.create", legitmarktest.CommitThenDrop(), 1)
		f.Inject("sr.find", legitmarktest.Status(503), 4)
		_, err := w.Create(ctx, legitmark.CreateRequest{Reference: "kiosk42-crash", TagUID: "04AABBCCDDEEFF", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
		if !errors.Is(err, legitmark.ErrAmbiguous) {
			t.Fatalf("Create with lost answer and find down = %v, want ErrAmbiguous", err)
		}
		recs, _ := w.Records(ctx)
		if len(recs) != 1 || recs[0].Phase != legitmark.PhaseCreating {
			t.Fatalf("records %+v, want one creating", recs)
		}

		w = boot() // restart
		if err := w.Resume(ctx, nil); err != nil {
			t.Fatalf("Resume = %v", err)
		}
		recs, _ = w.Records(ctx)
		rec := recs[0]
		if rec.Phase != legitmark.PhaseDraft || rec.UUID == "" || rec.TagUID != "04AABBCCDDEEFF" || len(f.SRs()) != 1 {
			t.Fatalf("after settle: %+v (SRs %d)", rec, len(f.SRs()))
		}
		if f.Count("sr.create") != 1 {
			t.Errorf("create resent: %d", f.Count("sr.create"))
		}

		imgs := sideImages(t, legitmarktest.SideNames(legitmarktest.CategoryFootwear, true), 0)
		if _, err := w.Upload(ctx, rec.UUID, imgs[:4], nil); err != nil {
			t.Fatal(err)
		}
		w = boot() // restart mid-upload
		puts := f.Count("s3.put")
		intents := f.Count("intent")
		res, err := w.Upload(ctx, rec.UUID, imgs, nil)
		if err != nil || len(res.Skipped) != 4 || len(res.Uploaded) != 3 {
			t.Fatalf("Upload after restart = %+v, %v", res, err)
		}
		if f.Count("s3.put")-puts != 3 || f.Count("intent")-intents != 3 {
			t.Errorf("after restart: %d PUTs, %d intents; want 3 and 3 (fresh URLs, finished sides not again)",
				f.Count("s3.put")-puts, f.Count("intent")-intents)
		}

		f.Inject("sr.submit", legitmarktest.CommitThenDrop(), 1)
		// Reads fail from the submit on, so the client cannot settle it.
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/submit") {
				f.Inject("sr.get", legitmarktest.Status(503), 4)
			}
			return f.Transport().RoundTrip(r)
		})
		w = legitmark.NewWorkflow(newClient(t, f, testConfig(), legitmark.Options{HTTPClient: &http.Client{Transport: rt}}), j, nil)
		if _, err := w.Submit(ctx, rec.UUID); !errors.Is(err, legitmark.ErrAmbiguous) {
			t.Fatalf("Submit with lost answer and reads down = %v, want ErrAmbiguous", err)
		}
		recs, _ = w.Records(ctx)
		if recs[0].Phase != legitmark.PhaseSubmitting {
			t.Fatalf("phase %s, want submitting", recs[0].Phase)
		}

		w = boot() // restart while the outcome is unknown
		var last legitmark.Status
		if err := w.Resume(ctx, func(s legitmark.Status) { last = s }); err != nil {
			t.Fatal(err)
		}
		if !last.Final || !last.Authentic || f.Count("sr.submit") != 1 {
			t.Errorf("resumed to %+v with %d submits; want COMPLETE/APPROVED and one submit", last, f.Count("sr.submit"))
		}
		recs, _ = w.Records(ctx)
		if recs[0].Phase != legitmark.PhaseFinal {
			t.Errorf("final phase %s", recs[0].Phase)
		}
	})
}

func TestWatchOutwaitsTransientFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{AutoAdvance: 5 * time.Minute})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		w := legitmark.NewWorkflow(c, &legitmark.MemJournal{}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Hour)
		defer cancel()
		sr := mustCreate(t, c, "kiosk-watch", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
		uploadRequired(t, c, sr.UUID, legitmarktest.CategoryFootwear)
		if _, err := c.Submit(ctx, sr.UUID); err != nil {
			t.Fatal(err)
		}
		f.Inject("sr.get", legitmarktest.Status(502), 12) // three polls' worth of retries fail
		st, err := w.Watch(ctx, sr.UUID, nil)
		if err != nil || !st.Authentic {
			t.Fatalf("Watch = %+v, %v", st, err)
		}
		// Polls are spaced: never more than one per poll_min/1.1 (plus the
		// client's own retries after a 502).
		var gets []time.Time
		for _, r := range routes(f, "sr.get") {
			if r.Status == 200 {
				gets = append(gets, r.At)
			}
		}
		for i := 1; i < len(gets); i++ {
			if gap := gets[i].Sub(gets[i-1]); gap < legitmark.DefaultPollMin*9/10 {
				t.Errorf("polls %v apart", gap)
			}
		}
		if n := len(gets); n > 40 {
			t.Errorf("%d polls for a 25-minute authentication", n)
		}
	})
}
