package station

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/secret"
)

// TokenFile is a legitmark.TokenStore in a file of the state directory
// (statedir.Paths.LegitmarkToken): the actor token of the older auth model,
// written 0600 and never printed.
type TokenFile struct{ Path string }

var _ legitmark.TokenStore = TokenFile{}

// LoadUserToken returns the stored token, or "" when there is none. A file
// that others may read is refused.
func (f TokenFile) LoadUserToken(context.Context) (secret.String, error) {
	fi, err := os.Stat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("station: actor token file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("station: actor token file %s is accessible to others (chmod 600)", f.Path)
	}
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("station: actor token file: %w", err)
	}
	return secret.String(strings.TrimSpace(string(b))), nil
}

// SaveUserToken replaces the stored token durably (a new file renamed over
// the old one, then the directory synced).
func (f TokenFile) SaveUserToken(_ context.Context, t secret.String) error {
	return writeFileAtomic(f.Path, []byte(t.Reveal()+"\n"))
}

// writeFileAtomic writes data to path (0600) so that a crash leaves either
// the old or the new content: a temporary file, fsync, rename, directory
// fsync.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable (a no-op where directories cannot
// be synced).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
