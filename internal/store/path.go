package store

import (
	"errors"
	"os"
)

// DefaultPath returns where the daemon keeps its database on this OS:
//
//   - Linux and other Unix, as root: /var/lib/nfcd/nfcd.db (systemd's
//     StateDirectory=nfcd).
//   - Linux and other Unix, otherwise: $XDG_STATE_HOME/nfcd/nfcd.db, falling
//     back to ~/.local/state/nfcd/nfcd.db (XDG Base Directory spec).
//   - Windows: %ProgramData%\nfcd\nfcd.db, the machine-wide data directory a
//     LocalSystem service can write.
func DefaultPath() (string, error) {
	return defaultPath(os.Getenv, os.Geteuid(), os.UserHomeDir)
}

// ErrNoStateDir is returned by DefaultPath when the environment names no
// usable directory.
var ErrNoStateDir = errors.New("store: cannot determine state directory")
