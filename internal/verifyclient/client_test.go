package verifyclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nfcd/nfcd/internal/secret"
	"github.com/nfcd/nfcd/internal/tomlfile"
)

// TestTriple is remote-apis.md §3.10 item 14: the documented shapes are
// accepted and sent as read; anything else is refused locally.
func TestTriple(t *testing.T) {
	for _, tr := range []Triple{
		{UID: "041E3C8A2D6B80", Ctr: "000006", CMAC: "4B00064004B0B3D3"},                            // hardware
		{UID: "041e3c8a2d6b801", Ctr: "00000045", CMAC: "9f5e6a1c"},                                 // validate example lengths
		{UID: "AABBCCDDEEFF0011", Ctr: "000006", CMAC: "0123456789ABCDEF0123"},                      // 16 / 20
		{UID: "00112233445566778899", Ctr: "00000006", CMAC: strings.Repeat("a", 32), Tamper: "CC"}, // maxima
	} {
		if err := tr.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", tr, err)
		}
		u := "https://tap.legitimate.tech/?utm_source=x&uid=" + tr.UID + "&ctr=" + tr.Ctr + "&cmac=" + tr.CMAC
		if tr.Tamper != "" {
			u += "&tamper=" + tr.Tamper
		}
		got, err := TripleFromURL(u)
		if err != nil || got != tr {
			t.Errorf("TripleFromURL(%s) = %+v, %v", u, got, err)
		}
	}
	for _, tc := range []struct {
		tr    Triple
		field string
	}{
		{Triple{UID: "041E3C8A2D6B8", Ctr: "000006", CMAC: "4B00064004B0B3D3"}, "uid"},
		{Triple{UID: "041E3C8A2D6B8G", Ctr: "000006", CMAC: "4B00064004B0B3D3"}, "uid"},
		{Triple{UID: "041E3C8A2D6B80", Ctr: "00006", CMAC: "4B00064004B0B3D3"}, "ctr"},
		{Triple{UID: "041E3C8A2D6B80", Ctr: "000000006", CMAC: "4B00064004B0B3D3"}, "ctr"},
		{Triple{UID: "041E3C8A2D6B80", Ctr: "000006", CMAC: "4B00064"}, "cmac"},
		{Triple{UID: "041E3C8A2D6B80", Ctr: "000006", CMAC: "4B00064004B0B3D3 "}, "cmac"},
		{Triple{UID: "041E3C8A2D6B80", Ctr: "000006", CMAC: "4B00064004B0B3D3", Tamper: "C"}, "tamper"},
		{Triple{UID: "041E3C8A2D6B80", Ctr: "000006"}, "cmac"},
	} {
		err := tc.tr.Validate()
		var fe *FormatError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrBadTriple) {
			t.Errorf("Validate(%+v) = %v, want a FormatError on %s", tc.tr, err, tc.field)
		}
		if err != nil && tc.tr.CMAC != "" && strings.Contains(err.Error(), tc.tr.CMAC) {
			t.Errorf("error quotes the cmac: %v", err)
		}
	}
	for _, u := range []string{
		"https://x/?uid=041E3C8A2D6B80&ctr=000006",
		"https://x/?uid=041E3C8A2D6B80&uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3",
		"https://x/?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3%26x",
		"://bad",
	} {
		if _, err := TripleFromURL(u); !errors.Is(err, ErrBadTriple) {
			t.Errorf("TripleFromURL(%s) = %v, want ErrBadTriple", u, err)
		}
	}
	a := Triple{UID: "041e3c8a2d6b80", Ctr: "000006", CMAC: "4b00064004b0b3d3"}
	b := Triple{UID: "041E3C8A2D6B80", Ctr: "000006", CMAC: "4B00064004B0B3D3"}
	if a.Key() != b.Key() {
		t.Error("Key depends on letter case")
	}
	if s := b.String(); strings.Contains(s, b.CMAC) {
		t.Errorf("String() = %q shows the cmac", s)
	}
	if n, err := b.Counter(); n != 6 || err != nil {
		t.Errorf("Counter() = %d, %v", n, err)
	}
}

// TestAPIErrorShapes: every documented error shape (remote-apis.md §1.4)
// normalises and matches its sentinels.
func TestAPIErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		op     string
		status int
		ct     string
		body   string
		want   []error
		fields string
	}{
		{opVerify, 422, "application/json", `{"errors":{"cmac":"has expired"}}`, []error{ErrExpired}, "map[cmac:[has expired]]"},
		{opVerify, 422, "application/json", `{"errors":{"cmac":["is invalid"]}}`, []error{ErrInvalidCMAC}, "map[cmac:[is invalid]]"},
		{opVerify, 422, "application/json", `{"errors":{"cmac":"has expired","tag":["could not be found"]}}`, []error{ErrExpired, ErrTagNotFound}, "map[cmac:[has expired] tag:[could not be found]]"},
		{opVerify, 404, "application/json", `{"errors":{"tag":["could not be found"]}}`, []error{ErrTagNotFound}, "map[tag:[could not be found]]"},
		{opVerifications, 404, "application/json", `{"error":{"tag":["could not be found"]}}`, []error{ErrTagNotFound}, "map[tag:[could not be found]]"},
		{opClaim, 422, "application/json", `{"error":"This tag has not been enabled for claiming."}`, []error{ErrNotClaimable}, "map[_:[This tag has not been enabled for claiming.]]"},
		{opClaim, 400, "application/json", `{"error":"This NFT has already been claimed and is no longer held by Legitimate."}`, []error{ErrAlreadyClaimed}, ""},
		{opClaim, 422, "application/json", `{"error":"Session expired. Please tap the Legitimate Tag and try again."}`, []error{ErrSessionExpired}, ""},
		{opRecover, 422, "application/json", `{"error":"Unauthorized"}`, []error{ErrUnauthorized}, ""},
		{opRecover, 422, "application/json", `{"error":"Ownership reset has not been enabled for contract 0x1 by 0x2."}`, []error{ErrRecoverDisabled}, ""},
		{opRecover, 422, "application/json", `{"error":"Transaction failed with message: out of gas"}`, []error{ErrTransactionFailed}, ""},
		{opLatest, 422, "application/json", `{}`, []error{ErrNotLatest}, "map[]"},
		{opLatest, 404, "application/json", `{}`, []error{ErrTagNotFound}, "map[]"},
		{opTransfers, 406, "application/json", `{"error":"Invalid or unexpected parameters"}`, []error{ErrBadParams}, ""},
		{opConsent, 404, "application/json", `{"error":"No user found with the given email"}`, []error{ErrNoUser}, ""},
		{opVerify, 429, "text/html", `<html>Too Many Requests</html>`, []error{ErrRateLimited}, "map[]"},
		{opVerify, 503, "text/plain", `upstream unavailable`, []error{ErrUnavailable}, "map[]"},
		{opVerify, 502, "text/html", `<html>bad gateway</html>`, []error{ErrServer}, "map[]"},
		{opVerify, 404, "text/html", `<html>no such route</html>`, nil, "map[]"}, // a 404 page is not "tag not found"
		{opVerify, 422, "application/json", `{"message":"rate exceeded"}`, nil, "map[_:[rate exceeded]]"},
		{opVerify, 422, "application/json", `{"errors":{"walletAddress":["is invalid"]}}`, nil, ""}, // only cmac's "is invalid" is a bad MAC
	} {
		e := newAPIError(tc.op, tc.status, tc.ct, "", []byte(tc.body), time.Now())
		for _, w := range tc.want {
			if !errors.Is(e, w) {
				t.Errorf("%s %d %s: not %v (kinds %v)", tc.op, tc.status, tc.body, w, e.kinds)
			}
		}
		if len(e.kinds) != len(tc.want) {
			t.Errorf("%s %d %s: kinds %v, want %v", tc.op, tc.status, tc.body, e.kinds, tc.want)
		}
		if tc.fields != "" && fmt.Sprint(e.Fields) != tc.fields && !(tc.fields == "map[]" && len(e.Fields) == 0) {
			t.Errorf("%s: fields %v, want %s", tc.body, e.Fields, tc.fields)
		}
		var ae *APIError
		if !errors.As(fmt.Errorf("wrapped: %w", e), &ae) || ae.Status != tc.status {
			t.Errorf("errors.As through a wrap failed")
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"-1":                            0,
		"soon":                          0,
		"99999999999999999999":          0, // overflows uint64: not a number
		"9999999999":                    maxRetryAfterParsed,
		"Fri, 02 Jan 2026 03:04:35 GMT": 30 * time.Second,
		"Fri, 02 Jan 2026 03:00:00 GMT": 0, // in the past
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	const key = "s3cr3t-api-key-value"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	good := []Config{
		{BaseURL: "https://api.legitimate.tech/external/v1"},
		{BaseURL: "http://127.0.0.1:8080/external/v1", Timeout: tomlfile.Duration{Duration: time.Second}},
		{BaseURL: "http://localhost/external/v1", APIKey: secret.String(key), APIKeyHeader: "X-Key"},
		{BaseURL: "http://[::1]:9/external/v1", APIKeyFile: keyFile},
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v", c.BaseURL, err)
		}
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{}, "base_url: missing"},
		{Config{BaseURL: "http://api.legitimate.tech/external/v1"}, "https"},
		{Config{BaseURL: "https://user:" + key + "@api.legitimate.tech/v1"}, "credentials"},
		{Config{BaseURL: "https://api.legitimate.tech/v1?key=" + key}, "query"},
		{Config{BaseURL: "ftp://api.legitimate.tech/v1"}, "https"},
		{Config{BaseURL: "https:///v1"}, "host"},
		{Config{BaseURL: "https://a.example", Timeout: tomlfile.Duration{Duration: -time.Second}}, "timeout"},
		{Config{BaseURL: "https://a.example", Timeout: tomlfile.Duration{Duration: time.Hour}}, "timeout"},
		{Config{BaseURL: "https://a.example", APIKey: secret.String(key), APIKeyFile: keyFile}, "at most one"},
		{Config{BaseURL: "https://a.example", APIKey: secret.String(key + "\n")}, "control"},
		{Config{BaseURL: "https://a.example", APIKeyHeader: "Bad Header"}, "header name"},
		{Config{BaseURL: "https://a.example", APIKeyHeader: "idempotency-key"}, "reserved"},
		{Config{BaseURL: "https://a.example", APIKeyEnv: "A=B"}, "api_key_env"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), key) {
			t.Errorf("error leaks the key: %v", err)
		}
	}
	// Key resolution.
	c := Config{BaseURL: "https://a.example", APIKeyFile: keyFile}
	if s, err := c.APIKeyValue(); err != nil || s.Reveal() != key {
		t.Errorf("APIKeyValue(file) = %v", err)
	}
	t.Setenv("NFCD_TEST_LGT_KEY", key)
	c = Config{BaseURL: "https://a.example", APIKeyEnv: "NFCD_TEST_LGT_KEY"}
	if o, err := c.Options("9"); err != nil || o.APIKey.Reveal() != key || o.Version != "9" {
		t.Errorf("Options(env) = %v", err)
	}
	c = Config{BaseURL: "https://a.example", APIKeyEnv: "NFCD_TEST_UNSET_VAR"}
	if _, err := c.APIKeyValue(); err == nil || !strings.Contains(err.Error(), "unset") {
		t.Errorf("APIKeyValue(unset env) = %v", err)
	}
	c = Config{BaseURL: "https://a.example", APIKeyFile: filepath.Join(dir, "missing")}
	if _, err := c.Options("9"); err == nil {
		t.Error("Options with a missing key file succeeded")
	}
	// The secret never prints.
	s := secret.String(key)
	b, _ := json.Marshal(struct{ K secret.String }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), string(b), fmt.Sprintf("%+v", Config{APIKey: s})} {
		if strings.Contains(out, key) {
			t.Errorf("secret printed: %s", out)
		}
	}
}

// stub is an http.RoundTripper answering from a script, for the timer
// tests inside synctest bubbles (no network: every wait is durable).
type stub struct {
	mu      sync.Mutex
	getBody bool // a POST carried a GetBody (transport-level resend possible)
	calls   []stubCall
	next    func(req *http.Request, n int) (*http.Response, error)
}

type stubCall struct {
	path string
	at   time.Time
}

func (s *stub) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.calls = append(s.calls, stubCall{req.URL.Path, time.Now()})
	s.getBody = s.getBody || (req.Method == http.MethodPost && req.GetBody != nil)
	n := len(s.calls)
	s.mu.Unlock()
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{})
	}
	return s.next(req, n)
}

func reply(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", "application/json")
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

var (
	stubTriple = Triple{UID: "041E3C8A2D6B80", Ctr: "000006", CMAC: "4B00064004B0B3D3"}
	okVerify   = `{"uid":"041E3C8A2D6B80","verified":true}`
)

func stubClient(t *testing.T, s *stub, rnd float64) *Client {
	c, err := New(Options{BaseURL: "https://api.test/external/v1", HTTPClient: &http.Client{Transport: s}, Rand: func() float64 { return rnd }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRetryAfterHonoured: a 429's Retry-After is waited for exactly,
// then the verify goes through.
func TestRetryAfterHonoured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stub{next: func(req *http.Request, n int) (*http.Response, error) {
			if n == 1 {
				return reply(429, http.Header{"Retry-After": {"3"}}, `{"error":"slow down"}`), nil
			}
			return reply(200, nil, okVerify), nil
		}}
		c := stubClient(t, s, 0.5)
		start := time.Now()
		out, err := c.Verify(t.Context(), stubTriple)
		if err != nil || out.Status != StatusAuthentic || out.Sent != 2 {
			t.Fatalf("Verify = %+v, %v", out, err)
		}
		if d := s.calls[1].at.Sub(start); d != 3*time.Second {
			t.Errorf("second attempt after %v, want exactly the Retry-After 3s", d)
		}
		if s.getBody {
			t.Error("a verify POST carried GetBody: net/http could resend it")
		}
	})
}

// TestBackoff: without Retry-After, full-jitter exponential backoff
// (rand · min(cap, 250ms·2^(n-1))), at most three verify attempts.
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stub{next: func(req *http.Request, n int) (*http.Response, error) {
			return reply(503, nil, `{"error":"busy"}`), nil
		}}
		c := stubClient(t, s, 1) // the top of the jitter range
		start := time.Now()
		out, err := c.Verify(t.Context(), stubTriple)
		if err != nil || out.Status != StatusUnreachable || !errors.Is(out.Err, ErrUnavailable) {
			t.Fatalf("Verify = %+v, %v", out, err)
		}
		if len(s.calls) != 3 {
			t.Fatalf("%d attempts, want 3", len(s.calls))
		}
		if d1, d2 := s.calls[1].at.Sub(start), s.calls[2].at.Sub(s.calls[1].at); d1 != 250*time.Millisecond || d2 != 500*time.Millisecond {
			t.Errorf("backoff %v then %v, want 250ms then 500ms", d1, d2)
		}
	})
	for _, tc := range []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{{1, 1, 250 * time.Millisecond}, {3, 1, time.Second}, {4, 1, 2 * time.Second}, {10, 1, 2 * time.Second}, {60, 1, 2 * time.Second}, {2, 0.5, 250 * time.Millisecond}, {2, 0, 0}} {
		if got := verifyPolicy.delay(tc.attempt, tc.rnd); got != tc.want {
			t.Errorf("delay(%d, %v) = %v, want %v", tc.attempt, tc.rnd, got, tc.want)
		}
	}
}

// TestRetryAfterPastDeadline: a wait that would outlive the caller's
// deadline ends the call at once, with the server's delay reported.
func TestRetryAfterPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stub{next: func(req *http.Request, n int) (*http.Response, error) {
			return reply(429, http.Header{"Retry-After": {"8"}}, `{}`), nil
		}}
		c := stubClient(t, s, 0.5)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		out, _ := c.Verify(ctx, stubTriple)
		if out.Status != StatusUnreachable || out.RetryAfter != 8*time.Second || len(s.calls) != 1 || time.Since(start) != 0 {
			t.Errorf("Verify = %+v after %d calls and %v", out, len(s.calls), time.Since(start))
		}
	})
}

// TestAttemptTimeoutSettles: an attempt written and then unanswered times
// out after exactly the per-attempt timeout and is settled with
// cmac/latest — never sent again.
func TestAttemptTimeoutSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stub{next: func(req *http.Request, n int) (*http.Response, error) {
			if strings.HasSuffix(req.URL.Path, "/tags/verify") {
				<-req.Context().Done()
				return nil, req.Context().Err()
			}
			return reply(200, nil, `{"cmac_verified":true,"verification":{"id":1,"tag_id":2,"cmac":"4b00064004b0b3d3","created_at":"`+time.Now().UTC().Format(time.RFC3339)+`"}}`), nil
		}}
		c := stubClient(t, s, 0.5)
		start := time.Now()
		out, err := c.Verify(t.Context(), stubTriple)
		if err != nil || out.Status != StatusAuthentic || out.SettledBy != SettledByLatest || !errors.Is(out.Err, ErrAmbiguous) {
			t.Fatalf("Verify = %+v, %v", out, err)
		}
		if len(s.calls) != 2 || s.calls[0].path != "/external/v1/tags/verify" || s.calls[1].path != "/external/v1/tags/cmac/latest" {
			t.Errorf("calls %+v", s.calls)
		}
		if d := s.calls[1].at.Sub(start); d != DefaultTimeout {
			t.Errorf("settled after %v, want the attempt timeout %v", d, DefaultTimeout)
		}
	})
}

// TestNotWrittenRetried: a transport error before anything was written
// is retried; once it may have been written, it is not.
func TestNotWrittenRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &stub{}
		s.next = func(req *http.Request, n int) (*http.Response, error) {
			return reply(200, nil, okVerify), nil
		}
		refuse := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if len(s.calls) == 0 {
				s.calls = append(s.calls, stubCall{"refused", time.Now()})
				return nil, errors.New("dial tcp: connect: connection refused") // no trace callback: nothing written
			}
			return s.RoundTrip(req)
		})
		c, _ := New(Options{BaseURL: "https://api.test/v1", HTTPClient: &http.Client{Transport: refuse}, Rand: func() float64 { return 0 }})
		out, err := c.Verify(t.Context(), stubTriple)
		if err != nil || out.Status != StatusAuthentic || out.Sent != 1 || len(s.calls) != 2 {
			t.Errorf("Verify = %+v, %v, calls %v", out, err, s.calls)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestFollowerCancel: a caller waiting on another's verify of the same
// triple can give up without disturbing it, and no goroutine outlives
// the bubble.
func TestFollowerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		s := &stub{next: func(req *http.Request, n int) (*http.Response, error) {
			<-release
			return reply(200, nil, okVerify), nil
		}}
		c := stubClient(t, s, 0)
		done := make(chan Outcome)
		go func() {
			out, _ := c.Verify(context.Background(), stubTriple)
			done <- out
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if out, err := c.Verify(ctx, stubTriple); !errors.Is(err, context.Canceled) || out.Status != "" {
			t.Errorf("follower = %+v, %v", out, err)
		}
		close(release)
		if out := <-done; out.Status != StatusAuthentic {
			t.Errorf("leader = %+v", out)
		}
	})
}
