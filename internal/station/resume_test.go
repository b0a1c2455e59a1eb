package station_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
	"github.com/nfcd/nfcd/internal/station"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/ws"
)

// helperEnv names the state directory of the helper station process.
const (
	helperEnv     = "NFCD_STATION_HELPER_DIR"
	helperFakeEnv = "NFCD_STATION_HELPER_FAKE"
)

// TestHelperStation is the child process of TestResumeAfterKill, not a
// test of its own: a station with its journal in a bbolt store and its
// spool in a state directory, serving the WebSocket API until it is killed.
func TestHelperStation(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestResumeAfterKill")
	}
	fail := func(err error) {
		fmt.Printf("FAIL %v\n", err)
		os.Exit(2)
	}
	st, err := store.Open(filepath.Join(dir, "nfcd.db"), store.Options{Timeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	fake := os.Getenv(helperFakeEnv)
	c, err := legitmark.New(legitmark.Config{BaseURL: fake, IntentURL: fake + "/intent", APIKey: legitmarktest.DefaultKey,
		StationID: "kiosk9", PollMin: time.Second, PollMax: time.Second}, legitmark.Options{})
	if err != nil {
		fail(err)
	}
	log := zap.NewNop()
	w := legitmark.NewWorkflow(c, st.SRJournal(), log)
	srv, err := ws.NewServer(ws.Config{Addr: "127.0.0.1:0", CheckToken: func(tok string) (string, bool) { return "test", tok == testToken }}, log)
	if err != nil {
		fail(err)
	}
	s, err := station.New(station.Options{Workflow: w, Publisher: srv, SpoolDir: filepath.Join(dir, "spool"), Log: log})
	if err != nil {
		fail(err)
	}
	s.Register(srv)
	s.NoteTap("04C0FFEE", "authentic", time.Now())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	// Bounded, so that an orphaned helper stops by itself.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go s.Run(ctx)
	fmt.Printf("READY %s\n", ln.Addr())
	srv.Serve(ctx, ln)
	os.Exit(0)
}

// child is a running helper station.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func startChild(t *testing.T, dir, fake string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStation$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, helperFakeEnv+"="+fake)
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY ") || strings.HasPrefix(l, "FAIL ") {
				lines <- l
			}
		}
	}()
	select {
	case l := <-lines:
		if addr, ok := strings.CutPrefix(l, "READY "); ok {
			return &child{cmd: cmd, addr: addr}
		}
		t.Fatalf("helper: %s", l)
	case <-time.After(20 * time.Second):
		t.Fatal("helper not ready")
	}
	return nil
}

// kill ends the child with SIGKILL, as a crash or a power cut would.
func (c *child) kill(t *testing.T) {
	t.Helper()
	must(t, c.cmd.Process.Kill())
	c.cmd.Wait()
}

func (c *child) dial(t *testing.T) *wsClient {
	return (&rig{t: t, addr: c.addr}).dial()
}

// An SR in progress survives SIGKILL twice: photos cut off mid-upload are
// sent again from the spool with fresh presigned URLs while finished ones
// are not; after a kill right after submit, status polling resumes on the
// next start and sees the SR to its end; the spool is gone then.
func TestResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	fake := legitmarktest.New(legitmarktest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { legitmarktest.Serve(ctx, ln, fake); close(served) }()
	t.Cleanup(func() { cancel(); <-served })
	base := "http://" + ln.Addr().String()
	dir := t.TempDir()

	// First life: create, photograph three sides, start two more and die
	// while their PUTs hang.
	c1 := startChild(t, dir, base)
	cl := c1.dial(t)
	var rec record
	cl.result(station.TypeCreate, map[string]any{"category": legitmarktest.CategoryHandbags, "type": legitmarktest.TypeTote}, &rec)
	var req requirements
	cl.result(station.TypeRequirements, map[string]string{"uuid": rec.UUID}, &req)
	first := map[string]bool{}
	for i, sd := range req.Required[:3] {
		cl.upload(rec.UUID, sd.UUID, photo(t, i))
		first[sd.UUID] = true
	}
	for side, p := range cl.waitUploads(first) {
		if p.Stage != station.StageDone {
			t.Fatalf("side %s: %+v", side, p)
		}
	}
	fake.Inject("s3.put", legitmarktest.Delay(time.Minute), 0)
	rest := map[string]bool{}
	for i, sd := range req.Required[3:] {
		cl.upload(rec.UUID, sd.UUID, photo(t, 10+i))
		rest[sd.UUID] = true
	}
	uploading := map[string]bool{}
	for len(uploading) < len(rest) {
		var p progressEv
		json.Unmarshal(cl.next(station.EventUploadProgress, 30*time.Second).Payload, &p)
		if p.Stage == station.StageUploading {
			uploading[p.Side] = true
		}
	}
	c1.kill(t)
	fake.Clear()
	intentsBefore := fake.Count("intent")
	if info, _ := fake.SR(rec.UUID); len(info.Uploads) != 3 {
		t.Fatalf("before the restart the service has %d sides, want 3", len(info.Uploads))
	}

	// Second life: the spooled photos of the two cut-off sides go up again
	// with new intents; the three finished ones are not sent again.
	c2 := startChild(t, dir, base)
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, _ := fake.SR(rec.UUID)
		if len(info.Uploads) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart the service has sides %v, want all 5", info.Uploads)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cl = c2.dial(t)
	var list struct {
		SRs []record `json:"srs"`
	}
	// Wait until the journal says every side is uploaded, then submit.
	for {
		cl.result(station.TypeList, nil, &list)
		if len(list.SRs) == 1 && list.SRs[0].Phase == "draft" && sidesUploaded(t, cl, rec.UUID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sr.list = %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
	info, _ := fake.SR(rec.UUID)
	for side, n := range info.Uploads {
		if n != 1 {
			t.Errorf("side %s was stored %d times, want once", side, n)
		}
	}
	if n := fake.Count("intent") - intentsBefore; n != 2 {
		t.Errorf("%d upload intents after the restart, want 2 (the cut-off sides only)", n)
	}
	// The station refuses a submit while photos are still on their way
	// (requirements_not_met without missing sides): a client tries again.
	for {
		f := cl.call(station.TypeSubmit, map[string]string{"uuid": rec.UUID})
		if f.Type == "result" {
			json.Unmarshal(f.Payload, &rec)
			break
		}
		if !strings.Contains(string(f.Payload), `"missing":[]`) || time.Now().After(deadline) {
			t.Fatalf("submit: %s", f.Payload)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec.Phase != "submitted" {
		t.Fatalf("submit = %+v", rec)
	}
	c2.kill(t)

	// The service finishes while no station runs; the third life polls
	// again and records the outcome.
	for range 6 {
		fake.Advance(rec.UUID)
	}
	if info, _ := fake.SR(rec.UUID); !info.State.Authentic() {
		t.Fatalf("fake state %v", info.State)
	}
	c3 := startChild(t, dir, base)
	cl = c3.dial(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		cl.result(station.TypeList, nil, &list)
		if len(list.SRs) == 1 && list.SRs[0].Phase == "final" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the third start sr.list = %+v, want the SR final", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := fake.Count("sr.submit"); n != 1 {
		t.Errorf("%d submits, want 1", n)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		es, _ := os.ReadDir(filepath.Join(dir, "spool"))
		if len(es) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("spool still holds %d entries after the SR ended", len(es))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c3.kill(t)
}

// sidesUploaded reports whether the requirements show every required side
// uploaded.
func sidesUploaded(t *testing.T, cl *wsClient, uuid string) bool {
	var req requirements
	cl.result(station.TypeRequirements, map[string]string{"uuid": uuid}, &req)
	return req.Progress.Met
}
