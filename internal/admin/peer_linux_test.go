package admin

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPeerCheck connects as another user to a socket whose mode lets
// everybody in: the peer credential check must still refuse the call.
func TestPeerCheck(t *testing.T) {
	if path := os.Getenv("NFCD_ADMIN_PEER_TEST"); path != "" {
		err := NewClient(path).Call(context.Background(), "echo", nil, nil)
		var pe *PermissionError
		if !errors.As(err, &pe) {
			t.Fatalf("call as another user = %v, want a PermissionError", err)
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir, err := os.MkdirTemp("", "adm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, SocketName)
	serve(t, path)
	os.Chmod(path, 0o666) // as if loosened by hand
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory is private: run a copy.
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "admin.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestPeerCheck$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NFCD_ADMIN_PEER_TEST="+path)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v\n%s", err, out)
	}
	// Root itself is admitted.
	if err := NewClient(path).Call(context.Background(), "echo", nil, nil); err != nil {
		t.Errorf("root: %v", err)
	}
}
