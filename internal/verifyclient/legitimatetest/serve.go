package legitimatetest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verifyclient"
)

// FaultKind says what a Fault does to a request.
type FaultKind string

// Faults. "Before" faults act before the request is processed (no state
// change); "commit then" faults apply the state change first — for
// tags/verify that consumes the triple — and then spoil the answer.
const (
	// DropBeforeCommit closes the connection without processing or
	// answering.
	DropBeforeCommit FaultKind = "drop_before_commit"
	// CommitThenDrop processes the request, then closes the connection
	// without an answer: the key idempotency test.
	CommitThenDrop FaultKind = "commit_then_drop"
	// Delay waits Delay before processing; a client that gives up first
	// leaves no side effect.
	Delay FaultKind = "delay"
	// CommitThenDelay processes, then answers after Delay (after the
	// client's deadline, typically).
	CommitThenDelay FaultKind = "commit_then_delay"
	// Status answers Code (with RetryAfter, Body, ContentType) before
	// processing: 429, 500, 503, …
	Status FaultKind = "status"
	// CommitThenStatus processes, then answers Code (a gateway that lost
	// the upstream's reply: 502, 504).
	CommitThenStatus FaultKind = "commit_then_status"
	// Malformed processes, then answers the real status with JSON cut in
	// the middle.
	Malformed FaultKind = "malformed"
	// WrongContentType processes, then answers the real body as text/html.
	WrongContentType FaultKind = "wrong_content_type"
	// SlowBody processes, then sends the real body one byte every Delay.
	SlowBody FaultKind = "slow_body"
	// Truncated processes, then sends half the announced body and closes.
	Truncated FaultKind = "truncated"
	// OKWithErrors answers 200 with an "errors" body (Body, or a generic
	// one) before processing.
	OKWithErrors FaultKind = "ok_with_errors"
	// Redirect answers Code (default 307) with Location before processing.
	Redirect FaultKind = "redirect"
)

// Fault is a failure injected into the next Times requests of Route.
type Fault struct {
	Route       string            `json:"route"` // "verify", "latest", …; "" for every route
	Kind        FaultKind         `json:"kind"`
	Times       int               `json:"times"` // 0 means 1
	Code        int               `json:"code"`
	RetryAfter  string            `json:"retry_after"`
	Body        string            `json:"body"`
	ContentType string            `json:"content_type"`
	Delay       tomlfile.Duration `json:"delay"`
	Location    string            `json:"location"`
}

// Inject queues a fault. Faults apply in the order injected.
func (f *Fake) Inject(fl Fault) {
	if fl.Times <= 0 {
		fl.Times = 1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fl)
}

// ClearFaults drops every queued fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// takeFault pops the next fault for route.
func (f *Fake) takeFault(route string) *Fault {
	for i, fl := range f.faults {
		if fl.Route == "" || fl.Route == route {
			fl.Times--
			if fl.Times <= 0 {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
			}
			c := *fl
			return &c
		}
	}
	return nil
}

// route maps a request to its route name and path UID.
func route(r *http.Request) (name, uid string) {
	p, ok := strings.CutPrefix(r.URL.Path, BasePath)
	if !ok {
		return "", ""
	}
	switch {
	case r.Method == http.MethodPost && p == "/tags/verify":
		return routeVerify, ""
	case r.Method == http.MethodPost && p == "/tags/cmac/validate":
		return routeValidate, ""
	case r.Method == http.MethodPost && p == "/tags/cmac/latest":
		return routeLatest, ""
	case r.Method == http.MethodPost && p == "/tags/claim":
		return routeClaim, ""
	case r.Method == http.MethodPost && p == "/tags/recover":
		return routeRecover, ""
	case r.Method == http.MethodGet && p == "/marketing_consent":
		return routeConsent, ""
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/verifications/"):
		return routeVerifications, strings.TrimPrefix(p, "/verifications/")
	case r.Method == http.MethodGet && strings.HasPrefix(p, "/transfers/"):
		return routeTransfers, strings.TrimPrefix(p, "/transfers/")
	}
	return "", ""
}

// ServeHTTP serves the API under BasePath and the demo control routes
// under /_fake/ (ControlHandler).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		f.control(w, r)
		return
	}
	body, err := readBody(r)
	name, uid := route(r)
	rec := Request{Route: name, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: f.opts.Now()}
	if err != nil {
		f.record(rec)
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	if name == "" {
		rec.Status = http.StatusNotFound
		f.record(rec)
		http.NotFound(w, r) // text/plain, as a router would
		return
	}
	if f.opts.APIKeyHeader != "" && f.opts.APIKey != "" && r.Header.Get(f.opts.APIKeyHeader) != f.opts.APIKey {
		rec.Status = http.StatusUnauthorized
		f.record(rec)
		writeJSON(w, jsonBody{401, map[string]any{"error": "Unauthorized"}})
		return
	}
	var t verifyclient.Triple
	var extra map[string]string
	var bad *jsonBody
	switch name {
	case routeVerify, routeValidate, routeLatest, routeRecover:
		t, _, bad = parseTriple(body)
	case routeClaim:
		t, extra, bad = parseTriple(body, "walletAddress")
	}
	rec.Triple = t

	f.mu.Lock()
	fl := f.takeFault(name)
	f.mu.Unlock()
	if fl != nil {
		rec.Fault = fl.Kind
		if done := f.before(w, r, fl, &rec); done {
			return
		}
	}

	// Process: the whole state change under the lock.
	var jb jsonBody
	f.mu.Lock()
	switch {
	case bad != nil:
		jb = *bad
	case name == routeVerify:
		var st int
		st, jb = f.verifyLocked(t)
		rec.Committed = st == 200
	case name == routeValidate:
		jb = f.validateLocked(t)
	case name == routeLatest:
		jb = f.latestLocked(t)
	case name == routeClaim:
		jb, rec.Committed = f.claimLocked(t, extra["walletAddress"])
	case name == routeRecover:
		jb, rec.Committed = f.recoverLocked(t)
	case name == routeVerifications:
		jb = f.verificationsLocked(uid, r.URL.Query())
	case name == routeTransfers:
		jb = f.transfersLocked(uid, r.URL.Query())
	case name == routeConsent:
		jb, rec.Committed = f.consentLocked(r.URL.Query())
	}
	f.mu.Unlock()

	if fl != nil {
		f.after(w, r, fl, &rec, jb)
		return
	}
	rec.Status = jb.status
	f.record(rec)
	writeJSON(w, jb)
}

func (f *Fake) record(rec Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, rec)
}

// abort closes the connection without an answer.
func abort() { panic(http.ErrAbortHandler) }

// before applies a pre-processing fault; it reports whether the request
// is finished.
func (f *Fake) before(w http.ResponseWriter, r *http.Request, fl *Fault, rec *Request) bool {
	switch fl.Kind {
	case DropBeforeCommit:
		f.record(*rec)
		abort()
	case Delay:
		select {
		case <-time.After(fl.Delay.Duration):
		case <-r.Context().Done():
			f.record(*rec) // the client left: no side effect
			return true
		}
	case Status:
		code := fl.Code
		if code == 0 {
			code = http.StatusServiceUnavailable
		}
		if fl.RetryAfter != "" {
			w.Header().Set("Retry-After", fl.RetryAfter)
		}
		rec.Status = code
		f.record(*rec)
		writeRaw(w, code, fl.ContentType, fl.Body, `{"error":"`+http.StatusText(code)+`"}`)
		return true
	case OKWithErrors:
		rec.Status = 200
		f.record(*rec)
		writeRaw(w, 200, fl.ContentType, fl.Body, `{"errors":{"base":["something went wrong"]}}`)
		return true
	case Redirect:
		code := fl.Code
		if code == 0 {
			code = http.StatusTemporaryRedirect
		}
		w.Header().Set("Location", fl.Location)
		rec.Status = code
		f.record(*rec)
		w.WriteHeader(code)
		return true
	}
	return false
}

// after answers a processed request through a post-commit fault (or
// normally, for the pre-processing kinds that let it through).
func (f *Fake) after(w http.ResponseWriter, r *http.Request, fl *Fault, rec *Request, jb jsonBody) {
	b, _ := json.Marshal(jb.v)
	switch fl.Kind {
	case CommitThenDrop:
		f.record(*rec)
		abort()
	case CommitThenDelay:
		select {
		case <-time.After(fl.Delay.Duration):
		case <-r.Context().Done():
		}
	case CommitThenStatus:
		code := fl.Code
		if code == 0 {
			code = http.StatusBadGateway
		}
		rec.Status = code
		f.record(*rec)
		writeRaw(w, code, fl.ContentType, fl.Body, "<html><body><h1>"+strconv.Itoa(code)+" "+http.StatusText(code)+"</h1></body></html>")
		return
	case Malformed:
		rec.Status = jb.status
		f.record(*rec)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(jb.status)
		w.Write(b[:len(b)/2])
		return
	case WrongContentType:
		rec.Status = jb.status
		f.record(*rec)
		w.Header().Set("Content-Type", cmpStr(fl.ContentType, "text/html; charset=utf-8"))
		w.WriteHeader(jb.status)
		w.Write(b)
		return
	case SlowBody:
		rec.Status = jb.status
		f.record(*rec)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(jb.status)
		rc := http.NewResponseController(w)
		for i := range b {
			if _, err := w.Write(b[i : i+1]); err != nil {
				return
			}
			rc.Flush()
			select {
			case <-time.After(fl.Delay.Duration):
			case <-r.Context().Done():
				return
			}
		}
		return
	case Truncated:
		rec.Status = jb.status
		f.record(*rec)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			abort()
		}
		defer conn.Close()
		writeTruncated(buf, jb.status, b)
		return
	}
	rec.Status = jb.status
	f.record(*rec)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(jb.status)
	w.Write(b)
}

// writeTruncated writes a response announcing len(b) bytes and sending
// half of them.
func writeTruncated(buf *bufio.ReadWriter, status int, b []byte) {
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", status, http.StatusText(status), len(b))
	buf.Write(b[:len(b)/2])
	buf.Flush()
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeRaw(w http.ResponseWriter, code int, ct, body, def string) {
	if body == "" {
		body = def
	}
	if ct == "" {
		ct = "application/json; charset=utf-8"
		if strings.HasPrefix(strings.TrimSpace(body), "<") {
			ct = "text/html; charset=utf-8"
		}
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(code)
	w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, jb jsonBody) {
	b, _ := json.Marshal(jb.v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(jb.status)
	w.Write(b)
}

// control serves the demo routes:
//
//	POST /_fake/tap?uid=…   → {"uid","ctr","cmac","url"}: the tag is tapped
//	POST /_fake/faults      ← a Fault as JSON: queued
func (f *Fake) control(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/_fake/tap":
		t, err := f.Tap(r.URL.Query().Get("uid"))
		if err != nil {
			writeJSON(w, jsonBody{404, map[string]any{"error": "unknown tag"}})
			return
		}
		u := "https://tap.legitimate.tech/?uid=" + t.UID + "&ctr=" + t.Ctr + "&cmac=" + t.CMAC
		writeJSON(w, jsonBody{200, map[string]any{"uid": t.UID, "ctr": t.Ctr, "cmac": t.CMAC, "url": u}})
	case "/_fake/faults":
		var fl Fault
		b, err := readBody(r)
		if err == nil {
			err = json.Unmarshal(b, &fl)
		}
		if err != nil || fl.Kind == "" {
			writeJSON(w, jsonBody{400, map[string]any{"error": "want a fault as JSON"}})
			return
		}
		f.Inject(fl)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}
