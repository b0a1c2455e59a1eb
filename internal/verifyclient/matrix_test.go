package verifyclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/secret"
	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

const tagUID = "041E3C8A2D6B80"

var tagKey = ntag424.Key{0xA0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xAF}

// attemptTimeout is the per-attempt timeout of the matrix: the faults
// that outlast it use lateDelay.
const (
	attemptTimeout = 300 * time.Millisecond
	lateDelay      = 2 * time.Second
)

type env struct {
	t   *testing.T
	srv *lt.Server
	c   *verifyclient.Client
}

func newEnv(t *testing.T, fo lt.Options, mod func(*verifyclient.Options)) *env {
	t.Helper()
	srv := lt.NewServer(fo, lt.Tag{UID: tagUID, Key: tagKey, Counter: 10, Name: "Matrix tag", Claimable: true, RecoverEnabled: true})
	t.Cleanup(srv.Close)
	opts := verifyclient.Options{
		BaseURL: srv.URL, Timeout: attemptTimeout, Version: "test",
		HTTPClient: srv.HTTP.Client(), Log: zaptest.NewLogger(t),
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := verifyclient.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return &env{t: t, srv: srv, c: c}
}

func (e *env) tap() verifyclient.Triple {
	e.t.Helper()
	tr, err := e.srv.Tap(tagUID)
	if err != nil {
		e.t.Fatal(err)
	}
	return tr
}

// checkInvariants checks, for one verified triple, what must hold after
// every case (issue #9 §6):
//
//   - a genuine tap (a fresh triple of a known tag, sent by nobody else)
//     never ends replayed or counterfeit, whatever the faults;
//   - no verification is lost: the client's outcome agrees with the
//     server's truth — authentic only if the server accepted the triple,
//     and a triple the server accepted is authentic or still ambiguous
//     (to be settled), never a final non-authentic answer;
//   - no triple is re-sent after a possibly processed attempt: every
//     verify request but the last was answered 429 or 503, the answers
//     that say nothing was processed. (One case, "commit then 503", has
//     the fake break that promise; the client's defence — "has expired"
//     after a resend is settled, not believed — is what it tests.)
func (e *env) checkInvariants(tr verifyclient.Triple, out verifyclient.Outcome, genuine bool) {
	t := e.t
	t.Helper()
	if out.Status == "" {
		t.Errorf("no outcome for %s", tr)
	}
	if genuine {
		for _, local := range []string{verdict.Authentic, verdict.UnknownProfile} {
			for _, m := range []remote.Mode{remote.Confirm, remote.RemoteRequired} {
				d, err := remote.Decide(m, local, remote.AnswerOf(out))
				if err != nil || d.Verdict == verdict.Replayed || d.Verdict == verdict.Counterfeit {
					t.Errorf("genuine tap %s: %s → verdict %s (%v)", tr, out.Status, d.Verdict, err)
				}
			}
		}
	}
	accepted := e.srv.Accepted(tr)
	if out.Status == verifyclient.StatusAuthentic && !accepted && genuine {
		t.Errorf("%s: authentic but the server never accepted it", tr)
	}
	if accepted && out.Status != verifyclient.StatusAuthentic && out.Status != verifyclient.StatusAmbiguous && genuine {
		t.Errorf("%s: the server accepted it but the outcome is %s (verification lost)", tr, out.Status)
	}
	reqs := e.srv.VerifyRequests(tr)
	for i, r := range reqs[:max(len(reqs)-1, 0)] {
		if r.Status != 429 && r.Status != 503 {
			t.Errorf("%s: verify request %d of %d re-sent after an attempt that may have been processed (status %d, fault %q)",
				tr, i+1, len(reqs), r.Status, r.Fault)
		}
	}
}

// TestMatrix is remote-apis.md §3.10 items 1–13 for the Legitimate client
// (item 14, the parser, is TestTriple).
func TestMatrix(t *testing.T) {
	type tc struct {
		name      string
		fake      lt.Options
		client    func(*verifyclient.Options)
		prepare   func(e *env) (verifyclient.Triple, bool) // the triple and whether it is a genuine tap
		want      verifyclient.Status
		settledBy string
		sent      int // verify requests written; 0 = don't check
	}
	verifyFault := func(f lt.Fault) func(e *env) (verifyclient.Triple, bool) {
		return func(e *env) (verifyclient.Triple, bool) {
			f.Route = "verify"
			e.srv.Inject(f)
			return e.tap(), true
		}
	}
	cases := []tc{
		{name: "1 happy path", prepare: func(e *env) (verifyclient.Triple, bool) { return e.tap(), true },
			want: verifyclient.StatusAuthentic, sent: 1},
		{name: "3 server-side replay", prepare: func(e *env) (verifyclient.Triple, bool) {
			tr := e.tap()
			if err := e.srv.MarkUsed(tr); err != nil {
				e.t.Fatal(err)
			}
			return tr, false
		}, want: verifyclient.StatusExpired, sent: 1},
		{name: "4 unknown uid 422", prepare: unknownTag, want: verifyclient.StatusUnknownTag},
		{name: "4 unknown uid 404", fake: lt.Options{UnknownTagStatus: 404}, prepare: unknownTag, want: verifyclient.StatusUnknownTag},
		{name: "5 bad MAC string", prepare: badMAC, want: verifyclient.StatusInvalid},
		{name: "5 bad MAC array", fake: lt.Options{ArrayErrors: true}, prepare: badMAC, want: verifyclient.StatusInvalid},
		{name: "6 200 with errors", prepare: verifyFault(lt.Fault{Kind: lt.OKWithErrors}), want: verifyclient.StatusRejected},
		{name: "6 200 verified false", prepare: verifyFault(lt.Fault{Kind: lt.OKWithErrors, Body: `{"uid":"041E3C8A2D6B80","verified":false}`}),
			want: verifyclient.StatusRejected},
		{name: "6 200 with has expired", prepare: verifyFault(lt.Fault{Kind: lt.OKWithErrors, Body: `{"errors":{"cmac":"has expired"}}`}),
			want: verifyclient.StatusRejected},
		{name: "7 429 JSON Retry-After", prepare: verifyFault(lt.Fault{Kind: lt.Status, Code: 429, RetryAfter: "1", Body: `{"error":"Too many requests"}`}),
			want: verifyclient.StatusAuthentic, sent: 2},
		{name: "7 429 HTML", prepare: verifyFault(lt.Fault{Kind: lt.Status, Code: 429, Body: "<html>slow down</html>"}),
			want: verifyclient.StatusAuthentic, sent: 2},
		{name: "7 503 twice", prepare: verifyFault(lt.Fault{Kind: lt.Status, Code: 503, Times: 2}),
			want: verifyclient.StatusAuthentic, sent: 3},
		{name: "7 429 three times gives up", prepare: verifyFault(lt.Fault{Kind: lt.Status, Code: 429, Times: 3}),
			want: verifyclient.StatusUnreachable, sent: 3},
		{name: "7 429 Retry-After too long", prepare: verifyFault(lt.Fault{Kind: lt.Status, Code: 429, RetryAfter: "3600"}),
			want: verifyclient.StatusUnreachable, sent: 1},
		{name: "8 commit then drop", prepare: verifyFault(lt.Fault{Kind: lt.CommitThenDrop}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 commit then delay", prepare: verifyFault(lt.Fault{Kind: lt.CommitThenDelay, Delay: tomlfile.Duration{Duration: lateDelay}}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 commit then 502", prepare: verifyFault(lt.Fault{Kind: lt.CommitThenStatus, Code: 502}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 commit then 504", prepare: verifyFault(lt.Fault{Kind: lt.CommitThenStatus, Code: 504}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 malformed JSON", prepare: verifyFault(lt.Fault{Kind: lt.Malformed}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 wrong content type", prepare: verifyFault(lt.Fault{Kind: lt.WrongContentType}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 slow body", prepare: verifyFault(lt.Fault{Kind: lt.SlowBody, Delay: tomlfile.Duration{Duration: 50 * time.Millisecond}}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 truncated body", prepare: verifyFault(lt.Fault{Kind: lt.Truncated}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 1},
		{name: "8 commit then 503 (a gateway that lies)", prepare: verifyFault(lt.Fault{Kind: lt.CommitThenStatus, Code: 503}),
			want: verifyclient.StatusAuthentic, settledBy: verifyclient.SettledByLatest, sent: 2},
		{name: "8 drop before commit", prepare: verifyFault(lt.Fault{Kind: lt.DropBeforeCommit}),
			want: verifyclient.StatusAmbiguous, sent: 1},
		{name: "8 delay before commit past the timeout", prepare: verifyFault(lt.Fault{Kind: lt.Delay, Delay: tomlfile.Duration{Duration: lateDelay}}),
			want: verifyclient.StatusAmbiguous, sent: 1},
		{name: "8 commit then drop, settle unavailable", prepare: func(e *env) (verifyclient.Triple, bool) {
			e.srv.Inject(lt.Fault{Route: "verify", Kind: lt.CommitThenDrop})
			e.srv.Inject(lt.Fault{Route: "latest", Kind: lt.Status, Code: 500, Times: 4})
			return e.tap(), true
		}, want: verifyclient.StatusAmbiguous, sent: 1},
		{name: "11 stale counter has expired", prepare: stale, want: verifyclient.StatusExpired},
		{name: "11 stale counter is invalid", fake: lt.Options{StaleInvalid: true}, prepare: stale, want: verifyclient.StatusInvalid},
		{name: "12 redirect not followed", prepare: func(e *env) (verifyclient.Triple, bool) {
			other := lt.NewServer(lt.Options{}, lt.Tag{UID: tagUID, Key: tagKey})
			e.t.Cleanup(other.Close)
			e.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Redirect, Code: 307, Location: other.URL + "/tags/verify"})
			e.t.Cleanup(func() {
				if n := len(other.Requests()); n != 0 {
					e.t.Errorf("the redirect target got %d requests", n)
				}
			})
			return e.tap(), true
		}, want: verifyclient.StatusAmbiguous, sent: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, c.fake, c.client)
			tr, genuine := c.prepare(e)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := e.c.Verify(ctx, tr)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if out.Status != c.want || out.SettledBy != c.settledBy || (c.sent > 0 && out.Sent != c.sent) {
				t.Errorf("Verify(%s) = status %s, settled by %q, sent %d (err %v); want %s, %q, %d",
					tr, out.Status, out.SettledBy, out.Sent, out.Err, c.want, c.settledBy, c.sent)
			}
			e.checkInvariants(tr, out, genuine)
		})
	}
}

func unknownTag(e *env) (verifyclient.Triple, bool) {
	tr, err := lt.Mint(tagKey, [7]byte{4, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0x01}, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return tr, false
}

func badMAC(e *env) (verifyclient.Triple, bool) {
	tr := e.tap()
	b := []byte(tr.CMAC)
	b[0] ^= 1 // '4' ↔ '5', 'A' ↔ '@' is not hex: flip a digit's low bit only when it stays hex
	if !strings.ContainsRune("0123456789ABCDEF", rune(b[0])) {
		b[0] = '0'
		if tr.CMAC[0] == '0' {
			b[0] = '1'
		}
	}
	tr.CMAC = string(b)
	return tr, false
}

func stale(e *env) (verifyclient.Triple, bool) {
	tr, err := lt.Mint(tagKey, [7]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}, 4) // below the accepted 10
	if err != nil {
		e.t.Fatal(err)
	}
	return tr, false
}

// Item 2: the same triple twice from the UI → one network call; a fresh
// triple afterwards → authentic.
func TestMatrixSameTripleTwice(t *testing.T) {
	e := newEnv(t, lt.Options{}, nil)
	tr := e.tap()
	first, err := e.c.Verify(context.Background(), tr)
	if err != nil || first.Status != verifyclient.StatusAuthentic || first.Shared {
		t.Fatalf("first Verify = %+v, %v", first, err)
	}
	lower := tr
	lower.CMAC = strings.ToLower(tr.CMAC)
	second, err := e.c.Verify(context.Background(), lower)
	if err != nil || second.Status != verifyclient.StatusAuthentic || !second.Shared {
		t.Errorf("second Verify = %+v, %v; want the shared authentic outcome", second, err)
	}
	if n := len(e.srv.VerifyRequests(tr)); n != 1 {
		t.Errorf("%d verify requests, want 1", n)
	}
	e.checkInvariants(tr, second, true)
	tr2 := e.tap()
	third, err := e.c.Verify(context.Background(), tr2)
	if err != nil || third.Status != verifyclient.StatusAuthentic || third.Shared {
		t.Errorf("fresh triple = %+v, %v", third, err)
	}
	e.checkInvariants(tr2, third, true)
}

// Item 8, continued: a lost answer that could not be settled at once is
// settled later by Settle (what the outbox will do), also after a newer
// tap superseded it as the latest (via verifications).
func TestMatrixSettleLater(t *testing.T) {
	e := newEnv(t, lt.Options{}, nil)
	tr := e.tap()
	e.srv.Inject(lt.Fault{Route: "verify", Kind: lt.CommitThenDrop})
	e.srv.Inject(lt.Fault{Route: "latest", Kind: lt.Status, Code: 500, Times: 4})
	out, err := e.c.Verify(context.Background(), tr)
	if err != nil || out.Status != verifyclient.StatusAmbiguous || out.SentAt.IsZero() {
		t.Fatalf("Verify = %+v, %v; want ambiguous with SentAt", out, err)
	}
	e.checkInvariants(tr, out, true)
	// A second Verify of the same triple does not send it again.
	again, _ := e.c.Verify(context.Background(), tr)
	if again.Status != verifyclient.StatusAmbiguous || !again.Shared || len(e.srv.VerifyRequests(tr)) != 1 {
		t.Errorf("Verify again = %+v with %d requests", again, len(e.srv.VerifyRequests(tr)))
	}
	// A newer tap is verified meanwhile: tr is no longer the latest.
	tr2 := e.tap()
	if o, _ := e.c.Verify(context.Background(), tr2); o.Status != verifyclient.StatusAuthentic {
		t.Fatalf("newer tap = %+v", o)
	}
	s, err := e.c.Settle(context.Background(), tr, out.SentAt)
	if err != nil || s.Status != verifyclient.StatusAuthentic || s.SettledBy != verifyclient.SettledByVerifications {
		t.Errorf("Settle = %+v, %v; want authentic by verifications", s, err)
	}
	e.checkInvariants(tr, s, true)
	if n := len(e.srv.VerifyRequests(tr)); n != 1 {
		t.Errorf("%d verify requests, want 1", n)
	}
	// A verification created long before the lost verify was sent is
	// someone else's use of the triple: not settled as ours.
	if s, _ := e.c.Settle(context.Background(), tr, time.Now().Add(time.Hour)); s.Status != verifyclient.StatusAmbiguous {
		t.Errorf("Settle with a later send time = %+v, want ambiguous", s)
	}
	// A triple that never reached the server stays ambiguous.
	tr3 := e.tap()
	if s, _ := e.c.Settle(context.Background(), tr3, time.Now()); s.Status != verifyclient.StatusAmbiguous {
		t.Errorf("Settle of an unsent triple = %+v", s)
	}
	if e.srv.Accepted(tr3) {
		t.Error("Settle sent the triple to verify")
	}
}

// Item 9: a dial that is refused (nothing written) is retried.
func TestMatrixRefusedThenSuccess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	var mu sync.Mutex
	dials := 0
	e := newEnv(t, lt.Options{}, func(o *verifyclient.Options) {
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dials++
			n := dials
			mu.Unlock()
			if n == 1 {
				addr = closed // connection refused
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
		o.HTTPClient = &http.Client{Transport: tr}
	})
	tr := e.tap()
	out, err := e.c.Verify(context.Background(), tr)
	if err != nil || out.Status != verifyclient.StatusAuthentic || out.Sent != 1 {
		t.Errorf("Verify = %+v, %v; want authentic after one refused dial", out, err)
	}
	if dials < 2 {
		t.Errorf("%d dials", dials)
	}
	e.checkInvariants(tr, out, true)
}

// Item 9, TLS: a handshake failure writes nothing; the client gives up
// as unreachable, and the server never saw the triple.
func TestMatrixTLSFailure(t *testing.T) {
	srv := lt.NewTLSServer(lt.Options{}, lt.Tag{UID: tagUID, Key: tagKey})
	t.Cleanup(srv.Close)
	c, err := verifyclient.New(verifyclient.Options{BaseURL: srv.URL, Timeout: attemptTimeout, Rand: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := srv.Tap(tagUID)
	out, err := c.Verify(context.Background(), tr)
	if err != nil || out.Status != verifyclient.StatusUnreachable || out.Sent != 0 || !errors.Is(out.Err, verifyclient.ErrNotSent) {
		t.Errorf("Verify over untrusted TLS = %+v, %v", out, err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
	// Unreachable is not remembered: the same triple can be verified once
	// the connection works.
	good, _ := verifyclient.New(verifyclient.Options{BaseURL: srv.URL, HTTPClient: srv.HTTP.Client()})
	if o, _ := good.Verify(context.Background(), tr); o.Status != verifyclient.StatusAuthentic {
		t.Errorf("Verify over trusted TLS = %+v", o)
	}
}

// Item 10: concurrent verifies of one triple → one request, one
// acceptance, every caller gets the outcome.
func TestMatrixConcurrent(t *testing.T) {
	e := newEnv(t, lt.Options{}, nil)
	tr := e.tap()
	e.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Delay, Delay: tomlfile.Duration{Duration: 100 * time.Millisecond}})
	var wg sync.WaitGroup
	outs := make([]verifyclient.Outcome, 16)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], _ = e.c.Verify(context.Background(), tr)
		}()
	}
	wg.Wait()
	owners := 0
	for _, o := range outs {
		if o.Status != verifyclient.StatusAuthentic {
			t.Errorf("outcome %+v", o)
		}
		if !o.Shared {
			owners++
		}
	}
	if owners != 1 || len(e.srv.VerifyRequests(tr)) != 1 {
		t.Errorf("%d unshared outcomes, %d requests; want 1, 1", owners, len(e.srv.VerifyRequests(tr)))
	}
	e.checkInvariants(tr, outs[0], true)
}

// Item 13: cancellation is honoured, and the outcome still says the
// triple may have been processed.
func TestMatrixCancel(t *testing.T) {
	e := newEnv(t, lt.Options{}, func(o *verifyclient.Options) { o.Timeout = 10 * time.Second })
	tr := e.tap()
	e.srv.Inject(lt.Fault{Route: "verify", Kind: lt.Delay, Delay: tomlfile.Duration{Duration: 5 * time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	out, err := e.c.Verify(ctx, tr)
	if !errors.Is(err, context.DeadlineExceeded) || out.Status != verifyclient.StatusAmbiguous {
		t.Errorf("Verify = %+v, %v; want ambiguous and the context error", out, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify took %v after the context ended", d)
	}
	e.checkInvariants(tr, out, true)
}

// The client sends what the docs ask and nothing else: the user agent
// with the version, the API key in its header, no idempotency key, only
// uid/ctr/cmac; and it never logs the key or the full cmac.
func TestRequestShapeAndSecrets(t *testing.T) {
	const key = "k-8c1f2e0d9b7a6f5e"
	core, logs := observerCore()
	e := newEnv(t, lt.Options{APIKeyHeader: "X-Partner-Key", APIKey: key}, func(o *verifyclient.Options) {
		o.APIKey = secret.String(key)
		o.APIKeyHeader = "X-Partner-Key"
		o.Version = "1.2.3"
		o.Log = zap.New(core)
	})
	tr := e.tap()
	e.srv.Inject(lt.Fault{Route: "verify", Kind: lt.CommitThenDrop})
	out, err := e.c.Verify(context.Background(), tr)
	if err != nil || out.Status != verifyclient.StatusAuthentic {
		t.Fatalf("Verify = %+v, %v", out, err)
	}
	for _, r := range e.srv.Requests() {
		if r.Header.Get("User-Agent") != "nfcd/1.2.3" || r.Header.Get("X-Partner-Key") != key ||
			r.Header.Get("Idempotency-Key") != "" || r.Header.Get("X-Idempotency-Key") != "" {
			t.Errorf("%s request headers %v", r.Route, r.Header)
		}
		if r.Route == "verify" && string(r.Body) != `{"uid":"`+tr.UID+`","ctr":"`+tr.Ctr+`","cmac":"`+tr.CMAC+`"}` {
			t.Errorf("verify body %s", r.Body)
		}
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged for an ambiguous verify")
	}
	for _, entry := range logs.All() {
		line := entry.Message
		for _, f := range entry.Context {
			line += " " + f.String + " " + stringify(f)
		}
		if strings.Contains(line, key) || strings.Contains(line, tr.CMAC) {
			t.Errorf("log line leaks a secret: %s", line)
		}
	}
}
