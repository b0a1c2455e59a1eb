package ws_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/ws"
)

func TestHandshakeSecurity(t *testing.T) {
	ts := startServer(t, nil)
	p := ts.port
	tests := []struct {
		name string
		o    dialOpts
		want int
	}{
		{"token subprotocol", dialOpts{}, http.StatusSwitchingProtocols},
		{"bearer", dialOpts{bearer: testToken}, http.StatusSwitchingProtocols},
		{"host localhost", dialOpts{host: "localhost:" + p}, http.StatusSwitchingProtocols},
		{"host LOCALHOST", dialOpts{host: "LOCALHOST:" + p}, http.StatusSwitchingProtocols},
		{"own origin 127.0.0.1", dialOpts{origin: "http://127.0.0.1:" + p}, http.StatusSwitchingProtocols},
		{"own origin localhost", dialOpts{origin: "http://localhost:" + p}, http.StatusSwitchingProtocols},
		{"allow-listed origin", dialOpts{origin: "https://pos.example.com"}, http.StatusSwitchingProtocols},
		{"allow-listed origin, other case", dialOpts{origin: "HTTPS://POS.example.com"}, http.StatusSwitchingProtocols},

		{"rebinding host", dialOpts{host: "evil.com:" + p}, http.StatusForbidden},
		{"rebinding host and origin", dialOpts{host: "evil.com:" + p, origin: "http://evil.com:" + p}, http.StatusForbidden},
		{"host without port", dialOpts{host: "127.0.0.1"}, http.StatusForbidden},
		{"host other port", dialOpts{host: "127.0.0.1:1"}, http.StatusForbidden},
		{"host 127.0.0.1.nip.io", dialOpts{host: "127.0.0.1.nip.io:" + p}, http.StatusForbidden},
		{"host localhost.", dialOpts{host: "localhost.:" + p}, http.StatusForbidden},
		// The listener is 127.0.0.1: nothing reaches it as [::1].
		{"host [::1] on an IPv4 listener", dialOpts{host: "[::1]:" + p}, http.StatusForbidden},
		{"host 127.0.0.2 on 127.0.0.1", dialOpts{host: "127.0.0.2:" + p}, http.StatusForbidden},
		{"foreign origin", dialOpts{origin: "https://evil.example"}, http.StatusForbidden},
		{"foreign origin with token", dialOpts{origin: "https://evil.example", bearer: testToken}, http.StatusForbidden},
		{"null origin", dialOpts{origin: "null"}, http.StatusForbidden},
		{"own origin other port", dialOpts{origin: "http://127.0.0.1:1"}, http.StatusForbidden},
		{"own origin https", dialOpts{origin: "https://127.0.0.1:" + p}, http.StatusForbidden},
		{"allow-listed origin over http", dialOpts{origin: "http://pos.example.com"}, http.StatusForbidden},
		{"allow-listed origin suffix", dialOpts{origin: "https://pos.example.com.evil.example"}, http.StatusForbidden},

		{"no token", dialOpts{noToken: true}, http.StatusUnauthorized},
		{"no token, own origin", dialOpts{noToken: true, origin: "http://127.0.0.1:" + p}, http.StatusUnauthorized},
		{"bad token", dialOpts{protocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + "wrong"}}, http.StatusUnauthorized},
		{"empty token", dialOpts{protocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix}}, http.StatusUnauthorized},
		{"bad bearer", dialOpts{bearer: "wrong"}, http.StatusUnauthorized},
		{"token prefix", dialOpts{bearer: testToken[:10]}, http.StatusUnauthorized},
		{"no nfcd.v1", dialOpts{protocols: []string{ws.TokenSubprotocolPrefix + testToken}}, http.StatusBadRequest},
		{"other subprotocol", dialOpts{protocols: []string{"nfcd.v2", ws.TokenSubprotocolPrefix + testToken}}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := ts.dialRaw(tc.o)
			if c != nil {
				c.Close()
			}
			if resp == nil {
				t.Fatalf("dial(%+v): no response: %v", tc.o, err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("dial(%s) status = %d, want %d", tc.name, resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusSwitchingProtocols {
				return
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("dial(%s): rejected response allows origin %q", tc.name, got)
			}
			if tc.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("dial(%s): 401 without WWW-Authenticate", tc.name)
			}
		})
	}
}

// sessionRequest performs GET /v1/session with extra headers.
func (ts *testServer) sessionRequest(t *testing.T, method string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+ts.addr+"/v1/session", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestSession(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ts := startServer(t, func(c *ws.Config) { c.Now = clock })
	own := "http://127.0.0.1:" + ts.port

	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		want   int
	}{
		{"same-origin fetch", "GET", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"own origin", "GET", map[string]string{"Origin": own}, 200},
		{"own origin localhost", "GET", map[string]string{"Origin": "http://localhost:" + ts.port, "Host": "localhost:" + ts.port}, 200},
		{"no origin, no fetch metadata", "GET", nil, 403},
		{"cross-site fetch", "GET", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"allow-listed but not own origin", "GET", map[string]string{"Origin": "https://pos.example.com"}, 403},
		{"foreign origin", "GET", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}, 403},
		{"rebinding host", "GET", map[string]string{"Host": "evil.com:" + ts.port, "Sec-Fetch-Site": "same-origin"}, 403},
		{"POST", "POST", map[string]string{"Origin": own}, 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ts.sessionRequest(t, tc.method, tc.hdr)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s /v1/session (%s) = %d %s, want %d", tc.method, tc.name, resp.StatusCode, body, tc.want)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("/v1/session sent CORS headers")
			}
			if tc.want != 200 {
				return
			}
			var sr struct {
				Token     string `json:"token"`
				ExpiresIn int    `json:"expires_in"`
			}
			if err := json.Unmarshal([]byte(body), &sr); err != nil || len(sr.Token) < 40 || sr.ExpiresIn != 60 {
				t.Errorf("session body = %s (%v)", body, err)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("session response is cacheable")
			}
		})
	}

	mint := func() string {
		_, body := ts.sessionRequest(t, "GET", map[string]string{"Sec-Fetch-Site": "same-origin"})
		var sr struct{ Token string }
		json.Unmarshal([]byte(body), &sr)
		return sr.Token
	}
	dialWith := func(tok string) int {
		c, resp, _ := ts.dialRaw(dialOpts{origin: own, protocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + tok}})
		if c != nil {
			c.Close()
		}
		if resp == nil {
			return 0
		}
		return resp.StatusCode
	}
	tok := mint()
	if got := dialWith(tok); got != 101 {
		t.Errorf("dial with session token = %d, want 101", got)
	}
	if got := dialWith(tok); got != 401 {
		t.Errorf("second dial with the same session token = %d, want 401 (single use)", got)
	}
	tok = mint()
	mu.Lock()
	now = now.Add(61 * time.Second)
	mu.Unlock()
	if got := dialWith(tok); got != 401 {
		t.Errorf("dial with expired session token = %d, want 401", got)
	}

	// Unredeemed tokens are bounded.
	var status int
	for range 100 {
		resp, _ := ts.sessionRequest(t, "GET", map[string]string{"Sec-Fetch-Site": "same-origin"})
		if status = resp.StatusCode; status != 200 {
			break
		}
	}
	if status != http.StatusTooManyRequests {
		t.Errorf("minting 100 session tokens ended with %d, want 429", status)
	}
}

func TestSessionNeedsStatic(t *testing.T) {
	ts := startServer(t, func(c *ws.Config) { c.Static = nil })
	resp, _ := ts.sessionRequest(t, "GET", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/v1/session without Static = %d, want 404", resp.StatusCode)
	}
}

func TestPreflight(t *testing.T) {
	ts := startServer(t, nil)
	tests := []struct {
		name     string
		path     string
		origin   string
		host     string
		pna      bool
		want     int
		wantPNA  bool
		wantACAO string
	}{
		{"allowed origin with PNA", "/v1/ws", "https://pos.example.com", "", true, 204, true, "https://pos.example.com"},
		{"allowed origin without PNA", "/v1/ws", "https://pos.example.com", "", false, 204, false, "https://pos.example.com"},
		{"foreign origin", "/v1/ws", "https://evil.example", "", true, 403, false, ""},
		{"no origin", "/v1/ws", "", "", true, 403, false, ""},
		{"rebinding host", "/v1/ws", "https://pos.example.com", "evil.com:" + ts.port, true, 403, false, ""},
		{"session from allow-listed origin", "/v1/session", "https://pos.example.com", "", true, 403, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, "http://"+ts.addr+tc.path, nil)
			req.Header.Set("Access-Control-Request-Method", "GET")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.pna {
				req.Header.Set("Access-Control-Request-Private-Network", "true")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("OPTIONS %s (%s) = %d, want %d", tc.path, tc.name, resp.StatusCode, tc.want)
			}
			if got := resp.Header.Get("Access-Control-Allow-Private-Network") == "true"; got != tc.wantPNA {
				t.Errorf("OPTIONS (%s) Allow-Private-Network = %v, want %v", tc.name, got, tc.wantPNA)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("OPTIONS (%s) Allow-Origin = %q, want %q", tc.name, got, tc.wantACAO)
			}
		})
	}
}

func TestStaticBehindHostCheck(t *testing.T) {
	ts := startServer(t, func(c *ws.Config) {
		c.Static = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "kiosk page") })
	})
	for host, want := range map[string]int{"127.0.0.1:" + ts.port: 200, "evil.com:" + ts.port: 403} {
		req, _ := http.NewRequest("GET", "http://"+ts.addr+"/index.html", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET / with Host %s = %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestTokenNeverLeaks runs a session that touches every request type, error
// path and close path, and checks that neither the configured token nor a
// session token appears in any frame, response header or log line.
func TestTokenNeverLeaks(t *testing.T) {
	ts := startServer(t, nil)
	own := "http://127.0.0.1:" + ts.port
	var secrets []string
	secrets = append(secrets, testToken, "wrong-"+testToken[6:])

	var headers []string
	record := func(resp *http.Response) {
		if resp != nil {
			headers = append(headers, fmt.Sprint(resp.Header))
		}
	}
	// Failed attempts with a wrong token, a foreign origin and a rebinding host.
	for _, o := range []dialOpts{
		{protocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + secrets[1]}},
		{bearer: secrets[1]},
		{origin: "https://evil.example"},
		{host: "evil.com:" + ts.port},
	} {
		c, resp, _ := ts.dialRaw(o)
		if c != nil {
			t.Fatalf("dial(%+v) succeeded", o)
		}
		record(resp)
	}
	// A session token used once, then replayed.
	_, body := ts.sessionRequest(t, "GET", map[string]string{"Sec-Fetch-Site": "same-origin"})
	var sr struct{ Token string }
	json.Unmarshal([]byte(body), &sr)
	secrets = append(secrets, sr.Token)
	var clients []*client
	for range 2 {
		c, resp, err := ts.dialRaw(dialOpts{origin: own, protocols: []string{ws.Subprotocol, ws.TokenSubprotocolPrefix + sr.Token}})
		record(resp)
		if err == nil {
			clients = append(clients, &client{t: t, c: c})
		}
	}
	// Token clients: subprotocol and bearer.
	for _, o := range []dialOpts{{}, {bearer: testToken}} {
		c, resp, err := ts.dialRaw(o)
		record(resp)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, &client{t: t, c: c})
	}
	if len(clients) != 3 {
		t.Fatalf("%d clients connected, want 3 (session token must be single use)", len(clients))
	}
	for i, cl := range clients {
		cl.read() // hello
		cl.call(ws.TypeSubscribe, "s", nil)
		ts.Publish(ws.TypeTagRead, tagPayload("R1", i))
		cl.read()
		for _, typ := range []string{ws.TypePing, typeReadersList, typeHistoryQuery} {
			cl.call(typ, "q", map[string]any{"limit": 1})
		}
		cl.call(typeHistoryQuery, "q", map[string]any{"fail": true})
		cl.sendRaw("garbage")
		cl.read()
	}
	// Close paths: abuse (1008) and shutdown (1001).
	go func() {
		for range 30 {
			clients[0].c.WriteMessage(websocket.TextMessage, []byte("x"))
		}
	}()
	clients[0].readClose()
	ts.stop()
	for _, cl := range clients[1:] {
		cl.readClose()
	}

	var logText strings.Builder
	for _, e := range ts.logs.All() {
		enc := zapcore.NewMapObjectEncoder()
		for _, f := range e.Context {
			f.AddTo(enc)
		}
		fmt.Fprintf(&logText, "%s %s %v\n", e.LoggerName, e.Message, enc.Fields)
	}
	if ts.logs.Len() < 10 {
		t.Fatalf("only %d log entries captured", ts.logs.Len())
	}
	for _, secret := range secrets {
		if secret == "" {
			t.Fatal("empty secret")
		}
		for _, cl := range clients {
			for _, f := range cl.frames {
				if strings.Contains(string(f), secret) {
					t.Errorf("frame contains a token: %s", f)
				}
			}
		}
		for _, h := range headers {
			if strings.Contains(h, secret) {
				t.Errorf("response header contains a token: %s", h)
			}
		}
		if strings.Contains(logText.String(), secret) {
			t.Errorf("logs contain a token")
		}
	}
	// The check above must be able to fail: the logs do name the clients.
	if !strings.Contains(logText.String(), "pos") || !strings.Contains(logText.String(), "session") {
		t.Errorf("logs do not name the clients:\n%s", logText.String())
	}
}
