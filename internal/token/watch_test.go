package token

import (
	"context"
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// runWatcher runs a Watcher on s (file notification, settled for 5 ms; a
// poll would come only after an hour) and returns a
// function that waits for its next Changed call (false after 2 s without
// one), and its logs.
func runWatcher(t *testing.T, s *Store) (changed func() bool, logs *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	ch := make(chan struct{}, 16)
	w := &Watcher{Store: s, Settle: 5 * time.Millisecond, Interval: time.Hour, Log: zap.New(core), Changed: func() { ch <- struct{}{} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	// Let the first look happen before the test changes the file.
	time.Sleep(20 * time.Millisecond)
	return func() bool {
		select {
		case <-ch:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}, logs
}

// TestWatcherSeesRevocationByAnotherProcess: `nfcd token revoke` in
// another process changes the file; the daemon's watcher calls Changed,
// and Has then refuses the revoked token, also one revoked and re-created
// under the same name, while the others stay.
func TestWatcherSeesRevocationByAnotherProcess(t *testing.T) {
	s := Open(tempPath(t))
	toks := map[string]string{}
	for _, n := range []string{"pos-1", "pos-2", "pos-3"} {
		tok, err := s.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		toks[n] = tok
	}
	has := func(name string) bool { return s.Has(name, sha256.Sum256([]byte(toks[name]))) }
	for n := range toks {
		if !has(n) {
			t.Fatalf("Has(%s) = false before any revocation", n)
		}
	}
	if s.Has("pos-1", sha256.Sum256([]byte(toks["pos-2"]))) {
		t.Error("Has accepts another token's secret under a name")
	}
	changed, logs := runWatcher(t, s)
	other := Open(s.Path()) // the CLI's own Store
	if err := other.Revoke("pos-2"); err != nil {
		t.Fatal(err)
	}
	if !changed() {
		t.Fatal("no Changed call after a revocation")
	}
	if has("pos-2") || !has("pos-1") || !has("pos-3") {
		t.Errorf("after revoking pos-2: Has = %v %v %v", has("pos-1"), has("pos-2"), has("pos-3"))
	}
	if err := other.Revoke("pos-3"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create("pos-3"); err != nil {
		t.Fatal(err)
	}
	for changed() {
	}
	if has("pos-3") {
		t.Error("the old secret of a re-created name is still accepted")
	}
	names := map[string]bool{}
	for _, e := range logs.FilterMessage("token revoked").All() {
		names[e.ContextMap()["name"].(string)] = true
	}
	if !names["pos-2"] || !names["pos-3"] || names["pos-1"] {
		t.Errorf("revocations logged for %v, want pos-2 and pos-3", names)
	}
	// Deleting the file revokes every token.
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	if !changed() || has("pos-1") {
		t.Error("file removed: pos-1 still accepted")
	}
}

// TestCorruptTokenFileLoggedOnce repeats issue 13 §6: a corrupt
// tokens.json made every client fail with only "missing or invalid
// token" logged. The cause is logged once (not per attempt, not per
// poll), and again when the file is usable.
func TestCorruptTokenFileLoggedOnce(t *testing.T) {
	s := Open(tempPath(t))
	tok, err := s.Create("pos-1")
	if err != nil {
		t.Fatal(err)
	}
	changed, logs := runWatcher(t, s)
	good, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	// Replaced in one step, as an editor saves: the watcher must not see a
	// half-written file, which would be another problem.
	replace := func(b []byte) {
		t.Helper()
		tmp := s.Path() + ".edit"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, s.Path()); err != nil {
			t.Fatal(err)
		}
	}
	replace([]byte(`{"version":1,"tokens":[{"name":"pos-1",`))
	if _, ok := s.Check(tok); ok {
		t.Error("Check accepts a token while the file is corrupt")
	}
	time.Sleep(100 * time.Millisecond) // time for more looks than one
	bad := logs.FilterMessageSnippet("token file unusable").All()
	if len(bad) != 1 {
		t.Fatalf("%d log lines about the corrupt file, want 1", len(bad))
	}
	cause, _ := bad[0].ContextMap()["error"].(string)
	if !strings.Contains(cause, "invalid JSON at byte") || strings.Contains(cause, "pos-1") {
		t.Errorf("logged cause %q: want the position, never the content", cause)
	}
	if changed() {
		t.Errorf("a corrupt file called Changed; live connections stay until it is fixed")
	}
	replace(good)
	deadline := time.Now().Add(2 * time.Second)
	for logs.FilterMessage("token file usable again").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no log line when the file became usable again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := s.Check(tok); !ok {
		t.Error("Check refuses the token after the file was fixed")
	}
}

// TestWatcherPollsWithoutNotification: a token file whose directory cannot
// be watched (it does not exist yet) is polled instead, and a revocation
// made once it exists still reaches Changed.
func TestWatcherPollsWithoutNotification(t *testing.T) {
	dir := t.TempDir() + "/later"
	s := Open(dir + "/tokens.json")
	ch := make(chan struct{}, 16)
	w := &Watcher{Store: s, Interval: 5 * time.Millisecond, Changed: func() { ch <- struct{}{} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	time.Sleep(20 * time.Millisecond)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("pos-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no Changed call from the polling fallback")
	}
}
