//go:build linux && cgo

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadersServiceDown: with the PC/SC service unreachable, `nfcd
// readers` says so, says how to start it, and exits 1 — never "no
// readers" and 0. pcsc-lite finds pcscd through PCSCLITE_CSOCK_NAME, which
// it reads once per process, so the command runs in a child process of
// this test binary pointed at a socket that does not exist.
func TestReadersServiceDown(t *testing.T) {
	if os.Getenv("NFCD_TEST_READERS_CHILD") == "1" {
		os.Exit(exitCode(run([]string{"readers", "--wait", "5s"}, os.Stdin, os.Stdout, os.Stderr), os.Stderr))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReadersServiceDown$")
	cmd.Env = append(os.Environ(), "NFCD_TEST_READERS_CHILD=1",
		"PCSCLITE_CSOCK_NAME="+filepath.Join(t.TempDir(), "no-pcscd.comm"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("nfcd readers with pcscd unreachable: %v, want exit 1\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	for _, want := range []string{"PC/SC service is not reachable", "sudo systemctl start pcscd.socket"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &stderr)
		}
	}
	if strings.Contains(stdout.String(), "no readers") {
		t.Errorf("stdout says %q although the service is down", stdout.String())
	}
}
