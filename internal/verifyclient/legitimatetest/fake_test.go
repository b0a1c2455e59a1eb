package legitimatetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verifyclient"
)

const demoUID = "041E3C8A2D6B80"

var demoKey = ntag424.Key{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// TestMintKAT: the public sdm-backend vector (remote-apis.md §1.9): zero
// key, uid 041E3C8A2D6B80, ctr 000006 → cmac 4B00064004B0B3D3.
func TestMintKAT(t *testing.T) {
	uid := [7]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}
	got, err := Mint(ntag424.Key{}, uid, 6)
	want := verifyclient.Triple{UID: demoUID, Ctr: "000006", CMAC: "4B00064004B0B3D3"}
	if err != nil || got != want {
		t.Fatalf("Mint(zero key, %X, 6) = %+v, %v; want %+v", uid, got, err, want)
	}
}

func post(t *testing.T, s *Server, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := s.HTTP.Client().Post(s.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return readJSON(t, resp)
}

func get(t *testing.T, s *Server, path string) (int, map[string]any) {
	t.Helper()
	resp, err := s.HTTP.Client().Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return readJSON(t, resp)
}

func readJSON(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func newDemo(t *testing.T, opts Options) *Server {
	s := NewServer(opts, Tag{UID: demoUID, Key: demoKey, Counter: 5, Name: "Demo", Claimable: true, RecoverEnabled: true,
		NFTContractAddress: "0x5774Fb705c21F0CD29AE1F950bB3AD66D3d82492", NFTTokenID: 206})
	t.Cleanup(s.Close)
	return s
}

// TestVerifyRules walks remote-apis.md §3.8's verify rules.
func TestVerifyRules(t *testing.T) {
	s := newDemo(t, Options{})
	tr, _ := s.Tap(demoUID)
	if tr.Ctr != "000006" {
		t.Fatalf("first tap counter %s, want 000006 (above the accepted 5)", tr.Ctr)
	}
	st, m := post(t, s, "/tags/verify", tr)
	if st != 200 || m["verified"] != true || m["uid"] != demoUID {
		t.Fatalf("verify = %d %v", st, m)
	}
	st, m = post(t, s, "/tags/verify", tr)
	if st != 422 || js(m) != `{"errors":{"cmac":"has expired"}}` {
		t.Errorf("second verify = %d %s", st, js(m))
	}
	bad := tr
	bad.CMAC = "0000000000000000"
	if st, m = post(t, s, "/tags/verify", bad); st != 422 || js(m) != `{"errors":{"cmac":"is invalid"}}` {
		t.Errorf("bad mac = %d %s", st, js(m))
	}
	unknown := tr
	unknown.UID = "04000000000000"
	if st, m = post(t, s, "/tags/verify", unknown); st != 422 || js(m) != `{"errors":{"tag":["could not be found"]}}` {
		t.Errorf("unknown = %d %s", st, js(m))
	}
	if st, m = post(t, s, "/tags/verify", map[string]string{"uid": demoUID}); st != 422 || js(m) != `{"errors":{"ctr":["can't be blank"]}}` {
		t.Errorf("missing ctr = %d %s", st, js(m))
	}
	// A stale tap: valid MAC, counter not above the last accepted.
	stale, _ := Mint(demoKey, [7]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}, 3)
	if st, m = post(t, s, "/tags/verify", stale); st != 422 || js(m) != `{"errors":{"cmac":"has expired"}}` {
		t.Errorf("stale = %d %s", st, js(m))
	}
	// Lower-case hex is accepted unless StrictCase.
	tr2, _ := s.Tap(demoUID)
	lower := verifyclient.Triple{UID: strings.ToLower(tr2.UID), Ctr: tr2.Ctr, CMAC: strings.ToLower(tr2.CMAC)}
	if st, _ = post(t, s, "/tags/verify", lower); st != 200 {
		t.Errorf("lower-case verify = %d", st)
	}
	if !s.Accepted(tr2) {
		t.Error("Accepted(upper) false after a lower-case verify")
	}
}

func TestVerifyKnobs(t *testing.T) {
	s := newDemo(t, Options{UnknownTagStatus: 404, ArrayErrors: true, StaleInvalid: true, StrictCase: true})
	tr, _ := s.Tap(demoUID)
	lower := tr
	lower.CMAC = strings.ToLower(tr.CMAC)
	if st, m := post(t, s, "/tags/verify", lower); st != 422 || js(m) != `{"errors":{"cmac":["is invalid"]}}` {
		t.Errorf("strict lower-case = %d %s", st, js(m))
	}
	unknown := tr
	unknown.UID = "04000000000000"
	if st, _ := post(t, s, "/tags/verify", unknown); st != 404 {
		t.Errorf("unknown with 404 knob = %d", st)
	}
	stale, _ := Mint(demoKey, [7]byte{0x04, 0x1E, 0x3C, 0x8A, 0x2D, 0x6B, 0x80}, 2)
	if st, m := post(t, s, "/tags/verify", stale); st != 422 || js(m) != `{"errors":{"cmac":["is invalid"]}}` {
		t.Errorf("stale with StaleInvalid = %d %s", st, js(m))
	}
}

// TestConcurrentVerify: two (or twenty) identical requests at once →
// exactly one 200.
func TestConcurrentVerify(t *testing.T) {
	s := newDemo(t, Options{})
	tr, _ := s.Tap(demoUID)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, _ := json.Marshal(tr)
			resp, err := s.HTTP.Client().Post(s.URL+"/tags/verify", "application/json", bytes.NewReader(b))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Errorf("%d concurrent verifies succeeded, want 1", ok)
	}
}

func TestLatestValidateClaimRecover(t *testing.T) {
	s := newDemo(t, Options{})
	tr, _ := s.Tap(demoUID)
	if st, _ := post(t, s, "/tags/cmac/latest", tr); st != 422 {
		t.Errorf("latest before verify = %d, want 422", st)
	}
	if st, m := post(t, s, "/tags/cmac/validate", tr); st != 200 || m["cmac_verified"] != true {
		t.Errorf("validate = %d %v", st, m)
	}
	post(t, s, "/tags/verify", tr)
	st, m := post(t, s, "/tags/cmac/latest", tr)
	if st != 200 || m["verification"].(map[string]any)["cmac"] != tr.CMAC {
		t.Fatalf("latest = %d %v", st, m)
	}
	if s.Requests()[len(s.Requests())-1].Committed {
		t.Error("latest recorded as a state change")
	}
	wallet := "0x803d7be89C5880bEA2F13bc62718a4846f801CFD"
	body := map[string]string{"uid": tr.UID, "ctr": tr.Ctr, "cmac": tr.CMAC, "walletAddress": wallet}
	if st, m = post(t, s, "/tags/claim", body); st != 200 || !strings.HasPrefix(m["hash"].(string), "0x") {
		t.Fatalf("claim = %d %v", st, m)
	}
	if s.Owner(demoUID) != wallet {
		t.Errorf("owner %q after claim", s.Owner(demoUID))
	}
	if st, m = post(t, s, "/tags/claim", body); st != 422 || !strings.Contains(m["error"].(string), "already been claimed") {
		t.Errorf("second claim = %d %v", st, m)
	}
	// A newer verified tap makes the old triple stale for recover.
	tr2, _ := s.Tap(demoUID)
	post(t, s, "/tags/verify", tr2)
	if st, m = post(t, s, "/tags/recover", tr); st != 422 || m["error"] != "Unauthorized" {
		t.Errorf("recover with an old triple = %d %v", st, m)
	}
	if st, _ = post(t, s, "/tags/recover", tr2); st != 200 || s.Owner(demoUID) != "" {
		t.Errorf("recover = %d, owner %q", st, s.Owner(demoUID))
	}
	st, m = get(t, s, "/transfers/"+demoUID)
	if st != 200 || len(m["transfers"].([]any)) != 3 {
		t.Errorf("transfers = %d %v", st, m)
	}
	if st, m = get(t, s, "/transfers/"+demoUID+"?type=claim&receiver="+wallet); st != 200 || len(m["transfers"].([]any)) != 1 {
		t.Errorf("claim transfers = %d %v", st, m)
	}
	for _, q := range []string{"?type=claim", "?type=claim&sender=" + wallet + "&receiver=" + wallet, "?type=recover&receiver=" + wallet, "?type=bogus", "?sender=" + wallet, "?type=mint&receiver=a&x=1"} {
		if st, _ = get(t, s, "/transfers/"+demoUID+q); st != 406 {
			t.Errorf("transfers%s = %d, want 406", q, st)
		}
	}
	st, m = get(t, s, "/verifications/"+demoUID+"?limit=1&page=2")
	if vs := m["verifications"].([]any); st != 200 || len(vs) != 1 || vs[0].(map[string]any)["counter"] != float64(7) {
		t.Errorf("verifications page 2 = %d %v", st, m)
	}
	if st, m = get(t, s, "/verifications/04000000000000"); st != 404 || js(m) != `{"error":{"tag":["could not be found"]}}` {
		t.Errorf("verifications unknown = %d %s", st, js(m))
	}
}

func TestConsent(t *testing.T) {
	s := newDemo(t, Options{})
	s.AddUser("name@example.com")
	if st, _ := get(t, s, "/marketing_consent?subscribe=true&email=nobody%40example.com"); st != 404 {
		t.Errorf("unknown user = %d", st)
	}
	st, m := get(t, s, "/marketing_consent?subscribe=true&email=name%40example.com")
	if st != 200 || js(m) != `{"message":{"email_marketing_consent":"name@example.com subscribed"}}` {
		t.Errorf("consent = %d %s", st, js(m))
	}
	if c := s.Consent("NAME@example.com"); c == nil || !*c {
		t.Errorf("Consent = %v", c)
	}
}

func TestAPIKey(t *testing.T) {
	s := newDemo(t, Options{APIKeyHeader: "X-API-Key", APIKey: "k1"})
	tr, _ := s.Tap(demoUID)
	if st, _ := post(t, s, "/tags/verify", tr); st != 401 {
		t.Errorf("verify without key = %d, want 401", st)
	}
	if s.Accepted(tr) {
		t.Error("accepted without key")
	}
}

// TestFaults: the commit-then faults consume the triple, the before
// faults do not.
func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		fault     Fault
		committed bool
	}{
		{Fault{Kind: DropBeforeCommit}, false},
		{Fault{Kind: CommitThenDrop}, true},
		{Fault{Kind: Status, Code: 429, RetryAfter: "1"}, false},
		{Fault{Kind: CommitThenStatus, Code: 502}, true},
		{Fault{Kind: Malformed}, true},
		{Fault{Kind: WrongContentType}, true},
		{Fault{Kind: Truncated}, true},
		{Fault{Kind: OKWithErrors}, false},
		{Fault{Kind: Redirect, Location: "http://127.0.0.1:1/"}, false},
	} {
		t.Run(string(tc.fault.Kind), func(t *testing.T) {
			s := newDemo(t, Options{})
			tr, _ := s.Tap(demoUID)
			tc.fault.Route = "verify"
			s.Inject(tc.fault)
			b, _ := json.Marshal(tr)
			c := s.HTTP.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Post(s.URL+"/tags/verify", "application/json", bytes.NewReader(b))
			if err == nil {
				io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if s.Accepted(tr) != tc.committed {
				t.Errorf("accepted = %v, want %v", s.Accepted(tr), tc.committed)
			}
			reqs := s.VerifyRequests(tr)
			if len(reqs) != 1 || reqs[0].Fault != tc.fault.Kind || reqs[0].Committed != tc.committed {
				t.Errorf("recorded %+v", reqs)
			}
			// The fault is used up: the next request is normal.
			tr2, _ := s.Tap(demoUID)
			b, _ = json.Marshal(tr2)
			resp, err = c.Post(s.URL+"/tags/verify", "application/json", bytes.NewReader(b))
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("next verify: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
		})
	}
}

func TestParseTags(t *testing.T) {
	doc := `
[[tag]]
uid = "041E3C8A2D6B80"
key = "000102030405060708090A0B0C0D0E0F"
counter = 7
name = "Demo"
claimable = true

[[user]]
email = "a@example.com"
`
	tags, users, err := ParseTags("tags.toml", []byte(doc))
	if err != nil || len(tags) != 1 || tags[0].Counter != 7 || tags[0].Key[15] != 0x0F || len(users) != 1 {
		t.Fatalf("ParseTags = %+v %v %v", tags, users, err)
	}
	for _, bad := range []string{
		"[[tag]]\nuid = \"041E3C8A2D6B80\"\nkey = \"SECRETSECRETSECRETSECRETSECRET12\"",
		"[[tag]]\nuid = \"04\"\nkey = \"000102030405060708090A0B0C0D0E0F\"",
		"[[tag]]\nuid = \"041E3C8A2D6B80\"\nkey = \"000102030405060708090A0B0C0D0E0F\"\nbogus = 1",
	} {
		_, _, err := ParseTags("tags.toml", []byte(bad))
		if err == nil {
			t.Errorf("ParseTags(%q) succeeded", bad)
		} else if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "0102030405") {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}
