//go:build !windows

package statedir

import (
	"fmt"
	"path/filepath"
)

func defaultDir(getenv func(string) string, euid int, home func() (string, error)) (string, error) {
	if euid == 0 {
		return "/var/lib/nfcd", nil
	}
	// The XDG spec says relative paths in XDG_* variables are invalid and
	// must be ignored.
	if dir := getenv("XDG_STATE_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "nfcd"), nil
	}
	h, err := home()
	if err != nil || !filepath.IsAbs(h) {
		return "", fmt.Errorf("%w: no XDG_STATE_HOME and no home directory", ErrNoStateDir)
	}
	return filepath.Join(h, ".local", "state", "nfcd"), nil
}
