//go:build windows

package atomicfile

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// linkNoReplace gives the complete temporary file tmp the name path, and
// fails with fs.ErrExist if path exists: MoveFileEx without
// MOVEFILE_REPLACE_EXISTING never replaces, and MOVEFILE_WRITE_THROUGH
// returns once the move is on disk.
func linkNoReplace(tmp, path string) error {
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	err = windows.MoveFileEx(from, to, windows.MOVEFILE_WRITE_THROUGH)
	if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, windows.ERROR_FILE_EXISTS) {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: fs.ErrExist}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}

// syncDir is a no-op: MOVEFILE_WRITE_THROUGH made the rename durable.
func syncDir(string) error { return nil }
