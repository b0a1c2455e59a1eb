package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockHolder names the process that has the database file at path open
// ("pid 1234: nfcd run --state-dir /var/lib/nfcd"), for messages about
// ErrLocked. It returns "" when it cannot tell (the process belongs to
// another user and this one may not look at its files).
func LockHolder(path string) string {
	want, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(p, "fd", fd.Name()))
			if err != nil || target != want {
				continue
			}
			cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
			args := strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
			if args == "" {
				return fmt.Sprintf("pid %d", pid)
			}
			return fmt.Sprintf("pid %d: %s", pid, args)
		}
	}
	return ""
}
