//go:build unix

package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/fileperm"
)

// TestStateReadableByOthersUsed repeats issue 13 §6: a state directory
// that was not 0700, an nfcd.db that was not 0600, were used without a
// word, though they hold the replay marks and the audit log (which tags
// were read where), and the verdict key. A file others may use now stops
// the daemon, naming the path and the chmod that fixes it; the directory
// is made private (TestStateDirTightened).
func TestStateReadableByOthersUsed(t *testing.T) {
	for _, tc := range []struct {
		name string
		file func(Paths) string // "" for the directory itself
		mode os.FileMode
	}{
		{"nfcd.db 0644", func(p Paths) string { return p.DB }, 0o644},
		{"nfcd.db 0640", func(p Paths) string { return p.DB }, 0o640},
		{"nfcd.journal 0644", func(p Paths) string { return p.Journal }, 0o644},
		{"verdict-key 0604", func(p Paths) string { return p.Key }, 0o604},
		{"tokens.json 0644", func(p Paths) string { return p.Tokens }, 0o644},
		{"tls.pem 0644", func(p Paths) string { return p.TLS }, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PathsOf(filepath.Join(t.TempDir(), "state"))
			if _, err := p.Prepare(); err != nil {
				t.Fatalf("Prepare(new dir) = %v", err)
			}
			target := p.Dir
			if tc.file != nil {
				target = tc.file(p)
				if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(target, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := p.Prepare()
			var pe *fileperm.PermError
			if !errors.As(err, &pe) || pe.Path != target || !strings.Contains(err.Error(), "chmod") {
				t.Fatalf("Prepare with %s = %v, want a PermError naming %s and the chmod", tc.name, err, target)
			}
			t.Log(err)
		})
	}
}

// TestPrepareCreatesPrivateDir: a new state directory is 0700 whatever
// the umask, and the public key may be world-readable.
func TestPrepareCreatesPrivateDir(t *testing.T) {
	p := PathsOf(filepath.Join(t.TempDir(), "a", "state"))
	if tightened, err := p.Prepare(); err != nil || tightened {
		t.Fatal(tightened, err)
	}
	fi, err := os.Stat(p.Dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("new state dir mode = %v, %v; want 0700", fi.Mode(), err)
	}
	if err := os.WriteFile(p.PublicKey, make([]byte, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Prepare(); err != nil {
		t.Errorf("Prepare with a world-readable public key = %v, want nil", err)
	}
}

// TestStateDirTightened: a state directory others may use (0755, the
// default of mkdir) is made 0700 and reported, not refused: its files are
// 0600, so only their names were exposed.
func TestStateDirTightened(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, 0o750, 0o711} {
		p := PathsOf(filepath.Join(t.TempDir(), "state"))
		if err := os.Mkdir(p.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p.Dir, mode)
		tightened, err := p.Prepare()
		fi, _ := os.Stat(p.Dir)
		if err != nil || !tightened || fi.Mode().Perm() != 0o700 {
			t.Errorf("Prepare(dir %04o) = %v, %v, mode after %04o; want tightened to 0700", mode, tightened, err, fi.Mode().Perm())
		}
	}
}
