//go:build unix

package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// SocketName is the admin socket's name in the state directory.
const SocketName = "admin.sock"

// maxSocketPath is the longest socket path every Unix accepts (sun_path
// holds 104 bytes on the BSDs and macOS, 108 on Linux, with the NUL).
const maxSocketPath = 103

// Path returns where the daemon of the state directory stateDir serves its
// admin API: the socket admin.sock in it.
func Path(stateDir string) string { return filepath.Join(stateDir, SocketName) }

// Listen creates the admin socket at path, readable and writable by its
// owner only (the directory is the daemon's 0700 state directory as well).
// A socket left behind by a daemon that died is replaced; one that a
// running daemon answers on gives ErrInUse.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin: socket path %s is longer than %d bytes; use a shorter --state-dir", path, maxSocketPath)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("admin: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: %w", err)
	}
	return ln, nil
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// classifyDial tells "no daemon" (no socket, or a socket nobody accepts
// on) from "not allowed" and other failures.
func classifyDial(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w at %s", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return &PermissionError{Path: path}
	}
	return fmt.Errorf("admin: connect to %s: %w", path, err)
}
