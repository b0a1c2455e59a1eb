//go:build unix && !aix

package token

import (
	"os"

	"golang.org/x/sys/unix"
)

// lock takes an exclusive flock(2) on the file at path, creating it 0600 if
// needed, and blocks until it is granted. flock locks belong to the open
// file description, so two Stores in one process exclude each other too
// (fcntl locks would not). The lock file is never removed: deleting it
// while another writer waits on it would let a third writer lock a new
// file at the same path.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, os.NewSyscallError("flock", err)
	}
	return func() {
		// Closing the descriptor releases the lock.
		f.Close()
	}, nil
}

// replaceFile renames from over to; rename(2) is atomic on POSIX.
func replaceFile(from, to string) error {
	return os.Rename(from, to)
}

// syncDir fsyncs dir so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
