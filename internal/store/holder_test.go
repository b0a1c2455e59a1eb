package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLockHolder: a process holding the store is named in full.
func TestLockHolder(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	path := filepath.Join(t.TempDir(), "nfcd.db")
	if os.Getenv("NFCD_HOLD_STORE") != "" {
		s, err := Open(os.Getenv("NFCD_HOLD_STORE"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(time.Minute)
		return
	}
	if got := LockHolder(path); got != "" {
		t.Errorf("LockHolder of an unopened file = %q", got)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolder$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NFCD_HOLD_STORE="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := LockHolder(path)
		if strings.Contains(got, "TestLockHolder") && strings.HasPrefix(got, "pid ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LockHolder = %q, want the child process", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := OpenReadOnly(path, Options{Timeout: -1}); err == nil {
		t.Error("the store opened while the child holds it")
	}
}
