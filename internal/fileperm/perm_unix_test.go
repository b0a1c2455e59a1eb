//go:build unix

package fileperm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "secret")
	os.WriteFile(f, nil, 0o600)
	if err := CheckPrivate(f); err != nil {
		t.Errorf("0600: %v", err)
	}
	if err := CheckPrivate(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing: %v", err)
	}
	for mode, who := range map[os.FileMode]string{0o640: "its group", 0o604: "others", 0o660: "its group", 0o666: "group and others"} {
		os.Chmod(f, mode)
		var pe *PermError
		err := CheckPrivate(f)
		if !errors.As(err, &pe) || pe.Who != who || !strings.Contains(err.Error(), "chmod 600 "+f) {
			t.Errorf("%04o: %v, want a PermError for %s with the fix", mode, err, who)
		}
	}
	os.Chmod(dir, 0o755)
	if err := CheckPrivate(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("dir 0755: %v", err)
	}
	if err := Restrict(dir); err != nil || CheckPrivate(dir) != nil {
		t.Errorf("Restrict: %v, then %v", err, CheckPrivate(dir))
	}
}

func TestReadableByOthers(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c")
	os.WriteFile(f, nil, 0o600)
	for mode, want := range map[os.FileMode][2]bool{0o600: {false, false}, 0o644: {true, false}, 0o640: {false, false}, 0o620: {false, true}, 0o606: {true, true}} {
		os.Chmod(f, mode)
		r, w, err := ReadableByOthers(f)
		if err != nil || r != want[0] || w != want[1] {
			t.Errorf("%04o: readable %v writable %v (%v), want %v", mode, r, w, err, want)
		}
	}
}
