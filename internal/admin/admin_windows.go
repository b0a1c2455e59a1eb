package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/Microsoft/go-winio"
)

// pipeSDDL denies network logons and grants LocalSystem (the service) and
// the Administrators group; nobody else can open the pipe. An elevated
// prompt is needed: without elevation Administrators is a deny-only group.
const pipeSDDL = "D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)"

// Path returns the named pipe of the daemon of the state directory
// stateDir: \\.\pipe\nfcd-admin- and a hash of the directory, so that
// daemons of different state directories do not collide.
func Path(stateDir string) string {
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		abs = stateDir
	}
	sum := sha256.Sum256([]byte(strings.ToLower(filepath.Clean(abs))))
	return `\\.\pipe\nfcd-admin-` + hex.EncodeToString(sum[:6])
}

// Listen creates the admin pipe at path with pipeSDDL. A pipe that a
// running daemon already serves gives ErrInUse.
func Listen(path string) (net.Listener, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if c, err := winio.DialPipeContext(ctx, path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	ln, err := winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: pipeSDDL})
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	return ln, nil
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, path)
}

// classifyDial tells "no daemon" (no pipe) from "not allowed" and other
// failures.
func classifyDial(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w at %s", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return &PermissionError{Path: path}
	}
	return fmt.Errorf("admin: connect to %s: %w", path, err)
}
