package legitmarktest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

type faultKind int

const (
	faultStatus           faultKind = iota + 1 // answer before processing
	faultDelay                                 // wait before processing
	faultDrop                                  // close the connection before processing
	faultCommitThenDrop                        // process, then close with no answer
	faultCommitThenStatus                      // process, then answer with a gateway error
	faultCommitThenDelay                       // process, then answer late
	faultExpiredURL                            // intent: hand out an already expired URL
	faultS3Warning                             // progress: stale counts with warning and s3_error
)

// Fault is an injected failure; see Inject.
type Fault struct {
	kind  faultKind
	resp  response
	delay time.Duration
}

type fault struct {
	route string
	Fault
	n int
}

// Status answers with code and the documented error body, before any
// processing (so nothing changes on the server).
func Status(code int) Fault {
	msg := http.StatusText(code)
	details := ""
	if code == http.StatusTooManyRequests {
		msg, details = "Rate limit exceeded", "error/rate_limit_exceeded"
	}
	b := `{"success":false,"error":{"code":` + strconv.Itoa(code) + `,"timestamp":"2026-01-01T00:00:00.000Z","message":"` + msg + `"`
	if details != "" {
		b += `,"details":"` + details + `"`
	}
	b += `}}`
	return Fault{kind: faultStatus, resp: response{status: code, header: http.Header{"Content-Type": {"application/json"}}, body: []byte(b)}}
}

// RateLimited is a 429 before processing, with Retry-After when after > 0
// (in the SDK fixture's message form otherwise).
func RateLimited(after time.Duration) Fault {
	f := Status(http.StatusTooManyRequests)
	if after > 0 {
		f.resp.header.Set("Retry-After", strconv.Itoa(int(after/time.Second)))
	}
	return f
}

// HTML answers with a non-JSON body, as a proxy or gateway would.
func HTML(code int) Fault {
	return Fault{kind: faultStatus, resp: response{status: code, header: http.Header{"Content-Type": {"text/html"}},
		body: []byte("<html><body><h1>" + strconv.Itoa(code) + " " + http.StatusText(code) + "</h1></body></html>")}}
}

// Delay waits d before processing (a slow server; nothing changes if the
// client gives up first).
func Delay(d time.Duration) Fault { return Fault{kind: faultDelay, delay: d} }

// Drop closes the connection before processing.
func Drop() Fault { return Fault{kind: faultDrop} }

// CommitThenDrop processes the request, then closes the connection without
// an answer: the idempotency test for create and submit.
func CommitThenDrop() Fault { return Fault{kind: faultCommitThenDrop} }

// CommitThenStatus processes the request, then answers code (a gateway that
// lost the upstream's answer).
func CommitThenStatus(code int) Fault {
	f := Status(code)
	f.kind = faultCommitThenStatus
	return f
}

// CommitThenDelay processes the request, then answers after d.
func CommitThenDelay(d time.Duration) Fault { return Fault{kind: faultCommitThenDelay, delay: d} }

// ExpiredURL makes the intent endpoint hand out a URL that has already
// expired (route "intent").
func ExpiredURL() Fault { return Fault{kind: faultExpiredURL} }

// S3Warning makes the progress endpoint answer as when Legitmark cannot
// reach S3: zero counts, met false, "warning" set and s3_error true (route
// "progress").
func S3Warning() Fault {
	return Fault{kind: faultS3Warning, resp: jsonResp(200, map[string]any{"success": true,
		"progress":     map[string]any{"current_required": 0, "total_required": 0, "current_optional": 0, "total_optional": 0, "met": false},
		"last_updated": "2026-01-01T00:00:00.000Z", "warning": "Media count unavailable due to S3 connectivity issues", "s3_error": true})}
}

// Inject applies f to the next n requests of route (n <= 0: until Clear).
// Routes: services, categories.tree, categories, category, category.types,
// types, type, type.brands, brands, models, sr.create, sr.get,
// sr.sidegroups, sr.submit, progress, sr.find, actor.users, intent, s3.put.
func (s *Server) Inject(route string, f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{route: route, Fault: f, n: n})
}

// Clear removes every injected fault.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first active fault for route (other than
// ExpiredURL, which the intent handler takes) and counts it down. s.mu is
// held.
func (s *Server) takeFault(route string) *Fault {
	for i, f := range s.faults {
		if f.route != route || f.kind == faultExpiredURL {
			continue
		}
		out := f.Fault
		s.countDown(i)
		return &out
	}
	return nil
}

func (s *Server) takeExpired() bool {
	for i, f := range s.faults {
		if f.route == "intent" && f.kind == faultExpiredURL {
			s.countDown(i)
			return true
		}
	}
	return false
}

func (s *Server) countDown(i int) {
	f := s.faults[i]
	if f.n > 0 {
		f.n--
		if f.n == 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
	}
}

// FaultSpec is a fault in JSON, for the demo server's POST /_fake/faults
// (nfcd fake legitmark), like the Legitimate fake's:
//
//	{"route":"sr.create","kind":"commit_then_drop"}
//	{"route":"services","kind":"status","code":503,"times":2}
//	{"route":"sr.create","kind":"rate_limited","retry_after":2}
//	{"route":"intent","kind":"expired_url"}
//	{"route":"s3.put","kind":"delay","delay":"3s"}
//
// Kinds: status and html (code), rate_limited (retry_after seconds, 0: no
// header), delay, commit_then_delay (delay), drop (also
// drop_before_commit), commit_then_drop, commit_then_status (code),
// expired_url (route intent), s3_warning (route progress). Times is how
// many requests it applies to: 0 means 1, negative until DELETE
// /_fake/faults.
type FaultSpec struct {
	Route      string `json:"route"`
	Kind       string `json:"kind"`
	Code       int    `json:"code,omitempty"`
	Delay      string `json:"delay,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"`
	Times      int    `json:"times,omitempty"`
}

// Fault returns the fault fs describes and how many requests it applies
// to (Inject's n).
func (fs FaultSpec) Fault() (Fault, int, error) {
	n := fs.Times
	if n == 0 {
		n = 1
	} else if n < 0 {
		n = 0
	}
	code := func() (int, error) {
		if fs.Code < 100 || fs.Code > 599 {
			return 0, fmt.Errorf("kind %s wants a code from 100 to 599", fs.Kind)
		}
		return fs.Code, nil
	}
	delay := func() (time.Duration, error) {
		d, err := time.ParseDuration(fs.Delay)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("kind %s wants a positive delay such as \"2s\"", fs.Kind)
		}
		return d, nil
	}
	var f Fault
	switch fs.Kind {
	case "status", "html", "commit_then_status":
		c, err := code()
		if err != nil {
			return Fault{}, 0, err
		}
		switch fs.Kind {
		case "status":
			f = Status(c)
		case "html":
			f = HTML(c)
		default:
			f = CommitThenStatus(c)
		}
	case "rate_limited":
		f = RateLimited(time.Duration(fs.RetryAfter) * time.Second)
	case "delay", "commit_then_delay":
		d, err := delay()
		if err != nil {
			return Fault{}, 0, err
		}
		if fs.Kind == "delay" {
			f = Delay(d)
		} else {
			f = CommitThenDelay(d)
		}
	case "drop", "drop_before_commit":
		f = Drop()
	case "commit_then_drop":
		f = CommitThenDrop()
	case "expired_url":
		if fs.Route != "intent" {
			return Fault{}, 0, errors.New("kind expired_url applies to route intent")
		}
		f = ExpiredURL()
	case "s3_warning":
		if fs.Route != "progress" {
			return Fault{}, 0, errors.New("kind s3_warning applies to route progress")
		}
		f = S3Warning()
	default:
		return Fault{}, 0, fmt.Errorf("unknown fault kind %q", fs.Kind)
	}
	return f, n, nil
}
