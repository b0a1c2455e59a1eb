// Package atomicfile creates files that appear complete or not at all:
// the replay store and the TLS certificate of the state directory. A crash,
// kill -9 or a full disk during creation leaves no file at its name, only,
// at worst, a temporary file that the next creation removes; and a file
// another process created meanwhile is never replaced.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// CreateNew creates path (mode 0600), which must not exist: fill writes
// the content to a temporary file in the same directory, given by name;
// the file is then fsynced, linked to path without replacing anything
// (fs.ErrExist if path exists by then), and the directory fsynced.
// Temporary files left by an interrupted earlier CreateNew of path are
// removed first.
func CreateNew(path string, fill func(tmp string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	prefix := "." + base + ".new-"
	if stale, _ := filepath.Glob(filepath.Join(dir, prefix+"*")); len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	f, err := os.CreateTemp(dir, prefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := linkNoReplace(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
