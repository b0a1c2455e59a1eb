package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/health"
	"github.com/nfcd/nfcd/internal/history"
	"github.com/nfcd/nfcd/internal/logging"
	"github.com/nfcd/nfcd/internal/metrics"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

// configDoc is a configuration file with the test profile under name, the
// origins and the log level given.
func configDoc(name, origins, level string) string {
	return `listen = "127.0.0.1:0"
allowed_origins = [` + origins + `]

[log]
level = "` + level + `"

[[profile]]
name = "` + name + `"
match = "https://tags.example/"
mode = "enc"
sdm_file_read_key = "` + testKeys[0] + `"
sdm_meta_read_key = "` + testKeys[1] + `"
`
}

// writeFile replaces path atomically, as editors and Ansible do.
func writeFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits for a log entry with message msg after the first n.
func waitLog(t *testing.T, logs *observer.ObservedLogs, msg string, n int) observer.LoggedEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if es := logs.FilterMessage(msg).All(); len(es) > n {
			return es[n]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log entry %q", msg)
	return observer.LoggedEntry{}
}

// TestReload changes the configuration file under a running daemon with a
// connected client: new profiles, origins and log level apply without
// dropping the client or the reader; a broken file is refused with an
// error event and the running configuration kept; keys that need a
// restart are named.
func TestReload(t *testing.T) {
	cfgDir := t.TempDir()
	path := filepath.Join(cfgDir, "nfcd.toml")
	writeFile(t, path, configDoc("first", "", "info"))
	var mu sync.Mutex
	var levels []string
	reload := make(chan struct{})
	h := startDaemonOpts(t, t.TempDir(), nil, "", func(o *Options) {
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		o.Config, o.ConfigFile, o.Reload = cfg, path, reload
		o.OnConfig = func(c config.Config) {
			mu.Lock()
			levels = append(levels, c.Log.Level)
			mu.Unlock()
		}
	})
	c := h.dial()
	h.tap(simulate.Genuine)
	if p := c.tagRead(); p["profile"] != "first" || p["verdict"] != "authentic" {
		t.Fatalf("before reload: %v", p)
	}

	// The file changes: the watcher reloads it.
	writeFile(t, path, configDoc("second", `"https://pos.example"`, "debug"))
	e := waitLog(t, h.logs, "configuration reloaded", 0)
	if got := e.ContextMap()["applied"]; !strings.Contains(toJSON(got), "allowed_origins") || !strings.Contains(toJSON(got), "profile") || !strings.Contains(toJSON(got), "log.level") {
		t.Errorf("applied %v", got)
	}
	h.tap(simulate.Genuine)
	if p := c.tagRead(); p["profile"] != "second" || p["verdict"] != "authentic" {
		t.Errorf("after reload, on the same connection: %v", p)
	}
	mu.Lock()
	if strings.Join(levels, ",") != "info,debug" {
		t.Errorf("OnConfig levels %v, want info then debug", levels)
	}
	mu.Unlock()
	u := "ws" + strings.TrimPrefix(h.url, "http") + "v1/ws"
	d := websocket.Dialer{Subprotocols: []string{"nfcd.v1", "nfcd-token." + h.token}}
	conn, resp, err := d.Dial(u, http.Header{"Origin": {"https://pos.example"}})
	if err != nil {
		t.Errorf("the new origin is refused: %v %v", err, resp)
	} else {
		conn.Close()
	}

	// A broken file: refused, clients told, the running one kept.
	writeFile(t, path, configDoc("third", `"https://pos.example"`, "loud")+"lisen = 1\n")
	waitLog(t, h.logs, "configuration refused; the running one is kept", 0)
	ev := c.next(func(m map[string]any) bool { return m["type"] == "error" })
	if p := ev["payload"].(map[string]any); p["code"] != "config_rejected" {
		t.Errorf("error event %v, want config_rejected", p)
	}
	problems := h.logs.FilterMessage("configuration problem").All()
	if n := len(problems); n != 2 {
		t.Errorf("%d problems logged, want 2 (log.level, lisen)", n)
	}
	named := false
	for _, e := range problems {
		for k, v := range e.ContextMap() {
			if v == "log.level" {
				named = true
				if logging.SecretName(k) {
					t.Errorf("the problem's key name is logged as %q, which the log redacts as a secret", k)
				}
			}
		}
	}
	if !named {
		t.Error("no logged problem names the key log.level")
	}
	h.tap(simulate.Genuine)
	if p := c.tagRead(); p["profile"] != "second" {
		t.Errorf("after a refused reload: %v, want the running profile", p)
	}

	// SIGHUP (the Reload channel): a listen change needs a restart.
	writeFile(t, path, strings.Replace(configDoc("second", `"https://pos.example"`, "debug"), "127.0.0.1:0", "127.0.0.1:1", 1))
	waitLog(t, h.logs, "configuration reloaded", 1)
	reload <- struct{}{}
	e = waitLog(t, h.logs, "configuration unchanged", 0)
	if e.ContextMap()["reason"] != reasonSignal {
		t.Errorf("reload reason %v", e.ContextMap()["reason"])
	}
	if w := waitLog(t, h.logs, "changed settings take effect at the next start", 0); toJSON(w.ContextMap()["keys"]) != `["listen"]` {
		t.Errorf("restart keys %v", w.ContextMap()["keys"])
	}
	for _, e := range h.logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		for _, k := range testKeys {
			if strings.Contains(string(b)+e.Message, k) {
				t.Errorf("a log line holds a key: %s %s", e.Message, b)
			}
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestHealthAndMetrics reads /healthz and /metrics of a running daemon:
// the simulated reader is healthy, a tap is counted, /metrics wants a
// token until metrics_public is set.
func TestHealthAndMetrics(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	get := func(path, bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, h.url+strings.TrimPrefix(path, "/"), nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz", "")
	var r health.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 {
		t.Fatalf("/healthz = %d %s", code, body)
	}
	if r.Status != health.StatusOK || r.PCSC.State != health.PCSCSimulated || len(r.Readers) != 1 || !r.Store.OK || r.Version != "test" {
		t.Errorf("/healthz = %+v", r)
	}

	h.tap(simulate.Genuine)
	c.tagRead()
	if code, _ := get("/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}
	if code, _ := get("/metrics", "nfcd_wrong"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d, want 401", code)
	}
	code, body = get("/metrics", h.token)
	if code != 200 {
		t.Fatalf("/metrics with a token: %d", code)
	}
	for _, want := range []string{
		`nfcd_taps_total{reader="` + simulate.ReaderName + `",verdict="authentic"} 1`,
		"nfcd_tap_duration_seconds_count 1",
		"nfcd_ws_clients 1",
		"nfcd_readers_connected 1",
		`nfcd_build_info{`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, k := range testKeys {
		if strings.Contains(body, k) {
			t.Error("/metrics holds a key")
		}
	}
}

// TestMetricsGuard: /metrics is for loopback clients only, whatever the
// token, and metrics_public opens it to them without one.
func TestMetricsGuard(t *testing.T) {
	dir := t.TempDir()
	ts := token.Open(statedir.PathsOf(dir).Tokens)
	tok, err := ts.Create("prom")
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{metrics: metrics.New(metrics.Build{Version: "t"}), tokens: &token.Watcher{Store: ts}}
	h := d.metricsHandler()
	serve := func(remote, bearer string) int {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr = remote
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	for _, tc := range []struct {
		remote, bearer string
		public         bool
		want           int
	}{
		{"127.0.0.1:5000", tok, false, 200},
		{"[::1]:5000", tok, false, 200},
		{"127.0.0.1:5000", "", false, 401},
		{"192.168.1.20:5000", tok, false, 403},
		{"127.0.0.1:5000", "", true, 200},
		{"192.168.1.20:5000", "", true, 403},
	} {
		d.metricsPublic.Store(tc.public)
		if got := serve(tc.remote, tc.bearer); got != tc.want {
			t.Errorf("%s token=%v public=%v: %d, want %d", tc.remote, tc.bearer != "", tc.public, got, tc.want)
		}
	}
}

type failingLedger struct{}

func (failingLedger) Record(context.Context, []*verdict.Verdict) error {
	return errors.New("disk I/O error")
}

// TestHealthStoreFailed: a failed ledger step makes the daemon unable to
// serve taps (503) until a step succeeds again.
func TestHealthStoreFailed(t *testing.T) {
	d := &daemon{pipeline: tap.New(tap.Config{}), ledger: &healthLedger{Ledger: failingLedger{}}, opts: Options{Version: "t"}}
	d.ledger.Record(context.Background(), nil)
	r := d.health(context.Background())
	r.Evaluate()
	if r.Code() != http.StatusServiceUnavailable || !strings.Contains(strings.Join(r.Problems, " "), health.ProblemStore) {
		t.Errorf("report %+v, want 503 with %s", r, health.ProblemStore)
	}
}

// TestAdminAPI uses the running daemon's admin API as the commands do.
func TestAdminAPI(t *testing.T) {
	h := startDaemon(t)
	c := h.dial()
	h.tap(simulate.Genuine)
	c.tagRead()
	ac := admin.NewClient(admin.Path(h.dir))
	ctx := context.Background()

	var st Status
	if err := ac.Call(ctx, AdminStatus, nil, &st); err != nil || st.PID != os.Getpid() || st.StateDir != h.dir || st.PCSC != "simulated" {
		t.Errorf("status = %+v, %v", st, err)
	}
	var hr history.Result
	if err := ac.Call(ctx, AdminHistoryQuery, history.Query{Limit: 5}, &hr); err != nil || len(hr.Entries) != 1 || hr.Entries[0].Verdict != "authentic" {
		t.Errorf("history = %+v, %v", hr, err)
	}
	var ae *admin.Error
	if err := ac.Call(ctx, AdminHistoryQuery, map[string]any{"uid": "XYZ"}, nil); !errors.As(err, &ae) || ae.Code != admin.CodeBadRequest {
		t.Errorf("bad history query: %v", err)
	}
	// marks.restart (nfcd tag after personalising): the tag's marks are
	// replaced by the given counter, so its next tap below it is a replay.
	e := hr.Entries[0]
	var mr MarksRestarted
	if err := ac.Call(ctx, AdminMarksRestart, MarksRestart{UID: e.UID, Profile: e.Profile, Ctr: ntag424.CounterOf(e.Ctr.Value + 1000)}, &mr); err != nil || mr.Previous != e.Ctr {
		t.Errorf("marks.restart = %+v, %v; want previous %v", mr, err, e.Ctr)
	}
	h.tap(simulate.Genuine)
	if p := c.tagRead(); p["verdict"] != verdict.Replayed {
		t.Errorf("tap below the restarted mark: %v, want replayed", p["verdict"])
	}
	if err := ac.Call(ctx, AdminMarksRestart, MarksRestart{UID: e.UID}, &mr); err != nil || mr.Previous != ntag424.CounterOf(e.Ctr.Value+1000) {
		t.Errorf("marks.restart without counter = %+v, %v", mr, err)
	}
	h.tap(simulate.Genuine)
	if p := c.tagRead(); p["verdict"] != verdict.Authentic {
		t.Errorf("tap after the marks were deleted: %v, want authentic", p["verdict"])
	}
	if err := ac.Call(ctx, AdminMarksRestart, MarksRestart{UID: "zz"}, nil); !errors.As(err, &ae) || ae.Code != admin.CodeBadRequest {
		t.Errorf("marks.restart of a bad UID: %v", err)
	}
	var key KeyInfo
	if err := ac.Call(ctx, AdminKeyShow, nil, &key); err != nil || key.KeyID != verdict.KeyID(h.publicKey()) {
		t.Errorf("key = %+v, %v", key, err)
	}
	var created TokenCreated
	if err := ac.Call(ctx, AdminTokenCreate, TokenRequest{Name: "pos-2"}, &created); err != nil || !strings.HasPrefix(created.Token, token.Prefix) {
		t.Fatalf("token.create = %+v, %v", created, err)
	}
	if err := ac.Call(ctx, AdminTokenCreate, TokenRequest{Name: "pos-2"}, nil); !errors.As(err, &ae) || ae.Code != admin.CodeBadRequest {
		t.Errorf("duplicate token: %v", err)
	}
	h2 := *h
	h2.token = created.Token
	h2.dial() // the new token works at once
	var list []TokenInfo
	if err := ac.Call(ctx, AdminTokenList, nil, &list); err != nil || len(list) != 2 {
		t.Errorf("token.list = %+v, %v", list, err)
	}
	if err := ac.Call(ctx, AdminTokenRevoke, TokenRequest{Name: "pos-2"}, nil); err != nil {
		t.Errorf("token.revoke: %v", err)
	}
	var rr ReloadResult
	if err := ac.Call(ctx, AdminConfigReload, nil, &rr); err != nil || rr.File != "" || rr.Refused {
		t.Errorf("config.reload without a file = %+v, %v", rr, err)
	}
	for _, e := range h.logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		if strings.Contains(string(b), created.Token[len(token.Prefix):]) {
			t.Errorf("a log line holds the new token: %s %s", e.Message, b)
		}
	}
	h.stop()
	if err := ac.Call(ctx, AdminStatus, nil, nil); !errors.Is(err, admin.ErrNotRunning) {
		t.Errorf("after stop: %v, want ErrNotRunning", err)
	}
}

// health fetches /healthz of the running daemon.
func (h *harness) health() health.Report {
	h.t.Helper()
	resp, err := http.Get(h.url + "healthz")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r health.Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		h.t.Fatal(err)
	}
	return r
}
