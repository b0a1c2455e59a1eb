//go:build !unix && !windows

package atomicfile

import (
	"io/fs"
	"os"
)

// linkNoReplace renames tmp to path after checking that path is free.
func linkNoReplace(tmp, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	return os.Rename(tmp, path)
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
