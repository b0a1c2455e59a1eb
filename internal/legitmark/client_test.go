package legitmark_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

func TestAuthBearer(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	c := newClient(t, f, testConfig(), legitmark.Options{})
	if _, err := c.Services(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Find(t.Context(), "nothing-here"); !errors.Is(err, legitmark.ErrNotFound) {
		t.Fatalf("Find(unknown) = %v, want ErrNotFound", err)
	}
	for _, r := range f.Requests() {
		switch {
		case r.Route == "sr.find" && (r.Key != "" || r.UserToken != ""):
			t.Errorf("public find sent credentials (scheme %q)", r.Scheme)
		case r.Route != "sr.find" && (r.Scheme != "bearer" || r.Key != legitmarktest.DefaultKey || r.UserToken != ""):
			t.Errorf("%s: scheme %q, user token %v; want bearer with the key and no token", r.Route, r.Scheme, r.UserToken != "")
		}
	}
}

func TestAuthXAPIKeyWithActorToken(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{RequireUserToken: true})
	cfg := testConfig()
	cfg.Auth = legitmark.AuthXAPIKey
	tokens := &legitmark.MemTokens{}
	c := newClient(t, f, cfg, legitmark.Options{Tokens: tokens})
	ctx := t.Context()
	if _, err := c.Services(ctx); !errors.Is(err, legitmark.ErrUnauthorized) {
		t.Fatalf("Services without an actor token = %v, want ErrUnauthorized", err)
	}
	tok, err := c.RegisterActor(ctx, legitmark.ActorUser{ActorUserID: "station-7", Email: "ops@example.com", FirstName: "Ops",
		LastName: "Team", BusinessName: "Resale Co", CertificateIssuanceName: "Resale Co"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Reveal(), "lm_usr_") {
		t.Errorf("token does not look like lm_usr_…")
	}
	if saved, _ := tokens.LoadUserToken(ctx); saved != tok {
		t.Errorf("token not saved in the TokenStore")
	}
	if _, err := c.Services(ctx); err != nil {
		t.Fatalf("Services with the token = %v", err)
	}
	// A new client (a restart) takes the token from the store.
	c2 := newClient(t, f, cfg, legitmark.Options{Tokens: tokens})
	if _, err := c2.CategoryTree(ctx, true); err != nil {
		t.Fatalf("CategoryTree after restart = %v", err)
	}
	_, err = c.RegisterActor(ctx, legitmark.ActorUser{ActorUserID: "station-7", Email: "x@example.com", FirstName: "a", LastName: "b", BusinessName: "c", CertificateIssuanceName: "d"})
	if !errors.Is(err, legitmark.ErrConflict) {
		t.Errorf("duplicate RegisterActor = %v, want ErrConflict", err)
	}
	reqs := f.Requests()
	last := reqs[len(reqs)-2] // the category tree of c2
	if last.Scheme != "x-api-key" || last.UserToken != tok.Reveal() {
		t.Errorf("after restart: scheme %q, token sent %v", last.Scheme, last.UserToken == tok.Reveal())
	}
	for _, r := range reqs {
		if r.Route == "actor.users" && r.UserToken != "" {
			t.Errorf("actor registration sent a user token")
		}
	}
}

func TestAuthErrors(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	cfg := testConfig()
	cfg.APIKey = "leo_wrong_key_123456"
	c := newClient(t, f, cfg, legitmark.Options{})
	_, err := c.Services(t.Context())
	var ae *legitmark.APIError
	if !errors.Is(err, legitmark.ErrForbidden) || !errors.As(err, &ae) || ae.Details != "authorization/invalid_token" {
		t.Fatalf("Services(wrong key) = %v, want 403 authorization/invalid_token", err)
	}
	if strings.Contains(err.Error(), "leo_wrong") {
		t.Errorf("error shows the key: %s", err)
	}
	if legitmark.ErrorCode(err) != "remote_auth_failed" {
		t.Errorf("ErrorCode = %s", legitmark.ErrorCode(err))
	}
}

func TestTaxonomy(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	c := newClient(t, f, testConfig(), legitmark.Options{})
	ctx := t.Context()
	svcs, err := c.Services(ctx)
	if err != nil || len(svcs) != 2 || svcs[0].UUID != legitmarktest.ServiceStandard {
		t.Fatalf("Services = %+v, %v", svcs, err)
	}
	tree, err := c.CategoryTree(ctx, true)
	if err != nil || len(tree) != 2 {
		t.Fatalf("CategoryTree(active) = %d categories, %v; want 2", len(tree), err)
	}
	if got := tree[0].Types[0].Brands[0].Name; got != "Nike" {
		t.Errorf("tree Footwear/Sneakers brand = %q", got)
	}
	all, _ := c.CategoryTree(ctx, false)
	if len(all) != 3 {
		t.Errorf("CategoryTree(all) = %d, want 3", len(all))
	}
	page, pi, err := c.Categories(ctx, legitmark.ListQuery{Page: 2, PageSize: 1})
	if err != nil || len(page) != 1 || pi.TotalCount != 3 || pi.TotalPages != 3 || page[0].UUID != legitmarktest.CategoryHandbags {
		t.Errorf("Categories page 2 = %+v %+v %v", page, pi, err)
	}
	cat, err := c.Category(ctx, legitmarktest.CategoryFootwear)
	if err != nil || cat.Name != "Footwear" {
		t.Errorf("Category = %+v, %v", cat, err)
	}
	types, err := c.CategoryTypes(ctx, legitmarktest.CategoryFootwear)
	if err != nil || len(types) != 2 {
		t.Errorf("CategoryTypes = %+v, %v", types, err)
	}
	if all, err := c.Types(ctx); err != nil || len(all) != 3 {
		t.Errorf("Types = %d, %v", len(all), err)
	}
	typ, err := c.Type(ctx, legitmarktest.TypeSneakers)
	if err != nil || len(typ.Brands) != 2 {
		t.Errorf("Type = %+v, %v", typ, err)
	}
	brands, err := c.BrandsForType(ctx, legitmarktest.TypeTote)
	if err != nil || len(brands) != 1 || brands[0].UUID != legitmarktest.BrandLV {
		t.Errorf("BrandsForType = %+v, %v", brands, err)
	}
	found, _, err := c.Brands(ctx, legitmark.ListQuery{Search: "adi"})
	if err != nil || len(found) != 1 || found[0].UUID != legitmarktest.BrandAdidas {
		t.Errorf("Brands(adi) = %+v, %v", found, err)
	}
	ms, err := c.Models(ctx, legitmark.ModelQuery{Brand: legitmarktest.BrandNike})
	if err != nil || len(ms) != 1 || ms[0].UUID != legitmarktest.ModelAirJordan1 || ms[0].Brand.UUID != legitmarktest.BrandNike {
		t.Errorf("Models(nike) = %+v, %v", ms, err)
	}
	if _, err := c.Category(ctx, "../etc"); !errors.Is(err, legitmark.ErrBadInput) {
		t.Errorf("Category(../etc) = %v, want ErrBadInput", err)
	}
	if _, err := c.Type(ctx, "7e000000-0000-4000-8000-00000000ffff"); !errors.Is(err, legitmark.ErrNotFound) {
		t.Errorf("Type(unknown) = %v, want ErrNotFound", err)
	}
}

func TestGetSRIncludes(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{ItemTypeQuirk: true})
	c := newClient(t, f, testConfig(), legitmark.Options{})
	ctx := t.Context()
	sr := mustCreate(t, c, "kiosk1-0001", legitmarktest.CategoryHandbags, legitmarktest.TypeTote)
	if sr.State.Primary != legitmark.StateDraft || sr.MicroID == "" || string(sr.ExternalID) != "kiosk1-0001" {
		t.Fatalf("created SR = %+v", sr)
	}
	plain, err := c.GetSR(ctx, sr.UUID, legitmark.Include{})
	if err != nil || plain.Item != nil || plain.Sides != nil {
		t.Fatalf("GetSR(no flags) = item %v sides %v, %v", plain.Item != nil, plain.Sides != nil, err)
	}
	// sides alone pulls in item (its dependency); requirements adds templates.
	withSides, err := c.GetSR(ctx, sr.UUID, legitmark.Include{Sides: true})
	if err != nil || withSides.Item == nil || withSides.Sides == nil || len(withSides.Sides.Required) != 5 {
		t.Fatalf("GetSR(sides) = %+v, %v", withSides.Sides, err)
	}
	if withSides.Sides.Required[0].OverlayImage != "" {
		t.Errorf("overlay image without requirements=true")
	}
	if got := withSides.Item.TypeRef(); got.UUID != legitmarktest.TypeTote {
		t.Errorf("item type (quirk: under types) = %+v", got)
	}
	full, err := c.GetSR(ctx, sr.UUID, legitmark.Include{Requirements: true})
	if err != nil {
		t.Fatal(err)
	}
	s := full.Sides.Required[0]
	if s.OverlayImage == "" || s.ExampleImage == "" || s.SideGroupName != "Exterior" || full.Sides.Progress == nil || full.Sides.Progress.TotalRequired != 5 {
		t.Errorf("GetSR(requirements) side = %+v progress %+v", s, full.Sides.Progress)
	}
	groups, err := c.SideGroups(ctx, sr.UUID)
	if err != nil || len(groups) != 2 || len(groups[1].Sides) != 4 {
		t.Errorf("SideGroups = %d groups, %v", len(groups), err)
	}
	p, err := c.Progress(ctx, sr.UUID)
	if err != nil || p.Progress.Met || p.Progress.TotalRequired != 5 || !p.Trustworthy() {
		t.Errorf("Progress = %+v, %v", p, err)
	}
	f.Inject("progress", legitmarktest.S3Warning(), 1)
	if p, err := c.Progress(ctx, sr.UUID); err != nil || p.Trustworthy() || p.Warning == "" {
		t.Errorf("Progress during an S3 outage = %+v, %v; want untrustworthy", p, err)
	}
	byMicro, err := c.Find(ctx, string(sr.MicroID))
	if err != nil || byMicro.UUID != sr.UUID {
		t.Errorf("Find(micro_id) = %+v, %v", byMicro, err)
	}
	last := routes(f, "sr.get")
	if q := last[len(last)-1]; q.Path != "/api/v2/sr/"+sr.UUID {
		t.Errorf("path %s", q.Path)
	}
}

func TestCreateValidation(t *testing.T) {
	f := legitmarktest.New(legitmarktest.Options{})
	c := newClient(t, f, testConfig(), legitmark.Options{})
	_, err := c.CreateSR(t.Context(), legitmark.CreateSR{ReferenceID: "r1", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeTote})
	var ae *legitmark.APIError
	if !errors.As(err, &ae) || !errors.Is(err, legitmark.ErrValidation) || !ae.HasCode("validation/unknown-type") {
		t.Fatalf("CreateSR(type of another category) = %v, want 400 validation/unknown-type", err)
	}
	if n := f.Count("sr.create"); n != 1 {
		t.Errorf("a 400 was resent: %d creates", n)
	}
}

// The SR create is not idempotent: a create whose answer was lost must not
// produce a second SR (remote-apis.md §3.4).
func TestCreateAmbiguous(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fault       legitmarktest.Fault
		wantCreates int // requests that reached sr.create
		wantSRs     int
	}{
		{"commit then drop", legitmarktest.CommitThenDrop(), 1, 1},
		{"commit then 502", legitmarktest.CommitThenStatus(502), 1, 1},
		{"commit then late answer", legitmarktest.CommitThenDelay(time.Minute), 1, 1},
		{"dropped before processing", legitmarktest.Drop(), 2, 1},
		{"503 before processing", legitmarktest.Status(503), 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := legitmarktest.New(legitmarktest.Options{})
				f.Inject("sr.create", tc.fault, 1)
				cfg := testConfig()
				cfg.Timeout = 10 * time.Second
				c := newClient(t, f, cfg, legitmark.Options{})
				sr := mustCreate(t, c, "kiosk1-amb", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
				if got := len(f.SRs()); got != tc.wantSRs {
					t.Errorf("SRs on the server = %d, want %d", got, tc.wantSRs)
				}
				if got := f.Count("sr.create"); got != tc.wantCreates {
					t.Errorf("create requests = %d, want %d", got, tc.wantCreates)
				}
				if f.Count("sr.find") != 1 {
					t.Errorf("find requests = %d, want 1 (the settle)", f.Count("sr.find"))
				}
				if sr.UUID != f.SRs()[0] {
					t.Errorf("returned SR %s, server has %s", sr.UUID, f.SRs()[0])
				}
			})
		})
	}
}

func TestCreateNotWrittenIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		fails := 1
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPost && fails > 0 {
				fails--
				return nil, errors.New("dial tcp: connection refused") // before anything was written
			}
			return f.Transport().RoundTrip(r)
		})
		c := newClient(t, f, testConfig(), legitmark.Options{HTTPClient: &http.Client{Transport: rt}})
		mustCreate(t, c, "kiosk1-dial", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
		if f.Count("sr.create") != 1 || f.Count("sr.find") != 0 || len(f.SRs()) != 1 {
			t.Errorf("creates %d finds %d SRs %d; want 1 0 1", f.Count("sr.create"), f.Count("sr.find"), len(f.SRs()))
		}
	})
}

func TestCreateUnsettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		f.Inject("sr.create", legitmarktest.CommitThenDrop(), 1)
		f.Inject("sr.find", legitmarktest.Status(503), 0)
		c := newClient(t, f, testConfig(), legitmark.Options{})
		_, err := c.CreateSR(t.Context(), legitmark.CreateSR{ReferenceID: "kiosk1-x", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
		if !errors.Is(err, legitmark.ErrAmbiguous) || legitmark.ErrorCode(err) != "outcome_unknown" {
			t.Fatalf("CreateSR with find down = %v, want ErrAmbiguous", err)
		}
		if f.Count("sr.create") != 1 {
			t.Errorf("create resent without settling: %d", f.Count("sr.create"))
		}
	})
}

func TestSubmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		ctx := t.Context()
		sr := mustCreate(t, c, "kiosk1-sub", legitmarktest.CategoryHandbags, legitmarktest.TypeTote)
		_, err := c.Submit(ctx, sr.UUID)
		if !errors.Is(err, legitmark.ErrNotMet) || f.Count("sr.submit") != 1 {
			t.Fatalf("Submit before met = %v (%d submits), want ErrNotMet once", err, f.Count("sr.submit"))
		}
		uploadRequired(t, c, sr.UUID, legitmarktest.CategoryHandbags)
		f.Inject("sr.submit", legitmarktest.CommitThenDrop(), 1)
		got, err := c.Submit(ctx, sr.UUID)
		if err != nil || got.State.Primary != legitmark.StateQC {
			t.Fatalf("Submit with a lost answer = %+v, %v; want settled as QC", got.State, err)
		}
		if f.Count("sr.submit") != 2 {
			t.Errorf("submit requests = %d, want 2 (one lost, none resent)", f.Count("sr.submit"))
		}
		// Again: the server says 409, the state says submitted.
		got, err = c.Submit(ctx, sr.UUID)
		if err != nil || got.State.Primary != legitmark.StateQC {
			t.Errorf("second Submit = %+v, %v; want the submitted SR", got.State, err)
		}
		info, _ := f.SR(sr.UUID)
		if n := len(info.History); n != 2 {
			t.Errorf("state history %v, want DRAFT then QC only", info.History)
		}
	})
}

func uploadRequired(t testing.TB, c *legitmark.Client, sr, category string) {
	t.Helper()
	img, err := legitmark.PrepareImage(sampleJPEG(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range legitmarktest.SideUUIDs(category, true) {
		if err := c.UploadSide(context.Background(), sr, side, img, nil); err != nil {
			t.Fatalf("UploadSide(%s) = %v", side, err)
		}
	}
}

func TestUploadRetries(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		inject                func(f *legitmarktest.Server)
		wantIntents, wantPuts int
	}{
		{"s3 503 twice", func(f *legitmarktest.Server) { f.Inject("s3.put", legitmarktest.Status(503), 2) }, 1, 3},
		{"s3 connection dropped", func(f *legitmarktest.Server) { f.Inject("s3.put", legitmarktest.Drop(), 1) }, 1, 2},
		{"s3 answer lost after storing", func(f *legitmarktest.Server) { f.Inject("s3.put", legitmarktest.CommitThenDrop(), 1) }, 1, 2},
		{"intent 500 then ok", func(f *legitmarktest.Server) { f.Inject("intent", legitmarktest.Status(500), 1) }, 2, 1},
		// The client judges expiry by its own receipt time (clock skew), so
		// a URL that is born expired costs one refused PUT.
		{"intent hands out an expired URL", func(f *legitmarktest.Server) { f.Inject("intent", legitmarktest.ExpiredURL(), 1) }, 2, 2},
		{"URL expires while the PUT waits", func(f *legitmarktest.Server) { f.Inject("s3.put", legitmarktest.Delay(400*time.Second), 1) }, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := legitmarktest.New(legitmarktest.Options{})
				tc.inject(f)
				cfg := testConfig()
				cfg.UploadTimeout = 10 * time.Minute
				// The kiosk clock is an hour fast: presigned URLs must still work.
				c := newClient(t, f, cfg, legitmark.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }})
				sr := mustCreate(t, c, "kiosk1-up", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
				img, err := legitmark.PrepareImage(sampleJPEG(t))
				if err != nil {
					t.Fatal(err)
				}
				side := legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, true)[0]
				var last int64
				if err := c.UploadSide(t.Context(), sr.UUID, side, img, func(n int64) { last = n }); err != nil {
					t.Fatalf("UploadSide = %v", err)
				}
				if last != int64(len(img.Data)) {
					t.Errorf("progress ended at %d, want %d", last, len(img.Data))
				}
				if got := f.Count("intent"); got != tc.wantIntents {
					t.Errorf("intents = %d, want %d", got, tc.wantIntents)
				}
				if got := f.Count("s3.put"); got != tc.wantPuts {
					t.Errorf("PUTs = %d, want %d", got, tc.wantPuts)
				}
				if info, _ := f.SR(sr.UUID); info.Uploads[side] == 0 {
					t.Errorf("side not stored")
				}
			})
		})
	}
}

func TestUploadFinalErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		sr := mustCreate(t, c, "kiosk1-up", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
		img, _ := legitmark.PrepareImage(sampleJPEG(t))
		side := legitmarktest.SideUUIDs(legitmarktest.CategoryFootwear, true)[0]
		f.Inject("intent", legitmarktest.Status(400), 1)
		if err := c.UploadSide(t.Context(), sr.UUID, side, img, nil); !errors.Is(err, legitmark.ErrValidation) || f.Count("intent") != 1 {
			t.Errorf("intent 400 = %v after %d intents, want ErrValidation once", err, f.Count("intent"))
		}
		if _, err := c.Intent(t.Context(), sr.UUID, side, "gif"); !errors.Is(err, legitmark.ErrBadInput) {
			t.Errorf("Intent(gif) = %v, want ErrBadInput", err)
		}
		if err := c.UploadSide(t.Context(), sr.UUID, "5d000000-0000-4000-8000-0000000000ff", img, nil); !errors.Is(err, legitmark.ErrNotFound) {
			t.Errorf("UploadSide(unknown side) = %v, want ErrNotFound", err)
		}
		f.Inject("s3.put", legitmarktest.Status(503), 0)
		if err := c.UploadSide(t.Context(), sr.UUID, side, img, nil); !errors.Is(err, legitmark.ErrServer) || f.Count("s3.put") != 3 {
			t.Errorf("S3 down = %v after %d PUTs, want ErrServer after 3", err, f.Count("s3.put"))
		}
	})
}

func TestRateLimitedRequestWaits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fault   legitmarktest.Fault
		minWait time.Duration
	}{
		{"Retry-After", legitmarktest.RateLimited(7 * time.Second), 7 * time.Second},
		{"no timing information", legitmarktest.RateLimited(0), 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := legitmarktest.New(legitmarktest.Options{})
				f.Inject("sr.create", tc.fault, 2)
				c := newClient(t, f, testConfig(), legitmark.Options{})
				start := time.Now()
				mustCreate(t, c, "kiosk1-429", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
				reqs := routes(f, "sr.create")
				if len(reqs) != 3 || len(f.SRs()) != 1 {
					t.Fatalf("creates %d SRs %d, want 3 requests (two 429s) and one SR", len(reqs), len(f.SRs()))
				}
				for i := 1; i < len(reqs); i++ {
					if gap := reqs[i].At.Sub(reqs[i-1].At); gap < tc.minWait {
						t.Errorf("request %d followed a 429 after %v, want >= %v", i, gap, tc.minWait)
					}
				}
				if time.Since(start) < 2*tc.minWait {
					t.Errorf("total %v", time.Since(start))
				}
			})
		})
	}
}

func TestRateLimitGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		f.Inject("services", legitmarktest.RateLimited(time.Second), 0)
		c := newClient(t, f, testConfig(), legitmark.Options{})
		_, err := c.Services(t.Context())
		var ae *legitmark.APIError
		if !errors.Is(err, legitmark.ErrRateLimited) || !errors.As(err, &ae) || ae.RetryAfter != time.Second {
			t.Fatalf("Services under constant 429 = %v, want ErrRateLimited with RetryAfter 1s", err)
		}
		if n := f.Count("services"); n != 6 {
			t.Errorf("requests = %d, want 6", n)
		}
	})
}

func TestAPIErrorShapes(t *testing.T) {
	key := legitmarktest.DefaultKey
	for _, tc := range []struct {
		name    string
		status  int
		header  http.Header
		body    string
		want    []error
		message string
		details string
		codes   []string
		retry   time.Duration
	}{
		{
			name: "documented validation", status: 400,
			body: `{"success":false,"error":{"code":400,"timestamp":"2026-01-01T00:00:00Z","message":"Validation failed","errors":[{"code":"validation/missing-user_id","message":"user_id is required."}]}}`,
			want: []error{legitmark.ErrValidation}, message: "Validation failed", codes: []string{"validation/missing-user_id"},
		},
		{
			name: "401 details", status: 401,
			body: `{"success":false,"error":{"code":401,"timestamp":"…","message":"Authentication required","details":"authorization/missing_token"}}`,
			want: []error{legitmark.ErrUnauthorized}, message: "Authentication required", details: "authorization/missing_token",
		},
		{
			name: "429 message timing", status: 429,
			body: `{"success":false,"error":{"code":429,"message":"Rate limit exceeded. Retry after 60 seconds.","details":"error/rate_limit_exceeded"}}`,
			want: []error{legitmark.ErrRateLimited}, message: "Rate limit exceeded. Retry after 60 seconds.", details: "error/rate_limit_exceeded", retry: time.Minute,
		},
		{
			name: "429 reset header", status: 429, header: http.Header{"X-Ratelimit-Reset": {"42"}},
			body: `{"success":false,"error":{"code":429,"message":"Rate limit exceeded"}}`,
			want: []error{legitmark.ErrRateLimited}, message: "Rate limit exceeded", retry: 42 * time.Second,
		},
		{
			name: "string error", status: 404, body: `{"success":false,"error":"Service request not found"}`,
			want: []error{legitmark.ErrNotFound}, message: "Service request not found",
		},
		{
			name: "rails errors", status: 422, body: `{"errors":{"reference_id":["can't be blank"],"item":["is invalid"]}}`,
			want: []error{legitmark.ErrValidation}, message: "unprocessable entity", codes: []string{"item", "reference_id"},
		},
		{
			name: "409 conflict", status: 409, body: `{"success":false,"error":{"code":409,"message":"Conflict"}}`,
			want: []error{legitmark.ErrConflict},
		},
		{
			name: "html gateway", status: 404, body: `<html><body>Not Found</body></html>`,
			want: []error{legitmark.ErrNotFound}, message: "not found",
		},
		{
			name: "server echoes credentials", status: 400,
			body: `{"success":false,"error":{"code":400,"message":"bad key ` + key + ` and token lm_usr_abcdef123456","errors":[{"code":"x","message":"` + key + `"}]}}`,
			want: []error{legitmark.ErrValidation},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				h := tc.header.Clone()
				if h == nil {
					h = http.Header{}
				}
				return &http.Response{StatusCode: tc.status, Header: h, Body: io.NopCloser(strings.NewReader(tc.body)), Request: r}, nil
			})
			var err error
			synctest.Test(t, func(t *testing.T) {
				c := newClient(t, nil, testConfig(), legitmark.Options{HTTPClient: &http.Client{Transport: rt}})
				_, err = c.GetSR(t.Context(), "5a000000-0000-4000-8000-000000000001", legitmark.Include{})
			})
			var ae *legitmark.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("GetSR = %v (%T), want *APIError", err, err)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v is not %v", err, w)
				}
			}
			if tc.message != "" && ae.Message != tc.message {
				t.Errorf("Message = %q, want %q", ae.Message, tc.message)
			}
			if ae.Details != tc.details {
				t.Errorf("Details = %q, want %q", ae.Details, tc.details)
			}
			for i, code := range tc.codes {
				if i >= len(ae.Errors) || ae.Errors[i].Code != code {
					t.Errorf("Errors = %+v, want codes %v", ae.Errors, tc.codes)
					break
				}
			}
			if ae.RetryAfter != tc.retry {
				t.Errorf("RetryAfter = %v, want %v", ae.RetryAfter, tc.retry)
			}
			if s := err.Error(); strings.Contains(s, key) || strings.Contains(s, "lm_usr_abc") {
				t.Errorf("error text carries a credential: %s", s)
			}
		})
	}
}

func TestDecodeError(t *testing.T) {
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"success":true}`)), Request: r}, nil
	})
	c := newClient(t, nil, testConfig(), legitmark.Options{HTTPClient: &http.Client{Transport: rt}})
	_, err := c.GetSR(t.Context(), "5a000000-0000-4000-8000-000000000001", legitmark.Include{})
	if !errors.Is(err, legitmark.ErrDecode) {
		t.Errorf("GetSR(no sr) = %v, want ErrDecode", err)
	}
}

func TestNoRedirects(t *testing.T) {
	var hits int
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hits++
		return &http.Response{StatusCode: 307, Header: http.Header{"Location": {"https://elsewhere.example/api/v2/sr"}},
			Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	c := newClient(t, nil, testConfig(), legitmark.Options{HTTPClient: &http.Client{Transport: rt}})
	_, err := c.CreateSR(t.Context(), legitmark.CreateSR{ReferenceID: "r", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
	if err == nil || hits != 1 {
		t.Errorf("CreateSR with a 307 = %v after %d requests; want an error and no redirect followed", err, hits)
	}
}

func TestRateLimitedPublicRequestWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		sr := mustCreate(t, c, "kiosk1-find", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
		f.Inject("sr.find", legitmarktest.RateLimited(3*time.Second), 1)
		start := time.Now()
		if _, err := c.Find(t.Context(), sr.UUID); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 3*time.Second || f.Count("sr.find") != 2 {
			t.Errorf("Find after a 429 took %v with %d requests, want >= 3s and 2", d, f.Count("sr.find"))
		}
	})
}
