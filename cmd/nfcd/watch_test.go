//go:build linux && cgo

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/vpcd"
	"github.com/nfcd/nfcd/internal/vpcd/vpcdtest"
	"github.com/nfcd/nfcd/internal/vtag"
)

// TestWatchJSONPCSCD runs `nfcd watch --json` on the real pcscd and taps
// the virtual tag twice: each tap prints card_present, then the tag line
// of the contract (authentic, the tag's counter, 2 APDUs), then
// card_removed. The command runs in a child process of this test binary:
// it ends on SIGTERM, which would end the test binary too.
func TestWatchJSONPCSCD(t *testing.T) {
	if os.Getenv("NFCD_TEST_WATCH_CHILD") == "1" {
		os.Exit(exitCode(run([]string{"watch", "--json", "--mode", "enc", "--reader", vpcdtest.Slot0}, os.Stdin, os.Stdout, os.Stderr), os.Stderr))
	}
	vpcdtest.Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchJSONPCSCD$")
	cmd.Env = append(os.Environ(), "NFCD_TEST_WATCH_CHILD=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	type line struct {
		Type, Reader, UID, URL, Verdict, Reason string
		Ctr                                     *uint32
		APDUs                                   *int
		ElapsedMS                               *float64 `json:"elapsed_ms"`
	}
	lines := make(chan line, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("not a JSON line: %q: %v", sc.Bytes(), err)
			}
			lines <- l
		}
	}()
	next := func(want string) line {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before a %s line", want)
				}
				if l.Type == want {
					return l
				}
				if l.Type != "reader_added" && l.Type != "pcsc" {
					t.Fatalf("got a %s line, want %s", l.Type, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %s line within 10 s", want)
			}
		}
	}
	next("reader_added")
	card, err := vtag.New(vtag.Config{Layout: ntag424.Layout{Mode: ntag424.ModeEnc}, URL: "https://sdm.example/tag", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		card.Presentation()
		ctx, cancel := context.WithCancel(context.Background())
		conn, err := vpcd.Dial(ctx, vpcdtest.Slot0Addr)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- conn.Serve(ctx, card) }()
		next("card_present")
		tag := next("tag")
		cancel()
		<-served
		next("card_removed")
		if tag.Reader != vpcdtest.Slot0 || tag.Verdict != "authentic" || tag.Reason != "ok" || tag.UID == "" ||
			tag.Ctr == nil || *tag.Ctr != card.Counter() || tag.APDUs == nil || *tag.APDUs != 2 || tag.ElapsedMS == nil || *tag.ElapsedMS <= 0 {
			t.Errorf("tap %d: tag line %+v, want authentic from %s, counter %d, 2 APDUs", i+1, tag, vpcdtest.Slot0, card.Counter())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("watch after SIGTERM: %v, want exit 0", err)
	}
}
