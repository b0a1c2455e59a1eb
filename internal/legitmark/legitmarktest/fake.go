// Package legitmarktest is an in-repo stand-in for the Legitmark API and
// its S3 upload bucket, following remote-apis.md §3.9: both auth schemes,
// actor registration, the taxonomy, SR create/read with include flags and
// their dependencies, side groups, progress computed from uploads, upload
// intents with presigned, expiring URLs, a fake S3 PUT, submit, the SR state
// machine (DRAFT → QC → UNDERWAY → COMPLETE, QC rejection and resubmission,
// cancellation), the public find, the older model's rate limits with their
// X-RateLimit-* headers and 429s, and injected faults (statuses, delays,
// dropped connections before or after the state change, expired URLs).
//
// A Server is an http.Handler serving everything on one host: the API under
// /api/, the intent endpoint at /intent, the bucket under /s3/, template
// images under /media/, and test controls under /_fake/. Tests use it
// in-process through Transport (which works inside testing/synctest) or on
// a listener; ListenAndServe runs it for `nfcd fake legitmark`.
package legitmarktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
)

// DefaultKey is the API key the fake accepts unless Options.Keys says
// otherwise. It is a test value, not a secret.
const DefaultKey = "leo_fake_0000000000000000"

// Limits are the fake's rate limits; zero means the documented value
// (1000/min per key, 60/min per actor token, 100 SR creates/hour), negative
// disables one.
type Limits struct {
	AppPerMinute, UserPerMinute, SRPerHour int
}

// Options configure a Server. The zero value is a fake with the documented
// behaviour.
type Options struct {
	Keys                 []string         // accepted API keys (default DefaultKey)
	RequireUserToken     bool             // older model: x-user-token on every API call
	Limits               Limits           //
	RetryAfter           bool             // send Retry-After with a 429 (undocumented, so a knob)
	PresignExpiry        time.Duration    // presigned URL lifetime (default 300 s, the doc example)
	SubmitSupplementNull bool             // submit answers QC/null, as the SDK fixture, not QC/PENDING
	ItemTypeQuirk        bool             // item.type "undefined" with the type under item.types (doc example)
	AutoAdvance          time.Duration    // > 0: submitted SRs move along by themselves at this pace (demos)
	Reject               bool             // AutoAdvance ends in COMPLETE/REJECTED instead of APPROVED
	KeepUploads          bool             // keep uploaded bytes (else only size and digest)
	Now                  func() time.Time //
	Log                  *zap.Logger      //
}

// Request is one request the fake received, for assertions.
type Request struct {
	Route     string // e.g. "sr.create", "s3.put"
	Method    string
	Path      string
	At        time.Time
	Status    int    // 0 when the connection was dropped
	Key       string // API key sent (either scheme)
	Scheme    string // "bearer", "x-api-key" or ""
	UserToken string
}

// Server is the fake Legitmark API and S3.
type Server struct {
	o      Options
	log    *zap.Logger
	secret []byte
	mux    *http.ServeMux

	mu         sync.Mutex
	keys       map[string]bool
	users      map[string]string // token → actor_user_id
	actors     map[string]bool
	srs        map[string]*sr
	order      []string
	nextID     int
	reqs       []Request
	faults     []*fault
	routeNames map[string]bool // route names, for POST /_fake/faults
	appWin     map[string][]time.Time
	userWin    map[string][]time.Time
	srWin      map[string][]time.Time
	templPNG   []byte
}

type media struct {
	version string
	size    int
	digest  string
	ct      string
	at      time.Time
	data    []byte
	bad     bool // fails the image rules: QC will reject the side
}

type sr struct {
	uuid, microID, externalID, service string
	category, typ, brand, model        string
	actor                              string
	primary, supplement                string
	cert                               string
	created, updated, drafted          time.Time
	moved                              time.Time
	media                              map[string][]media
	reject                             bool
	history                            []legitmark.State
}

// New returns a fake with o.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PresignExpiry == 0 {
		o.PresignExpiry = 300 * time.Second
	}
	if len(o.Keys) == 0 {
		o.Keys = []string{DefaultKey}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Limits.AppPerMinute, 1000)
	def(&o.Limits.UserPerMinute, 60)
	def(&o.Limits.SRPerHour, 100)
	s := &Server{
		o: o, log: o.Log, secret: []byte("fake-s3-signing-secret"),
		keys: map[string]bool{}, users: map[string]string{}, actors: map[string]bool{},
		srs: map[string]*sr{}, nextID: 1,
		appWin: map[string][]time.Time{}, userWin: map[string][]time.Time{}, srWin: map[string][]time.Time{},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	for _, k := range o.Keys {
		s.keys[k] = true
	}
	s.routes()
	return s
}

// ServeHTTP serves the API, the intent endpoint, the bucket and the
// controls.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns how many requests matched route (all when route is "").
func (s *Server) Count(route string) int {
	n := 0
	for _, r := range s.Requests() {
		if route == "" || r.Route == route {
			n++
		}
	}
	return n
}

// AddUserToken makes token a valid actor token (as if registered).
func (s *Server) AddUserToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[token] = "preset"
}

// response is what a route handler produces; the middleware writes it, or
// drops it when a fault says so.
type response struct {
	status int
	header http.Header
	body   []byte
}

func jsonResp(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own values
	}
	return response{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: b}
}

func (s *Server) errResp(status int, message, details string, errs ...legitmark.FieldError) response {
	e := map[string]any{"code": status, "timestamp": s.now().UTC().Format(time.RFC3339Nano), "message": message}
	if details != "" {
		e["details"] = details
	}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	return jsonResp(status, map[string]any{"success": false, "error": e})
}

func s3Err(status int, code, msg string) response {
	body := fmt.Sprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message><RequestId>FAKE</RequestId></Error>", code, msg)
	return response{status: status, header: http.Header{"Content-Type": {"application/xml"}}, body: []byte(body)}
}

func (s *Server) now() time.Time { return s.o.Now() }

// caller is the authenticated identity of an API request.
type caller struct {
	key, scheme, user string
}

// route kinds.
const (
	authAPI    = iota // key (+ user token when required), rate-limited
	authActor         // key only (actor registration), rate-limited per key
	authPublic        // none (find, bucket, media, controls)
)

type handler func(r *http.Request, c *caller) response

func (s *Server) handle(pattern, name string, auth int, h handler) {
	if s.routeNames == nil {
		s.routeNames = map[string]bool{}
	}
	s.routeNames[name] = true
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, name, auth, h) })
}

// serve is the middleware: log, faults before, auth, rate limits, the
// handler (the state change), faults after, write.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, name string, auth int, h handler) {
	c := &caller{}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		c.key, c.scheme = strings.TrimSpace(v), "bearer"
	} else if v := r.Header.Get("x-api-key"); v != "" {
		c.key, c.scheme = v, "x-api-key"
	}
	c.user = r.Header.Get("x-user-token")
	s.mu.Lock()
	idx := len(s.reqs)
	s.reqs = append(s.reqs, Request{Route: name, Method: r.Method, Path: r.URL.Path, At: s.now(), Key: c.key, Scheme: c.scheme, UserToken: c.user})
	f := s.takeFault(name)
	s.mu.Unlock()
	setStatus := func(code int) {
		s.mu.Lock()
		s.reqs[idx].Status = code
		s.mu.Unlock()
	}
	if f != nil {
		switch f.kind {
		case faultDelay:
			if !wait(r.Context(), f.delay) {
				return
			}
		case faultDrop:
			s.log.Info("fault: dropping connection before processing", zap.String("route", name))
			panic(http.ErrAbortHandler)
		case faultStatus, faultS3Warning:
			setStatus(f.resp.status)
			write(w, f.resp)
			return
		}
	}
	var resp response
	var rl http.Header
	if auth != authPublic {
		var ok bool
		resp, ok = s.authorize(c, auth)
		if ok {
			resp, rl, ok = s.admit(c, name)
			if ok {
				resp = h(r, c)
			}
		}
	} else {
		resp = h(r, c)
	}
	for k, v := range rl {
		if resp.header == nil {
			resp.header = http.Header{}
		}
		resp.header[k] = v
	}
	if f != nil {
		switch f.kind {
		case faultCommitThenDrop:
			s.log.Info("fault: dropping the answer after the state change", zap.String("route", name))
			panic(http.ErrAbortHandler)
		case faultCommitThenStatus:
			resp = f.resp
		case faultCommitThenDelay:
			if !wait(r.Context(), f.delay) {
				return
			}
		}
	}
	setStatus(resp.status)
	s.log.Debug("request", zap.String("route", name), zap.String("method", r.Method), zap.Int("status", resp.status))
	write(w, resp)
}

func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func write(w http.ResponseWriter, resp response) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// authorize checks the credentials (§3.9 "Authentication").
func (s *Server) authorize(c *caller, auth int) (response, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.key == "" {
		return s.errResp(401, "Authentication required", "authorization/missing_token"), false
	}
	if !s.keys[c.key] {
		return s.errResp(403, "Forbidden", "authorization/invalid_token"), false
	}
	if auth == authAPI {
		if c.user != "" {
			if _, ok := s.users[c.user]; !ok {
				return s.errResp(403, "Forbidden", "authorization/invalid_user_token"), false
			}
		} else if s.o.RequireUserToken {
			return s.errResp(401, "Authentication required", "authorization/missing_user_token"), false
		}
	}
	return response{}, true
}

// admit applies the sliding-window rate limits and returns the
// X-RateLimit-* headers for the response.
func (s *Server) admit(c *caller, route string) (response, http.Header, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	prune := func(m map[string][]time.Time, k string, win time.Duration) []time.Time {
		ts := m[k]
		i := 0
		for i < len(ts) && !ts[i].After(now.Add(-win)) {
			i++
		}
		ts = ts[i:]
		m[k] = ts
		return ts
	}
	h := http.Header{}
	app := prune(s.appWin, c.key, time.Minute)
	var user []time.Time
	if c.user != "" {
		user = prune(s.userWin, c.user, time.Minute)
	}
	actor := c.user
	if actor == "" {
		actor = c.key
	}
	srs := prune(s.srWin, actor, time.Hour)
	var over []time.Time // the window that is full, to compute Retry-After
	var overWin time.Duration
	lim := s.o.Limits
	switch {
	case lim.AppPerMinute > 0 && len(app) >= lim.AppPerMinute:
		over, overWin = app, time.Minute
	case c.user != "" && lim.UserPerMinute > 0 && len(user) >= lim.UserPerMinute:
		over, overWin = user, time.Minute
	case route == "sr.create" && lim.SRPerHour > 0 && len(srs) >= lim.SRPerHour:
		over, overWin = srs, time.Hour
	}
	if over == nil {
		s.appWin[c.key] = append(app, now)
		app = s.appWin[c.key]
		if c.user != "" {
			s.userWin[c.user] = append(user, now)
			user = s.userWin[c.user]
		}
		if route == "sr.create" {
			s.srWin[actor] = append(srs, now)
		}
	}
	if lim.AppPerMinute > 0 {
		h.Set("X-RateLimit-Limit-Actor", strconv.Itoa(lim.AppPerMinute))
		h.Set("X-RateLimit-Remaining-Actor", strconv.Itoa(max(0, lim.AppPerMinute-len(app))))
	}
	if c.user != "" && lim.UserPerMinute > 0 {
		h.Set("X-RateLimit-Limit-User", strconv.Itoa(lim.UserPerMinute))
		h.Set("X-RateLimit-Remaining-User", strconv.Itoa(max(0, lim.UserPerMinute-len(user))))
	}
	if over == nil {
		return response{}, h, true
	}
	resp := s.errResp(429, "Rate limit exceeded", "error/rate_limit_exceeded")
	if s.o.RetryAfter {
		wait := over[0].Add(overWin).Sub(now)
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	return resp, h, false
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.handle("GET /api/services", "services", authAPI, s.services)
	s.handle("GET /api/v2/categories/tree", "categories.tree", authAPI, s.categoryTree)
	s.handle("GET /api/v2/categories", "categories", authAPI, s.categoryList)
	s.handle("GET /api/v2/categories/{uuid}", "category", authAPI, s.categoryOne)
	s.handle("GET /api/v2/categories/{uuid}/types", "category.types", authAPI, s.categoryTypes)
	s.handle("GET /api/v2/types", "types", authAPI, s.typeList)
	s.handle("GET /api/v2/types/{uuid}", "type", authAPI, s.typeOne)
	s.handle("GET /api/v2/types/{uuid}/brands", "type.brands", authAPI, s.typeBrands)
	s.handle("GET /api/v2/brands", "brands", authAPI, s.brandList)
	s.handle("GET /api/v2/models", "models", authAPI, s.modelList)
	s.handle("POST /api/v2/sr", "sr.create", authAPI, s.createSR)
	s.handle("GET /api/v2/sr/{uuid}", "sr.get", authAPI, s.getSR)
	s.handle("GET /api/v2/sr/{uuid}/side-groups", "sr.sidegroups", authAPI, s.sideGroups)
	s.handle("POST /api/v2/sr/{uuid}/submit", "sr.submit", authAPI, s.submit)
	s.handle("GET /api/side-groups/progress", "progress", authAPI, s.progress)
	s.handle("GET /api/sr/find/{id}", "sr.find", authPublic, s.find)
	s.handle("POST /api/actor/users", "actor.users", authActor, s.actorUsers)
	s.handle("GET /intent", "intent", authAPI, s.intent)
	s.handle("PUT /s3/sr/{sr}/{file}", "s3.put", authPublic, s.s3Put)
	s.handle("GET /s3/sr/{sr}/{file}", "s3.get", authPublic, s.s3Get)
	s.handle("GET /media/{kind}/{file}", "media", authPublic, s.template)
	s.handle("POST /_fake/sr/{uuid}/{action}", "control", authPublic, s.control)
	s.handle("POST /_fake/faults", "control", authPublic, s.injectControl)
	s.handle("DELETE /_fake/faults", "control", authPublic, s.clearControl)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, "unknown", authPublic, func(*http.Request, *caller) response {
			return s.errResp(404, "Not found", "")
		})
	})
}

// ---- taxonomy ----

func ok(v any) response {
	return jsonResp(200, map[string]any{"success": true, "message": "OK", "data": v})
}

// taxonomyOK is the category/type wrapper: no "success", category "SUCCESS",
// cache fields.
func taxonomyOK(v any, meta map[string]any) response {
	m := map[string]any{"message": "Request successful", "category": "SUCCESS", "data": v, "rc_hit": false, "rc_key": "fake"}
	if meta != nil {
		m["metadata"] = meta
	}
	return jsonResp(200, m)
}

func (s *Server) services(*http.Request, *caller) response {
	var out []map[string]any
	for _, sv := range services {
		out = append(out, map[string]any{"uuid": sv.uuid, "name": sv.name, "description": sv.desc, "active": true})
	}
	return ok(out)
}

func typeJSON(t itemType, cat string) map[string]any {
	var bs []map[string]any
	for _, b := range t.brands {
		bs = append(bs, map[string]any{"uuid": b.uuid, "name": b.name, "active": true})
	}
	return map[string]any{"uuid": t.uuid, "name": t.name, "active": true, "category": cat, "brands": bs}
}

func categoryJSON(c category, withTypes bool) map[string]any {
	m := map[string]any{"uuid": c.uuid, "name": c.name, "active": c.active, "parent_id": nil}
	if withTypes {
		var ts []map[string]any
		for _, t := range c.types {
			ts = append(ts, typeJSON(t, c.uuid))
		}
		m["types"] = ts
		m["children"] = []any{}
	}
	return m
}

func activeOnly(r *http.Request) bool {
	q := r.URL.Query()
	return q.Get("active_only") == "true" || q.Get("activeOnly") == "true"
}

func (s *Server) categoryTree(r *http.Request, _ *caller) response {
	var out []map[string]any
	for _, c := range categories {
		if activeOnly(r) && !c.active {
			continue
		}
		out = append(out, categoryJSON(c, true))
	}
	return taxonomyOK(out, nil)
}

func (s *Server) categoryList(r *http.Request, _ *caller) response {
	q := r.URL.Query()
	page, size := atoi(q.Get("page_number"), 1), atoi(q.Get("page_size"), 20)
	if page < 1 || size < 1 || size > 100 {
		return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/page_size", Message: "page_size must be 1 to 100"})
	}
	var all []map[string]any
	for _, c := range categories {
		if activeOnly(r) && !c.active {
			continue
		}
		if sq := q.Get("search_query"); sq != "" && !strings.Contains(strings.ToLower(c.name), strings.ToLower(sq)) {
			continue
		}
		all = append(all, categoryJSON(c, false))
	}
	lo, hi := min((page-1)*size, len(all)), min(page*size, len(all))
	return taxonomyOK(all[lo:hi], map[string]any{"total_count": len(all), "page_number": page, "page_size": size,
		"total_pages": (len(all) + size - 1) / size})
}

func (s *Server) categoryOne(r *http.Request, _ *caller) response {
	c := findCategory(r.PathValue("uuid"))
	if c == nil {
		return s.errResp(404, "Category not found", "")
	}
	return taxonomyOK(categoryJSON(*c, true), nil)
}

func (s *Server) categoryTypes(r *http.Request, _ *caller) response {
	c := findCategory(r.PathValue("uuid"))
	if c == nil {
		return s.errResp(404, "Category not found", "")
	}
	var ts []map[string]any
	for _, t := range c.types {
		ts = append(ts, typeJSON(t, c.uuid))
	}
	return taxonomyOK(ts, nil)
}

func (s *Server) typeList(*http.Request, *caller) response {
	var ts []map[string]any
	for _, c := range categories {
		for _, t := range c.types {
			ts = append(ts, typeJSON(t, c.uuid))
		}
	}
	return taxonomyOK(ts, nil)
}

func (s *Server) typeOne(r *http.Request, _ *caller) response {
	t, c := findType(r.PathValue("uuid"))
	if t == nil {
		return s.errResp(404, "Type not found", "")
	}
	return taxonomyOK(typeJSON(*t, c.uuid), nil)
}

func (s *Server) typeBrands(r *http.Request, _ *caller) response {
	t, _ := findType(r.PathValue("uuid"))
	if t == nil {
		return s.errResp(404, "Type not found", "")
	}
	var bs []map[string]any
	for _, b := range t.brands {
		bs = append(bs, map[string]any{"uuid": b.uuid, "name": b.name, "active": true})
	}
	return ok(bs)
}

func (s *Server) brandList(r *http.Request, _ *caller) response {
	q := r.URL.Query()
	var bs []map[string]any
	for _, b := range []brand{nike, adidas, lv} {
		if sq := q.Get("search"); sq != "" && !strings.Contains(strings.ToLower(b.name), strings.ToLower(sq)) {
			continue
		}
		bs = append(bs, map[string]any{"uuid": b.uuid, "name": b.name, "active": true})
	}
	return jsonResp(200, map[string]any{"success": true, "data": bs,
		"metadata": map[string]any{"total_count": len(bs), "page_number": 1, "page_size": 100, "total_pages": 1}})
}

func (s *Server) modelList(r *http.Request, _ *caller) response {
	q := r.URL.Query()
	var ms []map[string]any
	for _, m := range models {
		if (q.Get("brand_uuid") != "" && q.Get("brand_uuid") != m.brand) || (q.Get("type_uuid") != "" && q.Get("type_uuid") != m.typ) ||
			(q.Get("category_uuid") != "" && q.Get("category_uuid") != m.category) ||
			(q.Get("search_query") != "" && !strings.Contains(strings.ToLower(m.name), strings.ToLower(q.Get("search_query")))) {
			continue
		}
		ms = append(ms, map[string]any{"uuid": m.uuid, "name": m.name, "brand": m.brand, "type": m.typ, "category": m.category})
	}
	// The list is under "models", not "data" (§2.4).
	return jsonResp(200, map[string]any{"success": true, "models": ms})
}

func atoi(s string, def int) int {
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return v
}

// ---- service requests ----

func (s *Server) createSR(r *http.Request, c *caller) response {
	var body struct {
		ReferenceID string `json:"reference_id"`
		ExternalID  string `json:"external_id"`
		Service     string `json:"service"`
		Item        *struct {
			Category string `json:"category"`
			Type     string `json:"type"`
			Brand    string `json:"brand"`
			Model    string `json:"model"`
		} `json:"item"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/invalid-json", Message: "body is not valid JSON"})
	}
	missing := func(f string) response {
		return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/missing-field", Message: f + " is required"})
	}
	unknown := func(f string) response {
		return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/unknown-" + f, Message: f + " does not exist"})
	}
	ref := body.ReferenceID
	if ref == "" {
		ref = body.ExternalID
	}
	switch {
	case body.Item == nil || body.Item.Category == "":
		return missing("item.category")
	case body.Item.Type == "":
		return missing("item.type")
	case ref == "":
		return missing("reference_id")
	}
	cat := findCategory(body.Item.Category)
	if cat == nil || !cat.active {
		return unknown("category")
	}
	t, tc := findType(body.Item.Type)
	if t == nil || tc.uuid != cat.uuid {
		return unknown("type")
	}
	if body.Item.Brand != "" {
		found := false
		for _, b := range t.brands {
			found = found || b.uuid == body.Item.Brand
		}
		if !found {
			return unknown("brand")
		}
	}
	svc := body.Service
	if svc == "" {
		svc = ServiceStandard // "auto-resolved"
	} else if svc != ServiceStandard && svc != ServiceExpress {
		return unknown("service")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	id := s.nextID
	s.nextID++
	x := &sr{
		uuid:    fmt.Sprintf("5a000000-0000-4000-8000-%012d", id),
		microID: strconv.Itoa(998000 + id), externalID: ref, service: svc,
		category: cat.uuid, typ: t.uuid, brand: body.Item.Brand, model: body.Item.Model,
		actor: c.user, primary: legitmark.StateDraft, created: now, updated: now, drafted: now, moved: now,
		media: map[string][]media{}, reject: s.o.Reject,
	}
	x.history = append(x.history, legitmark.State{Primary: legitmark.StateDraft})
	s.srs[x.uuid] = x
	s.order = append(s.order, x.uuid)
	return jsonResp(200, map[string]any{"success": true, "message": "Service request initiated successfully.", "sr": s.srJSON(x, legitmark.Include{})})
}

func (s *Server) lookup(id string) *sr {
	if x := s.srs[id]; x != nil {
		return x
	}
	for _, u := range s.order {
		x := s.srs[u]
		if x.microID == id || x.externalID == id {
			return x
		}
	}
	return nil
}

func (s *Server) sidesOf(x *sr) []sideGroup { return findCategory(x.category).groups }

func (s *Server) progressOf(x *sr) map[string]any {
	var cr, tr, co, to int
	for _, g := range s.sidesOf(x) {
		for _, d := range g.sides {
			has := len(x.media[d.uuid]) > 0
			if d.required {
				tr++
				if has {
					cr++
				}
			} else {
				to++
				if has {
					co++
				}
			}
		}
	}
	return map[string]any{"current_required": cr, "total_required": tr, "current_optional": co, "total_optional": to, "met": cr == tr}
}

func (s *Server) sideJSON(r *http.Request, x *sr, g sideGroup, d sideDef, requirements bool) map[string]any {
	m := map[string]any{"uuid": d.uuid, "name": d.name, "required": d.required, "active": true}
	var versions []map[string]any
	ms := x.media[d.uuid]
	for i, v := range ms {
		versions = append(versions, map[string]any{"url": base(r) + "/s3/sr/" + x.uuid + "/" + d.uuid + "." + extOf(v.ct),
			"version_id": v.version, "last_modified": v.at.UTC().Format(time.RFC3339Nano), "size": v.size, "is_latest": i == len(ms)-1})
	}
	m["media_url"] = versions
	if requirements {
		m["description"] = d.desc
		m["side_group_id"] = g.uuid
		m["side_group_name"] = g.name
		m["overlay_image"] = base(r) + "/media/overlay/" + d.uuid + ".png"
		m["example_image"] = base(r) + "/media/example/" + d.uuid + ".jpg"
		m["thumbnail_image"] = base(r) + "/media/thumbnail/" + d.uuid + ".png"
		m["assignment_level"] = "category"
		m["inherited_from"] = x.category
	}
	return m
}

func extOf(ct string) string {
	if ct == "image/png" {
		return "png"
	}
	return "jpg"
}

func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func stateJSON(p, sup string) map[string]any {
	m := map[string]any{"primary": p, "supplement": nil}
	if sup != "" {
		m["supplement"] = sup
	}
	return m
}

// srJSON renders an SR with the include flags, applying the documented
// dependencies: sides is ignored without item, requirements without item
// and sides.
func (s *Server) srJSON(x *sr, in legitmark.Include, r ...*http.Request) map[string]any {
	m := map[string]any{
		"uuid": x.uuid, "active": true, "migrated": false, "micro_id": x.microID, "legacy_id": nil,
		"external_id": x.externalID, "tab": x.primary, "source": "api", "partner_code": nil,
		"state": stateJSON(x.primary, x.supplement), "user": "user-" + shortHash(x.actor), "service": x.service,
		"created_at": x.created.UTC().Format(time.RFC3339Nano), "updated_at": x.updated.UTC().Format(time.RFC3339Nano),
		"drafted_at": x.drafted.UTC().Format(time.RFC3339Nano),
	}
	if x.cert != "" {
		m["certificate_url"] = x.cert
	}
	if in.Summary {
		m["summary"] = map[string]any{"sides_uploaded": s.progressOf(x)["current_required"]}
	}
	if in.Outcome && (x.primary == legitmark.StateComplete) {
		m["outcome"] = map[string]any{"result": x.supplement}
	}
	if in.Item {
		cat := findCategory(x.category)
		t, _ := findType(x.typ)
		item := map[string]any{"category": map[string]any{"uuid": cat.uuid, "name": cat.name}}
		tj := map[string]any{"uuid": t.uuid, "name": t.name}
		if s.o.ItemTypeQuirk {
			item["type"], item["types"] = "undefined", tj
		} else {
			item["type"] = tj
		}
		if b := findBrand(x.brand); b != nil {
			item["brand"] = map[string]any{"uuid": b.uuid, "name": b.name}
		}
		m["item"] = item
		if in.Sides && len(r) > 0 {
			req, opt := []map[string]any{}, []map[string]any{}
			for _, g := range s.sidesOf(x) {
				for _, d := range g.sides {
					j := s.sideJSON(r[0], x, g, d, in.Requirements)
					if d.required {
						req = append(req, j)
					} else {
						opt = append(opt, j)
					}
				}
			}
			m["sides"] = map[string]any{"required": req, "optional": opt, "progress": s.progressOf(x)}
		}
	}
	return m
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

func flag(r *http.Request, k string) bool { return r.URL.Query().Get(k) == "true" }

func (s *Server) getSR(r *http.Request, _ *caller) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.srs[r.PathValue("uuid")]
	if x == nil {
		return s.errResp(404, "Service request not found", "")
	}
	s.tick(x)
	in := legitmark.Include{Summary: flag(r, "summary"), User: flag(r, "user"), Service: flag(r, "service"), Outcome: flag(r, "outcome"),
		Item: flag(r, "item")}
	in.Sides = in.Item && flag(r, "sides")
	in.Requirements = in.Sides && flag(r, "requirements")
	return jsonResp(200, map[string]any{"success": true, "sr": s.srJSON(x, in, r)})
}

func (s *Server) sideGroups(r *http.Request, _ *caller) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.srs[r.PathValue("uuid")]
	if x == nil {
		return s.errResp(404, "Service request not found", "")
	}
	var gs []map[string]any
	for _, g := range s.sidesOf(x) {
		var sides []map[string]any
		for _, d := range g.sides {
			sides = append(sides, s.sideJSON(r, x, g, d, true))
		}
		gs = append(gs, map[string]any{"uuid": g.uuid, "name": g.name, "description": g.desc, "lock": false, "sides": sides})
	}
	return jsonResp(200, map[string]any{"success": true, "message": "Side groups retrieved", "data": map[string]any{"side_groups": gs}})
}

func (s *Server) progress(r *http.Request, _ *caller) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.srs[r.URL.Query().Get("sr_id")]
	if x == nil {
		return s.errResp(404, "Service request not found", "")
	}
	return jsonResp(200, map[string]any{"success": true, "progress": s.progressOf(x), "last_updated": x.updated.UTC().Format(time.RFC3339Nano), "s3_error": false})
}

func (s *Server) submit(r *http.Request, _ *caller) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.srs[r.PathValue("uuid")]
	if x == nil {
		return s.errResp(404, "Service request not found", "")
	}
	resubmit := x.primary == legitmark.StateQC && x.supplement == legitmark.SupplementRejected
	if x.primary != legitmark.StateDraft && !resubmit {
		return s.errResp(409, "Service request already submitted", "conflict/already-submitted")
	}
	if met, _ := s.progressOf(x)["met"].(bool); !met {
		return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/requirements-not-met", Message: "Required images are missing."})
	}
	sup := legitmark.SupplementPending
	if s.o.SubmitSupplementNull {
		sup = ""
	}
	s.move(x, legitmark.StateQC, sup)
	return jsonResp(200, map[string]any{"success": true, "message": "Service request submitted for authentication.",
		"sr": map[string]any{"uuid": x.uuid, "micro_id": x.microID, "state": stateJSON(x.primary, x.supplement)}})
}

func (s *Server) find(r *http.Request, _ *caller) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.lookup(r.PathValue("id"))
	if x == nil {
		return s.errResp(404, "Service request not found", "")
	}
	s.tick(x)
	return jsonResp(200, map[string]any{"success": true, "sr": s.srJSON(x, legitmark.Include{})})
}

func (s *Server) actorUsers(r *http.Request, _ *caller) response {
	var a legitmark.ActorUser
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&a); err != nil {
		return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/invalid-json", Message: "body is not valid JSON"})
	}
	for _, f := range []struct{ name, v string }{{"actor_user_id", a.ActorUserID}, {"email", a.Email}, {"first_name", a.FirstName},
		{"last_name", a.LastName}, {"business_name", a.BusinessName}, {"certificate_issuance_name", a.CertificateIssuanceName}} {
		if strings.TrimSpace(f.v) == "" {
			return s.errResp(400, "Validation failed", "", legitmark.FieldError{Code: "validation/missing-" + f.name, Message: f.name + " is required."})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.actors[a.ActorUserID] {
		return s.errResp(409, "Actor user already exists", "conflict/duplicate-actor")
	}
	s.actors[a.ActorUserID] = true
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte("actor:" + a.ActorUserID))
	tok := "lm_usr_" + hex.EncodeToString(mac.Sum(nil))[:12]
	s.users[tok] = a.ActorUserID
	return jsonResp(200, map[string]any{"success": true, "message": "User created successfully.", "data": map[string]any{"legitmark_user_token": tok}})
}

// ---- uploads ----

var extTypes = map[string]string{"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "heic": "image/heic", "dng": "image/x-adobe-dng"}

func (s *Server) sign(path, date, expires, signed string) string {
	mac := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(mac, "PUT\n%s\n%s\n%s\n%s", path, date, expires, signed)
	return hex.EncodeToString(mac.Sum(nil))
}

func (s *Server) intent(r *http.Request, _ *caller) response {
	q := r.URL.Query()
	side := q.Get("side")
	dot := strings.LastIndexByte(side, '.')
	if dot <= 0 {
		return s.errResp(400, "The side parameter must include a file extension", "validation/missing-extension")
	}
	sideID, ext := side[:dot], strings.ToLower(side[dot+1:])
	if _, ok := extTypes[ext]; !ok {
		return s.errResp(400, "Unsupported file extension", "validation/invalid-extension")
	}
	s.mu.Lock()
	x := s.srs[q.Get("sr")]
	var known bool
	if x != nil {
		for _, g := range s.sidesOf(x) {
			for _, d := range g.sides {
				known = known || d.uuid == sideID
			}
		}
	}
	expired := s.takeExpired()
	s.mu.Unlock()
	if x == nil || !known {
		return s.errResp(404, "Service request or side not found", "")
	}
	now := s.now().UTC()
	if expired {
		now = now.Add(-s.o.PresignExpiry - time.Second)
	}
	path := "/s3/sr/" + x.uuid + "/" + sideID + "." + ext
	date := now.Format("20060102T150405Z")
	expires := strconv.Itoa(int(s.o.PresignExpiry / time.Second))
	signed := "host;x-amz-acl"
	v := url.Values{}
	v.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	v.Set("X-Amz-Credential", "FAKEACCESSKEY/"+now.Format("20060102")+"/us-east-1/s3/aws4_request")
	v.Set("X-Amz-Date", date)
	v.Set("X-Amz-Expires", expires)
	v.Set("X-Amz-SignedHeaders", signed)
	v.Set("X-Amz-Signature", s.sign(path, date, expires, signed))
	return jsonResp(200, map[string]any{"message": "Pre-signed URL generated successfully.", "url": base(r) + path + "?" + v.Encode()})
}

func (s *Server) s3Put(r *http.Request, _ *caller) response {
	// Read the body first, as S3 does before answering: an early error
	// answer to a client still sending would look like a reset. Only the
	// head is kept (for the QC check) unless KeepUploads.
	var (
		hash = sha256.New()
		head = &headBuffer{b: make([]byte, 0, 64<<10), max: 64 << 10}
		all  bytes.Buffer
		sink = io.MultiWriter(hash, head)
	)
	if s.o.KeepUploads {
		sink = io.MultiWriter(hash, head, &all)
	}
	n, rerr := io.Copy(sink, io.LimitReader(r.Body, 16<<20+1))
	q := r.URL.Query()
	date, expires, signed := q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"), q.Get("X-Amz-SignedHeaders")
	want := s.sign(r.URL.Path, date, expires, signed)
	if !hmac.Equal([]byte(want), []byte(q.Get("X-Amz-Signature"))) {
		return s3Err(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
	}
	t, err := time.Parse("20060102T150405Z", date)
	secs, err2 := strconv.Atoi(expires)
	if err != nil || err2 != nil || !s.now().Before(t.Add(time.Duration(secs)*time.Second)) {
		return s3Err(403, "AccessDenied", "Request has expired")
	}
	if strings.Contains(signed, "x-amz-acl") && r.Header.Get("x-amz-acl") != "public-read" {
		return s3Err(403, "SignatureDoesNotMatch", "Signed header x-amz-acl is missing.")
	}
	file := r.PathValue("file")
	dot := strings.LastIndexByte(file, '.')
	if dot <= 0 || extTypes[file[dot+1:]] != r.Header.Get("Content-Type") {
		return s3Err(400, "InvalidArgument", "Content-Type does not match the object's extension.")
	}
	if rerr != nil {
		return s3Err(400, "IncompleteBody", "The request body ended early.")
	}
	if n > 16<<20 {
		return s3Err(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
	}
	if r.ContentLength >= 0 && n != r.ContentLength {
		return s3Err(400, "IncompleteBody", "The request body ended early.")
	}
	m := media{size: int(n), digest: hex.EncodeToString(hash.Sum(nil)), ct: r.Header.Get("Content-Type"), bad: !imageOK(head.b, int(n))}
	if s.o.KeepUploads {
		m.data = all.Bytes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.srs[r.PathValue("sr")]
	if x == nil {
		return s3Err(404, "NoSuchKey", "The specified key does not exist.")
	}
	m.at = s.now()
	m.version = fmt.Sprintf("v%d", len(x.media[file[:dot]])+1)
	x.media[file[:dot]] = append(x.media[file[:dot]], m)
	x.updated = m.at
	return response{status: 200, header: http.Header{"ETag": {`"` + m.digest[:32] + `"`}}}
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// imageOK applies the documented image rules, for QC emulation, to the head
// of an upload of size bytes.
func imageOK(b []byte, size int) bool {
	if size > legitmark.MaxImageBytes {
		return false
	}
	var cfg image.Config
	var err error
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(b))
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		cfg, err = png.DecodeConfig(bytes.NewReader(b))
	default:
		return false
	}
	return err == nil && cfg.Width >= legitmark.MinImageSide && cfg.Height >= legitmark.MinImageSide
}

func (s *Server) s3Get(r *http.Request, _ *caller) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.srs[r.PathValue("sr")]
	file := r.PathValue("file")
	dot := strings.LastIndexByte(file, '.')
	if x == nil || dot <= 0 || len(x.media[file[:dot]]) == 0 {
		return s3Err(404, "NoSuchKey", "The specified key does not exist.")
	}
	m := x.media[file[:dot]][len(x.media[file[:dot]])-1]
	if m.data == nil {
		return s3Err(404, "NoSuchKey", "The fake keeps no bytes (KeepUploads is off).")
	}
	return response{status: 200, header: http.Header{"Content-Type": {m.ct}}, body: m.data}
}

// template serves generated guide images: an overlay outline (PNG with
// alpha), an example photo (JPEG) and a thumbnail.
func (s *Server) template(r *http.Request, _ *caller) response {
	s.mu.Lock()
	if s.templPNG == nil {
		m := image.NewNRGBA(image.Rect(0, 0, 240, 240))
		for i := 20; i < 220; i++ {
			for _, p := range [][2]int{{i, 20}, {i, 219}, {20, i}, {219, i}, {i, i}} {
				m.Set(p[0], p[1], color.NRGBA{255, 255, 255, 220})
			}
		}
		var b bytes.Buffer
		_ = png.Encode(&b, m)
		s.templPNG = b.Bytes()
	}
	p := s.templPNG
	s.mu.Unlock()
	if r.PathValue("kind") == "example" {
		m := image.NewGray(image.Rect(0, 0, 240, 240))
		for i := range m.Pix {
			m.Pix[i] = uint8(i % 251)
		}
		var b bytes.Buffer
		_ = jpeg.Encode(&b, m, nil)
		return response{status: 200, header: http.Header{"Content-Type": {"image/jpeg"}}, body: b.Bytes()}
	}
	return response{status: 200, header: http.Header{"Content-Type": {"image/png"}}, body: p}
}

// ---- state machine ----

// transitions lists the moves the fake allows (remote-apis.md §2.7).
var transitions = map[string][]string{
	"DRAFT":             {"QC/PENDING", "QC/", "CANCELLED/"},
	"QC/":               {"QC/APPROVED", "QC/REJECTED", "QC/COMPLETE", "CANCELLED/"},
	"QC/PENDING":        {"QC/APPROVED", "QC/REJECTED", "QC/COMPLETE", "CANCELLED/"},
	"QC/REJECTED":       {"QC/PENDING", "QC/", "CANCELLED/"},
	"QC/APPROVED":       {"UNDERWAY/PENDING", "CANCELLED/"},
	"UNDERWAY/PENDING":  {"UNDERWAY/ASSIGNED", "CANCELLED/"},
	"UNDERWAY/ASSIGNED": {"UNDERWAY/APPROVED", "COMPLETE/APPROVED", "COMPLETE/REJECTED", "CANCELLED/"},
	"UNDERWAY/APPROVED": {"COMPLETE/APPROVED", "COMPLETE/REJECTED", "CANCELLED/"},
	"COMPLETE/APPROVED": {"COMPLETE/COMPLETE"},
	"COMPLETE/REJECTED": {"COMPLETE/COMPLETE"},
}

func key(p, sup string) string {
	if p == legitmark.StateDraft {
		return p
	}
	return p + "/" + sup
}

// ErrTransition is a state change the state machine does not allow.
var ErrTransition = errors.New("legitmarktest: transition not allowed")

func (s *Server) move(x *sr, p, sup string) {
	x.primary, x.supplement = p, sup
	now := s.now()
	x.updated, x.moved = now, now
	x.history = append(x.history, legitmark.State{Primary: p, Supplement: sup})
	if p == legitmark.StateComplete && sup == legitmark.SupplementApproved && x.cert == "" {
		x.cert = fmt.Sprintf("https://media.legitmark.com/document/certificate/%s_legitmark_certificate_%d.pdf", x.microID, now.Unix())
	}
}

func (s *Server) setState(x *sr, p, sup string) error {
	for _, to := range transitions[key(x.primary, x.supplement)] {
		if to == key(p, sup) || (p == legitmark.StateCancelled && to == "CANCELLED/") {
			s.move(x, p, sup)
			return nil
		}
	}
	return fmt.Errorf("%w: %s → %s", ErrTransition, legitmark.State{Primary: x.primary, Supplement: x.supplement}, legitmark.State{Primary: p, Supplement: sup})
}

// advance moves a submitted SR one step along the happy path. QC rejects
// the sides whose latest image fails the image rules, clearing them.
func (s *Server) advance(x *sr) error {
	switch key(x.primary, x.supplement) {
	case "QC/", "QC/PENDING":
		var bad []string
		for side, ms := range x.media {
			if len(ms) > 0 && ms[len(ms)-1].bad {
				bad = append(bad, side)
			}
		}
		if len(bad) > 0 {
			return s.rejectQC(x, bad)
		}
		return s.setState(x, legitmark.StateQC, legitmark.SupplementApproved)
	case "QC/APPROVED":
		return s.setState(x, legitmark.StateUnderway, legitmark.SupplementPending)
	case "UNDERWAY/PENDING":
		return s.setState(x, legitmark.StateUnderway, legitmark.SupplementAssigned)
	case "UNDERWAY/ASSIGNED":
		return s.setState(x, legitmark.StateUnderway, legitmark.SupplementApproved)
	case "UNDERWAY/APPROVED":
		if x.reject {
			return s.setState(x, legitmark.StateComplete, legitmark.SupplementRejected)
		}
		return s.setState(x, legitmark.StateComplete, legitmark.SupplementApproved)
	}
	return fmt.Errorf("%w: %s does not advance by itself", ErrTransition, legitmark.State{Primary: x.primary, Supplement: x.supplement})
}

func (s *Server) rejectQC(x *sr, sides []string) error {
	if err := s.setState(x, legitmark.StateQC, legitmark.SupplementRejected); err != nil {
		return err
	}
	for _, side := range sides {
		delete(x.media, side)
	}
	return nil
}

// tick applies AutoAdvance lazily, on each read of the SR.
func (s *Server) tick(x *sr) {
	if s.o.AutoAdvance <= 0 {
		return
	}
	now := s.now()
	for now.Sub(x.moved) >= s.o.AutoAdvance {
		at := x.moved.Add(s.o.AutoAdvance)
		if s.advance(x) != nil {
			return
		}
		x.moved = at
	}
}

func (s *Server) withSR(uuid string, f func(*sr) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.lookup(uuid)
	if x == nil {
		return fmt.Errorf("legitmarktest: no service request %q", uuid)
	}
	return f(x)
}

// Advance moves a submitted SR one step along the happy path: QC/PENDING →
// QC/APPROVED (or QC/REJECTED when an image fails the rules) →
// UNDERWAY/PENDING → UNDERWAY/ASSIGNED → UNDERWAY/APPROVED →
// COMPLETE/APPROVED (or REJECTED after SetOutcome(false)).
func (s *Server) Advance(uuid string) error {
	return s.withSR(uuid, s.advance)
}

// SetOutcome chooses how authentication ends for the SR.
func (s *Server) SetOutcome(uuid string, authentic bool) error {
	return s.withSR(uuid, func(x *sr) error { x.reject = !authentic; return nil })
}

// RejectQC moves the SR to QC/REJECTED and clears the named sides (UUIDs),
// as a media_rejected event would; the station resubmits after re-uploading
// them.
func (s *Server) RejectQC(uuid string, sides ...string) error {
	return s.withSR(uuid, func(x *sr) error { return s.rejectQC(x, sides) })
}

// SetState moves the SR to any state the state machine allows from its
// current one.
func (s *Server) SetState(uuid string, st legitmark.State) error {
	return s.withSR(uuid, func(x *sr) error { return s.setState(x, st.Primary, st.Supplement) })
}

// Cancel moves the SR to CANCELLED.
func (s *Server) Cancel(uuid string) error {
	return s.withSR(uuid, func(x *sr) error { return s.setState(x, legitmark.StateCancelled, "") })
}

// SRInfo is a snapshot of a fake SR for assertions.
type SRInfo struct {
	UUID, MicroID, ExternalID string
	State                     legitmark.State
	History                   []legitmark.State
	Uploads                   map[string]int // side UUID → PUT versions
	CertificateURL            string
}

// SR returns a snapshot of the SR with that UUID, micro ID or external ID.
func (s *Server) SR(id string) (SRInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.lookup(id)
	if x == nil {
		return SRInfo{}, false
	}
	info := SRInfo{UUID: x.uuid, MicroID: x.microID, ExternalID: x.externalID, State: legitmark.State{Primary: x.primary, Supplement: x.supplement},
		History: append([]legitmark.State(nil), x.history...), Uploads: map[string]int{}, CertificateURL: x.cert}
	for k, v := range x.media {
		info.Uploads[k] = len(v)
	}
	return info, true
}

// SRs returns the UUIDs of all SRs in creation order.
func (s *Server) SRs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.order...)
}

// SideUUIDs returns the side UUIDs a category requires (required first).
func SideUUIDs(categoryUUID string, required bool) []string {
	var out []string
	if c := findCategory(categoryUUID); c != nil {
		for _, g := range c.groups {
			for _, d := range g.sides {
				if d.required == required {
					out = append(out, d.uuid)
				}
			}
		}
	}
	return out
}

// SideNames returns the names of a category's sides (required or optional).
func SideNames(categoryUUID string, required bool) []string {
	var out []string
	if c := findCategory(categoryUUID); c != nil {
		for _, g := range c.groups {
			for _, d := range g.sides {
				if d.required == required {
					out = append(out, d.name)
				}
			}
		}
	}
	return out
}

// control serves the /_fake/ test controls for manual end-to-end runs:
// POST /_fake/sr/{uuid}/advance | reject-qc?side=<uuid>&side=… |
// complete?authentic=false | cancel. Faults are injected with POST
// /_fake/faults (injectControl) and removed with DELETE /_fake/faults.
func (s *Server) control(r *http.Request, _ *caller) response {
	id := r.PathValue("uuid")
	var err error
	switch r.PathValue("action") {
	case "advance":
		err = s.Advance(id)
	case "reject-qc":
		err = s.RejectQC(id, r.URL.Query()["side"]...)
	case "complete":
		if err = s.SetOutcome(id, r.URL.Query().Get("authentic") != "false"); err == nil {
			for range 5 {
				if s.Advance(id) != nil {
					break
				}
			}
		}
	case "cancel":
		err = s.Cancel(id)
	default:
		return s.errResp(404, "Unknown control", "")
	}
	if err != nil {
		return s.errResp(409, err.Error(), "")
	}
	info, _ := s.SR(id)
	return jsonResp(200, map[string]any{"success": true, "state": stateJSON(info.State.Primary, info.State.Supplement)})
}

// injectControl serves POST /_fake/faults: a FaultSpec as JSON is
// injected (Inject) for manual end-to-end runs against the demo server.
func (s *Server) injectControl(r *http.Request, _ *caller) response {
	var fs FaultSpec
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fs); err != nil {
		return s.errResp(400, "want a fault as JSON", "")
	}
	if !s.routeNames[fs.Route] || fs.Route == "control" {
		return s.errResp(400, "unknown route", "")
	}
	f, n, err := fs.Fault()
	if err != nil {
		return s.errResp(400, err.Error(), "")
	}
	s.Inject(fs.Route, f, n)
	return jsonResp(200, map[string]any{"success": true})
}

// clearControl serves DELETE /_fake/faults: every injected fault is removed.
func (s *Server) clearControl(*http.Request, *caller) response {
	s.Clear()
	return jsonResp(200, map[string]any{"success": true})
}

// ---- serving ----

// ListenAndServe serves the fake on addr until ctx is done, for
// `nfcd fake legitmark --listen ADDR`. Point the daemon at it with
// base_url = "http://ADDR", intent_url = "http://ADDR/intent" and
// api_key = DefaultKey. ready, if not nil, gets the bound address.
func ListenAndServe(ctx context.Context, addr string, o Options, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return Serve(ctx, ln, New(o))
}

// Serve serves s on ln until ctx is done; cancellation is not an error.
func Serve(ctx context.Context, ln net.Listener, s *Server) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("fake legitmark listening", zap.String("addr", ln.Addr().String()))
	err := srv.Serve(ln)
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
