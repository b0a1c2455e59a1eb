package token

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// lock takes an exclusive LockFileEx lock on the first byte of the file at
// path, creating it if needed, and blocks until it is granted. Like flock,
// the lock belongs to the handle, so two Stores in one process exclude each
// other. The lock file is never removed (see lock_unix.go).
// https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-lockfileex
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	h := windows.Handle(f.Fd())
	ol := new(windows.Overlapped)
	if err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, ol); err != nil {
		f.Close()
		return nil, os.NewSyscallError("LockFileEx", err)
	}
	return func() {
		windows.UnlockFileEx(h, 0, 1, 0, ol)
		f.Close()
	}, nil
}

// replaceFile moves from over to with MOVEFILE_WRITE_THROUGH, which returns
// only once the move is on disk, so no directory sync is needed (Windows
// cannot fsync a directory handle opened by os.Open anyway).
//
// Go opens files without FILE_SHARE_DELETE, so the move fails with
// ERROR_ACCESS_DENIED or ERROR_SHARING_VIOLATION while another process (the
// daemon in Check) has tokens.json open for its brief read; retry for up to
// a second. https://github.com/golang/go/issues/32088
func replaceFile(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return err
	}
	const flags = windows.MOVEFILE_REPLACE_EXISTING | windows.MOVEFILE_WRITE_THROUGH
	for delay := time.Millisecond; ; delay *= 2 {
		err = windows.MoveFileEx(f, t, flags)
		if err == nil || delay > 512*time.Millisecond ||
			!errors.Is(err, windows.ERROR_ACCESS_DENIED) && !errors.Is(err, windows.ERROR_SHARING_VIOLATION) {
			break
		}
		time.Sleep(delay)
	}
	if err != nil {
		return &os.LinkError{Op: "movefileex", Old: from, New: to, Err: err}
	}
	return nil
}

// syncDir is a no-op: replaceFile's MOVEFILE_WRITE_THROUGH already made the
// rename durable.
func syncDir(string) error { return nil }
