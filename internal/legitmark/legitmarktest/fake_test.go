package legitmarktest_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

func newSR(t *testing.T, f *legitmarktest.Server) string {
	t.Helper()
	body := `{"reference_id":"fake-test","item":{"category":"` + legitmarktest.CategoryFootwear + `","type":"` + legitmarktest.TypeSneakers + `"}}`
	req, _ := http.NewRequest(http.MethodPost, "https://api.legitmark.test/api/v2/sr", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+legitmarktest.DefaultKey)
	resp, err := f.Transport().RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create: %v %v", resp, err)
	}
	resp.Body.Close()
	return f.SRs()[len(f.SRs())-1]
}

// The state machine allows exactly the documented moves.
func TestStateMachineWalk(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	id := newSR(t, f)
	st := func(p, s string) legitmark.State { return legitmark.State{Primary: p, Supplement: s} }
	// Not submitted yet: nothing advances by itself, and it cannot jump.
	if err := f.Advance(id); !errors.Is(err, legitmarktest.ErrTransition) {
		t.Errorf("Advance(DRAFT) = %v, want ErrTransition", err)
	}
	if err := f.SetState(id, st("COMPLETE", "APPROVED")); !errors.Is(err, legitmarktest.ErrTransition) {
		t.Errorf("DRAFT → COMPLETE/APPROVED = %v, want ErrTransition", err)
	}
	walk := []legitmark.State{
		st("QC", "PENDING"), st("QC", "REJECTED"), st("QC", "PENDING"), st("QC", "APPROVED"),
		st("UNDERWAY", "PENDING"), st("UNDERWAY", "ASSIGNED"), st("UNDERWAY", "APPROVED"),
		st("COMPLETE", "REJECTED"), st("COMPLETE", "COMPLETE"),
	}
	for _, s := range walk {
		if err := f.SetState(id, s); err != nil {
			t.Fatalf("→ %v: %v", s, err)
		}
	}
	if err := f.Cancel(id); !errors.Is(err, legitmarktest.ErrTransition) {
		t.Errorf("cancel a final SR = %v, want ErrTransition", err)
	}
	info, _ := f.SR(id)
	if len(info.History) != len(walk)+1 || info.State != st("COMPLETE", "COMPLETE") {
		t.Errorf("history %v", info.History)
	}
	if info.CertificateURL != "" {
		t.Errorf("a REJECTED SR got a certificate")
	}

	id2 := newSR(t, f)
	for _, s := range []legitmark.State{st("QC", "PENDING"), st("QC", "APPROVED"), st("UNDERWAY", "PENDING")} {
		if err := f.SetState(id2, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetState(id2, st("QC", "PENDING")); !errors.Is(err, legitmarktest.ErrTransition) {
		t.Errorf("UNDERWAY → QC = %v, want ErrTransition", err)
	}
	if err := f.Cancel(id2); err != nil {
		t.Errorf("cancel UNDERWAY = %v", err)
	}
	if info, _ := f.SR(id2); info.State.Primary != "CANCELLED" || !info.State.Final() {
		t.Errorf("state %v", info.State)
	}
}

func TestAutoAdvance(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := legitmarktest.New(legitmarktest.Options{AutoAdvance: time.Minute, Now: func() time.Time { return now }})
	id := newSR(t, f)
	if err := f.SetState(id, legitmark.State{Primary: "QC", Supplement: "PENDING"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Minute) // time passes with nobody looking
	req, _ := http.NewRequest(http.MethodGet, "https://api.legitmark.test/api/sr/find/"+id, nil)
	resp, err := f.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	info, _ := f.SR(id)
	if !info.State.Authentic() || len(info.History) != 7 || info.CertificateURL == "" {
		t.Errorf("after 10 minutes: %v (history %v)", info.State, info.History)
	}
}

func TestPresignedPUTChecks(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	f := legitmarktest.New(legitmarktest.Options{Now: func() time.Time { return now }})
	id := newSR(t, f)
	side := legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, true)[0]
	req, _ := http.NewRequest(http.MethodGet, "https://media.legitmark.test/intent?sr="+id+"&side="+side+".jpg", nil)
	req.Header.Set("x-api-key", legitmarktest.DefaultKey)
	resp, err := f.Transport().RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	u := string(body)
	u = u[strings.Index(u, `"url":"`)+7:]
	u = strings.ReplaceAll(u[:strings.IndexByte(u, '"')], `\u0026`, "&")
	put := func(raw, ct, acl string) (int, string) {
		req, _ := http.NewRequest(http.MethodPut, raw, strings.NewReader("bytes"))
		req.Header.Set("Content-Type", ct)
		if acl != "" {
			req.Header.Set("x-amz-acl", acl)
		}
		resp, err := f.Transport().RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	pu, _ := url.Parse(u)
	q := pu.Query()
	q.Set("X-Amz-Signature", strings.Repeat("0", 64))
	tampered := *pu
	tampered.RawQuery = q.Encode()
	for _, tc := range []struct {
		name, url, ct, acl string
		advance            time.Duration
		status             int
		code               string
	}{
		{"tampered signature", tampered.String(), "image/jpeg", "public-read", 0, 403, "SignatureDoesNotMatch"},
		{"signed header missing", u, "image/jpeg", "", 0, 403, "SignatureDoesNotMatch"},
		{"content type mismatch", u, "image/png", "public-read", 0, 400, "InvalidArgument"},
		{"valid", u, "image/jpeg", "public-read", 0, 200, ""},
		{"expired", u, "image/jpeg", "public-read", 301 * time.Second, 403, "AccessDenied"},
	} {
		now = now.Add(tc.advance)
		status, body := put(tc.url, tc.ct, tc.acl)
		if status != tc.status || !strings.Contains(body, tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}
	if info, _ := f.SR(id); info.Uploads[side] != 1 {
		t.Errorf("uploads %v, want one version", info.Uploads)
	}
}

// Over real TCP: a submit whose connection is dropped after the state change
// is settled by the client, and the server shuts down with its context.
func TestListenAndServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- legitmarktest.ListenAndServe(ctx, "127.0.0.1:0", legitmarktest.Options{}, func(a net.Addr) { addrc <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	c, err := legitmark.New(legitmark.Config{BaseURL: base, IntentURL: base + "/intent", APIKey: legitmarktest.DefaultKey}, legitmark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sr, err := c.CreateSR(ctx, legitmark.CreateSR{ReferenceID: "tcp-1", Category: legitmarktest.CategoryHandbags, Type: legitmarktest.TypeTote})
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(t)
	for _, side := range legitmarktest.SideUUIDs(legitmarktest.CategoryHandbags, true) {
		if err := c.UploadSide(ctx, sr.UUID, side, img, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Submit(ctx, sr.UUID)
	if err != nil || got.State.Primary != "QC" {
		t.Fatalf("Submit = %+v, %v", got, err)
	}
	resp, err := http.Post(base+"/_fake/sr/"+sr.UUID+"/complete", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("control complete: %v %v", resp, err)
	}
	resp.Body.Close()
	found, err := c.Find(ctx, string(sr.MicroID))
	if err != nil || !found.State.Authentic() || found.CertificateURL == "" {
		t.Errorf("Find after completion = %+v, %v", found, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe = %v, want nil on cancel", err)
	}
}

func TestDropOverTCP(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- legitmarktest.Serve(ctx, ln, f) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	c, err := legitmark.New(legitmark.Config{BaseURL: base, IntentURL: base + "/intent", APIKey: legitmarktest.DefaultKey}, legitmark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Inject("sr.create", legitmarktest.CommitThenDrop(), 1)
	sr, err := c.CreateSR(ctx, legitmark.CreateSR{ReferenceID: "tcp-drop", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
	if err != nil {
		t.Fatalf("CreateSR over a dropped connection = %v", err)
	}
	if len(f.SRs()) != 1 || f.Count("sr.create") != 1 || f.Count("sr.find") != 1 || sr.UUID != f.SRs()[0] {
		t.Errorf("SRs %d creates %d finds %d", len(f.SRs()), f.Count("sr.create"), f.Count("sr.find"))
	}
}

// testImage is a valid 600×600 grey PNG.
func testImage(t *testing.T) *legitmark.Image {
	t.Helper()
	m := image.NewGray(image.Rect(0, 0, 600, 600))
	for i := range m.Pix {
		m.Pix[i] = uint8(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	img, err := legitmark.PrepareImage(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The demo server takes faults over HTTP (POST /_fake/faults), so a run
// of nfcd fake legitmark can show 5xx, 429, drops and expired upload URLs.
func TestFaultsOverHTTP(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- legitmarktest.Serve(ctx, ln, f) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	do := func(method, path, body string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+legitmarktest.DefaultKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, bad := range []string{`{"route":"services","kind":"explode"}`, `{"route":"nowhere","kind":"drop"}`,
		`{"route":"services","kind":"status"}`, `{"route":"services","kind":"delay","delay":"soon"}`,
		`{"route":"services","kind":"expired_url"}`, `{"route":"services","kind":"drop","extra":1}`, `not json`} {
		if code, _ := do(http.MethodPost, "/_fake/faults", bad); code != 400 {
			t.Errorf("fault %s: HTTP %d, want 400", bad, code)
		}
	}
	if code, _ := do(http.MethodPost, "/_fake/faults", `{"route":"services","kind":"status","code":503,"times":2}`); code != 200 {
		t.Fatalf("inject: HTTP %d", code)
	}
	for i, want := range []int{503, 503, 200} {
		if code, _ := do(http.MethodGet, "/api/services", ""); code != want {
			t.Errorf("services #%d: HTTP %d, want %d", i, code, want)
		}
	}
	do(http.MethodPost, "/_fake/faults", `{"route":"services","kind":"rate_limited","retry_after":7,"times":-1}`)
	for range 2 {
		if code, h := do(http.MethodGet, "/api/services", ""); code != 429 || h.Get("Retry-After") != "7" {
			t.Errorf("rate limited: HTTP %d Retry-After %q", code, h.Get("Retry-After"))
		}
	}
	if code, _ := do(http.MethodDelete, "/_fake/faults", ""); code != 200 {
		t.Errorf("clear: HTTP %d", code)
	}
	if code, _ := do(http.MethodGet, "/api/services", ""); code != 200 {
		t.Errorf("services after clear: HTTP %d", code)
	}

	// A create whose answer is dropped after the SR was made: the client
	// finds it by reference instead of creating a second one.
	do(http.MethodPost, "/_fake/faults", `{"route":"sr.create","kind":"commit_then_drop"}`)
	c, err := legitmark.New(legitmark.Config{BaseURL: base, IntentURL: base + "/intent", APIKey: legitmarktest.DefaultKey}, legitmark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sr, err := c.CreateSR(ctx, legitmark.CreateSR{ReferenceID: "http-drop", Category: legitmarktest.CategoryHandbags, Type: legitmarktest.TypeTote})
	if err != nil || len(f.SRs()) != 1 || f.Count("sr.create") != 1 || f.Count("sr.find") != 1 {
		t.Fatalf("create over an injected drop: %v; SRs %d creates %d finds %d", err, len(f.SRs()), f.Count("sr.create"), f.Count("sr.find"))
	}
	// An expired upload URL: the client asks for a fresh one.
	do(http.MethodPost, "/_fake/faults", `{"route":"intent","kind":"expired_url"}`)
	side := legitmarktest.SideUUIDs(legitmarktest.CategoryHandbags, true)[0]
	if err := c.UploadSide(ctx, sr.UUID, side, testImage(t), nil); err != nil || f.Count("intent") != 2 {
		t.Errorf("upload over an expired URL: %v, intents %d", err, f.Count("intent"))
	}
}
