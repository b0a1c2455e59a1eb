// Package fileperm checks and sets who may read the files that hold
// nfcd's secrets and replay marks: the state directory and its files, and
// configuration files with keys in them.
//
// On POSIX systems the mode bits decide: CheckPrivate refuses a directory
// or file that anyone but its owner may use (any of the bits 0o077). On
// Windows, Restrict gives the state directory a protected ACL that lets
// only SYSTEM and the Administrators group in (and the account nfcd runs
// as, when it is neither, so that a developer's own run keeps its files),
// and CheckPrivate refuses a directory whose ACL lets anyone else in.
package fileperm

import (
	"fmt"
	"io/fs"
)

// PermError reports a file or directory that others may use. Fix is a
// command that repairs it.
type PermError struct {
	Path string
	Mode fs.FileMode // POSIX permission bits; 0 on Windows
	Who  string      // e.g. "group and others", or the account on Windows
	Fix  string
}

func (e *PermError) Error() string {
	if e.Mode != 0 {
		return fmt.Sprintf("%s is accessible by %s (mode %04o); fix it with: %s", e.Path, e.Who, e.Mode.Perm(), e.Fix)
	}
	return fmt.Sprintf("%s is accessible by %s; fix it with: %s", e.Path, e.Who, e.Fix)
}
