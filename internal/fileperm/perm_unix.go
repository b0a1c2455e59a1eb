//go:build unix

package fileperm

import (
	"fmt"
	"io/fs"
	"os"
)

// CheckPrivate returns a *PermError when path (a directory or a file) has
// any permission bit for group or others set. A missing path is not an
// error: there is nothing to leak.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		want := "0600"
		if fi.IsDir() {
			want = "0700"
		}
		return &PermError{Path: path, Mode: m, Who: who(m), Fix: fmt.Sprintf("chmod %s %s", want[1:], path)}
	}
	return nil
}

// Restrict makes the directory dir private to its owner (0700).
func Restrict(dir string) error {
	return os.Chmod(dir, 0o700)
}

// ReadableByOthers reports whether anyone but the file's owner and group
// may read it (the bit 0o004), or write it (0o022).
func ReadableByOthers(path string) (readable, writable bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, false, err
	}
	m := fi.Mode().Perm()
	return m&0o004 != 0, m&0o022 != 0, nil
}

// who names the classes the bits m open the file to.
func who(m fs.FileMode) string {
	g, o := m&0o070 != 0, m&0o007 != 0
	switch {
	case g && o:
		return "group and others"
	case g:
		return "its group"
	default:
		return "others"
	}
}
