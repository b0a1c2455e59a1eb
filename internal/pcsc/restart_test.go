//go:build linux && cgo

package pcsc_test

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/vpcd"
)

var restartPCSCD = flag.Bool("pcscd-restart", false,
	"kill the running pcscd (PID from /run/pcscd/pcscd.pid) and start a new `pcscd -f` to test recovery; "+
		"destructive: use in CI or a private namespace only")

// TestRecoversFromPCSCDRestart kills pcscd under a Monitor with a card
// inserted, starts it again, and requires the removal events, one error
// event, and the reader and card back within 2 s of the restart.
func TestRecoversFromPCSCDRestart(t *testing.T) {
	if !*restartPCSCD {
		t.Skip("needs -pcscd-restart (kills the running pcscd)")
	}
	requirePCSCD(t)
	m := startMonitor(t, pcsc.Options{Include: []string{slot0}})
	expectEvent(t, m, slot0, event.ReaderAdded, 3*time.Second)

	conn, err := vpcd.Dial(t.Context(), vpcd.DefaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- conn.Serve(t.Context(), &fakeTag{}) }()
	expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)

	pid := pcscdPID(t)
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill pcscd %d: %v", pid, err)
	}
	for syscall.Kill(pid, 0) == nil { // gone once reaped by its parent or init
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("pcscd %d still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	expectEvent(t, m, slot0, event.CardRemoved, 3*time.Second)
	expectEvent(t, m, slot0, event.ReaderRemoved, 3*time.Second)
	ev := expectEvent(t, m, "", event.Error, 3*time.Second)
	if !errors.Is(ev.Err, pcsc.ErrNoService) {
		t.Errorf("error event = %v, want ErrNoService", ev.Err)
	}
	t.Logf("pcscd killed → events: %v (%v)", time.Since(killed), ev.Err)
	for deadline := time.Now().Add(3 * time.Second); m.Service() != reader.ServiceDown; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Service() = %q after pcscd died, want %q", m.Service(), reader.ServiceDown)
		}
	}
	if err := <-served; !errors.Is(err, vpcd.ErrClosedByReader) {
		t.Errorf("Serve() after pcscd died = %v, want ErrClosedByReader", err)
	}

	time.Sleep(3 * time.Second) // let the backoff reach its cap
	cmd := exec.Command("pcscd", "-f")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pcscd: %v", err)
	}
	go cmd.Wait()
	expectEvent(t, m, slot0, event.ReaderAdded, 3*time.Second)
	back := time.Since(started)
	t.Logf("pcscd restarted → ReaderAdded: %v (new pid %d, left running)", back, cmd.Process.Pid)
	if back > 2*time.Second {
		t.Errorf("reader back after %v, want ≤ 2s", back)
	}
	insert(t, vpcd.DefaultAddr, &fakeTag{})
	expectEvent(t, m, slot0, event.CardPresent, 3*time.Second)
}

func pcscdPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/run/pcscd/pcscd.pid")
	if err != nil {
		t.Fatalf("find pcscd: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimRight(string(b), "\x00\n\r\t "))
	if err != nil || pid <= 1 {
		t.Fatalf("bad pcscd pid file %q", b)
	}
	return pid
}
