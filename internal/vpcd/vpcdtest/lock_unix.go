//go:build unix

package vpcdtest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// lock takes the machine-wide vpcd lock, released when the test ends.
func lock(t testing.TB) {
	t.Helper()
	release, err := Acquire()
	if err != nil {
		t.Fatalf("vpcd test lock: %v", err)
	}
	t.Cleanup(release)
}

// Acquire takes the machine-wide vpcd lock (an exclusive flock on a file in
// the temporary directory), waiting while a test or a benchmark run holds
// it, and returns the function that releases it. Programs that tap the
// vpcd slots outside `go test` (tools/benchtap) take it too.
func Acquire() (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "nfcd-vpcd-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
