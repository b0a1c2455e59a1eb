package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestCreateNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	stale := filepath.Join(dir, ".f.new-42")
	os.WriteFile(stale, []byte("half"), 0o600)
	if err := CreateNew(path, func(tmp string) error { return os.WriteFile(tmp, []byte("one"), 0o600) }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Fatalf("content %q", b)
	}
	// Never replaces.
	err := CreateNew(path, func(tmp string) error { return os.WriteFile(tmp, []byte("two"), 0o600) })
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateNew = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one" {
		t.Errorf("content after a second CreateNew %q", b)
	}
	// A failed fill leaves nothing.
	other := filepath.Join(dir, "g")
	if err := CreateNew(other, func(string) error { return errors.New("disk full") }); err == nil {
		t.Error("CreateNew with a failing fill succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "f" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only f (no temporary files, no g)", names)
	}
}
