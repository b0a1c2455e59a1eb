package remoteverify_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

// Environment of the helper process of TestCrashSettlesOnce.
const (
	crashDB    = "NFCD_REMOTE_CRASH_DB"
	crashURL   = "NFCD_REMOTE_CRASH_URL"
	crashTaps  = "NFCD_REMOTE_CRASH_TAPS" // "uid-index:ctr,…"
	crashQuiet = "NFCD_REMOTE_CRASH_QUIET"
)

// crashTags are the fake's tags of the crash test (all with tagKey).
var crashTags = [][7]byte{
	{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x01},
	{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x02},
	{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x03},
}

func crashTap(uid int, ctr uint32) string { return fmt.Sprintf("u%d-c%d", uid, ctr) }

func crashTriple(t testing.TB, uid int, ctr uint32) verifyclient.Triple {
	tr, err := lt.Mint(tagKey, crashTags[uid], ctr)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestHelperVerifier is the child process of TestCrashSettlesOnce, not a
// test of its own. It runs a Verifier on the store, submits the taps it
// is given (printing "QUEUED tap" once Submit returned) and prints
// "SETTLED tap verdict" for every final update, until it is killed; with
// crashQuiet set it submits nothing and exits once only items the
// service cannot settle are left ("QUIET").
func TestHelperVerifier(t *testing.T) {
	path := os.Getenv(crashDB)
	if path == "" {
		t.Skip("helper process for TestCrashSettlesOnce")
	}
	fail := func(format string, args ...any) {
		fmt.Printf("FAIL "+format+"\n", args...)
		os.Exit(2)
	}
	st, err := store.Open(path, store.Options{Timeout: 5 * time.Second, MaxAge: -1})
	if err != nil {
		fail("open: %v", err)
	}
	leg := &remote.Legitimate{Config: verifyclient.Config{BaseURL: os.Getenv(crashURL), Timeout: tomlfile.Duration{Duration: 300 * time.Millisecond}},
		Mode: remote.Confirm, OutboxMaxAge: tomlfile.Duration{Duration: time.Hour}}
	if err := leg.Validate(); err != nil {
		fail("config: %v", err)
	}
	c, err := verifyclient.New(verifyclient.Options{BaseURL: leg.BaseURL, Timeout: leg.Timeout.Duration, Version: "crash"})
	if err != nil {
		fail("client: %v", err)
	}
	v, err := remoteverify.New(remoteverify.Config{Legitimate: leg, Client: c, Outbox: st,
		RetryDelay: 30 * time.Millisecond, SettleDelay: 30 * time.Millisecond})
	if err != nil {
		fail("verifier: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	go func() {
		for u := range v.Updates() {
			fmt.Printf("SETTLED %s %s\n", u.Verdict.Tap, u.Verdict.Verdict)
		}
	}()
	// Each line is one write to stdout, from any goroutine. Bounded so that
	// an orphaned helper stops by itself.
	deadline := time.Now().Add(30 * time.Second)
	if spec := os.Getenv(crashTaps); spec != "" {
		var batch []*verdict.Verdict
		flush := func() {
			held := make([]bool, len(batch))
			v.Submit(ctx, batch, held)
			for _, vd := range batch {
				fmt.Printf("QUEUED %s\n", vd.Tap)
			}
			batch = batch[:0]
		}
		for _, f := range strings.Split(spec, ",") {
			uid, _ := strconv.Atoi(f[:strings.IndexByte(f, ':')])
			ctr, _ := strconv.ParseUint(f[strings.IndexByte(f, ':')+1:], 10, 32)
			tr := crashTriple(t, uid, uint32(ctr))
			batch = append(batch, &verdict.Verdict{Tap: crashTap(uid, uint32(ctr)), Reader: "R", UID: tr.UID, Verdict: verdict.UnknownProfile,
				Reason: verdict.ReasonUnknownProfile, Time: time.Now(), URL: "https://legitimate.example/t?uid=" + tr.UID + "&ctr=" + tr.Ctr + "&cmac=" + tr.CMAC})
			if len(batch) == 3 {
				flush()
			}
		}
		if len(batch) > 0 {
			flush()
		}
	}
	if os.Getenv(crashQuiet) == "" {
		time.Sleep(time.Until(deadline))
		os.Exit(0)
	}
	start := map[uint64]int{}
	for time.Now().Before(deadline) {
		s := v.Status()
		quiet := true
		for _, it := range s.Items {
			n, ok := start[it.ID]
			if !ok {
				start[it.ID] = it.Attempts
			}
			if it.InFlight || it.State != store.OutboxAmbiguous || !ok || it.Attempts < n+2 {
				quiet = false
			}
		}
		if quiet {
			cancel()
			<-done
			st.Close()
			fmt.Printf("QUIET %d\n", s.Count)
			os.Exit(0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fail("never quiet: %+v", v.Status())
}

// TestCrashSettlesOnce kills a daemon's verifier with SIGKILL while taps
// are queued, in flight and settling, under injected faults, restarts it
// on the same store, and checks that every tap settles exactly once: one
// audit entry each; authentic if and only if the service accepted its
// triple, never replayed or counterfeit; no triple verified again after
// an attempt that may have been processed.
func TestCrashSettlesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	if os.Getenv(crashDB) != "" {
		t.Skip("in helper process")
	}
	var tags []lt.Tag
	for _, u := range crashTags {
		tags = append(tags, lt.Tag{UID: fmt.Sprintf("%X", u[:]), Key: tagKey})
	}
	srv := lt.NewServer(lt.Options{}, tags...)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "nfcd.db")
	ctr := make([]uint32, len(crashTags))
	queued := map[string]bool{}
	settledLines := map[string]int{}
	faults := []lt.Fault{
		{Route: "verify", Kind: lt.CommitThenDrop, Times: 2},
		{Route: "verify", Kind: lt.DropBeforeCommit},
		{Route: "verify", Kind: lt.Status, Code: 503, Times: 2},
		{Route: "verify", Kind: lt.CommitThenStatus, Code: 502},
		{Route: "verify", Kind: lt.Delay, Delay: tomlfile.Duration{Duration: time.Second}},
		{Route: "verify", Kind: lt.Truncated},
		{Route: "latest", Kind: lt.Status, Code: 500, Times: 2},
		{Route: "verify", Kind: lt.CommitThenDelay, Delay: tomlfile.Duration{Duration: time.Second}},
	}
	const rounds = 6
	for round := range rounds {
		srv.ClearFaults()
		rand.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
		for _, f := range faults[:3] {
			srv.Inject(f)
		}
		var spec []string
		for range 4 {
			for u := range crashTags {
				ctr[u]++
				spec = append(spec, fmt.Sprintf("%d:%d", u, ctr[u]))
			}
		}
		kill := time.Duration(100+rand.IntN(500)) * time.Millisecond
		lines := runCrashHelper(t, path, srv.URL, strings.Join(spec, ","), false, kill)
		for _, l := range lines {
			f := strings.Fields(l)
			switch f[0] {
			case "QUEUED":
				queued[f[1]] = true
			case "SETTLED":
				settledLines[f[1]]++
			}
		}
		t.Logf("round %d: killed after %v, %d lines", round, kill, len(lines))
	}
	srv.ClearFaults()
	lines := runCrashHelper(t, path, srv.URL, "", true, 0)
	for _, l := range lines {
		if f := strings.Fields(l); f[0] == "SETTLED" {
			settledLines[f[1]]++
		}
	}
	if len(queued) == 0 {
		t.Fatal("no tap was ever queued")
	}

	st, err := store.Open(path, store.Options{MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Left: only items the service cannot settle, which it never
	// accepted; the operator drops them.
	items, err := st.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		var u int
		var c uint32
		fmt.Sscanf(it.Tap, "u%d-c%d", &u, &c)
		if srv.Accepted(crashTriple(t, u, c)) {
			t.Errorf("tap %s was accepted by the service but is still in the outbox (%s)", it.Tap, it.State)
		}
		if _, err := remoteverify.DropStored(st, it.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	es, err := st.Query(store.Query{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	final := map[string][]string{}
	for _, e := range es {
		i := strings.LastIndex(e.Detail, "(tap ")
		if i < 0 {
			t.Fatalf("audit entry without a tap: %+v", e)
		}
		tap := strings.TrimSuffix(e.Detail[i+5:], ")")
		final[tap] = append(final[tap], e.Verdict)
	}
	for tap := range queued {
		if len(final[tap]) != 1 {
			t.Errorf("tap %s settled %d times (%v), want once", tap, len(final[tap]), final[tap])
		}
	}
	authentic := 0
	for tap, vs := range final {
		if len(vs) != 1 {
			t.Errorf("tap %s settled %d times (%v)", tap, len(vs), vs)
		}
		if settledLines[tap] > 1 {
			t.Errorf("tap %s was published %d times", tap, settledLines[tap])
		}
		var u int
		var c uint32
		fmt.Sscanf(tap, "u%d-c%d", &u, &c)
		tr := crashTriple(t, u, c)
		accepted := srv.Accepted(tr)
		switch {
		case vs[0] == verdict.Authentic && accepted:
			authentic++
		case vs[0] == verdict.Unverified && !accepted:
		default:
			t.Errorf("tap %s ended %s; the service accepted it: %v", tap, vs[0], accepted)
		}
		reqs := srv.VerifyRequests(tr)
		for i, r := range reqs[:max(len(reqs)-1, 0)] {
			if r.Status != 429 && r.Status != 503 {
				t.Errorf("%s: verify request %d of %d sent again after an attempt that may have been processed (status %d, fault %q)",
					tap, i+1, len(reqs), r.Status, r.Fault)
			}
		}
	}
	t.Logf("%d taps queued, %d settled (%d authentic, %d dropped at the end)", len(queued), len(final), authentic, len(items))
}

// runCrashHelper runs the helper process, kills it after kill (0: waits
// for it to exit by itself) and returns the lines it printed.
func runCrashHelper(t *testing.T, path, url, taps string, quiet bool, kill time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVerifier$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDB+"="+path, crashURL+"="+url, crashTaps+"="+taps)
	if quiet {
		cmd.Env = append(cmd.Env, crashQuiet+"=1")
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if kill > 0 {
		// SIGKILL: no deferred code, no Close; whatever is in flight is cut.
		timer := time.AfterFunc(kill, func() { cmd.Process.Kill() })
		defer timer.Stop()
	}
	guard := time.AfterFunc(40*time.Second, func() { cmd.Process.Kill() })
	defer guard.Stop()
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		l := sc.Text()
		f := strings.Fields(l)
		if len(f) == 0 || f[0] == "PASS" || f[0] == "ok" {
			continue
		}
		switch f[0] {
		case "QUEUED", "SETTLED", "QUIET":
			lines = append(lines, l)
		default:
			t.Fatalf("helper wrote %q", l)
		}
	}
	err = cmd.Wait()
	switch {
	case kill > 0 && err == nil:
		t.Fatal("helper exited by itself; it was never killed")
	case kill == 0 && err != nil:
		t.Fatalf("helper: %v (last lines %v)", err, lines[max(len(lines)-3, 0):])
	case kill == 0 && !strings.HasPrefix(lines[len(lines)-1], "QUIET"):
		t.Fatalf("helper did not end quiet: %v", lines[max(len(lines)-3, 0):])
	}
	return lines
}
