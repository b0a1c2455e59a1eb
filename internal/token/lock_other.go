//go:build !(unix && !aix) && !windows

package token

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// lock is unsupported here (AIX, Plan 9, js, wasip1): x/sys offers no
// flock, and an unlocked read-modify-write could lose tokens.
func lock(string) (func(), error) {
	return nil, fmt.Errorf("token file lock on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func replaceFile(from, to string) error { return os.Rename(from, to) }

func syncDir(string) error { return nil }
