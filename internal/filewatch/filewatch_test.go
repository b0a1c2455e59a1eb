package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func watch(t *testing.T, paths ...string) <-chan struct{} {
	t.Helper()
	w, err := New(50 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Set(paths); err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func() { changes <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return changes
}

func expect(t *testing.T, changes <-chan struct{}, n int, what string) {
	t.Helper()
	got := 0
	deadline := time.After(time.Second)
	for {
		select {
		case <-changes:
			got++
		case <-deadline:
			if got != n {
				t.Errorf("%s: %d changes reported, want %d", what, got, n)
			}
			return
		}
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nfcd.toml")
	other := filepath.Join(dir, "other.txt")
	changes := watch(t, cfg)

	// Created where there was none, in several writes: one change.
	f, err := os.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f.WriteString("listen = \"127.0.0.1:1\"\n")
	}
	f.Close()
	expect(t, changes, 1, "create and write")

	os.WriteFile(other, []byte("x"), 0o600)
	expect(t, changes, 0, "another file in the directory")

	// Replaced by rename, as editors and Ansible do.
	tmp := filepath.Join(dir, ".nfcd.toml.tmp")
	os.WriteFile(tmp, []byte("listen = \"127.0.0.1:2\"\n"), 0o600)
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	expect(t, changes, 1, "rename over")

	os.Chmod(cfg, 0o640)
	expect(t, changes, 0, "chmod")
}

func TestSetMovesWatches(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	w, err := New(20 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Set([]string{filepath.Join(a, "x"), filepath.Join(t.TempDir(), "gone", "y")}); err == nil {
		t.Error("a missing directory was not reported")
	}
	w.Set([]string{filepath.Join(b, "k")})
	changes := make(chan struct{}, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx, func() { changes <- struct{}{} })
	os.WriteFile(filepath.Join(a, "x"), nil, 0o600)
	expect(t, changes, 0, "file no longer watched")
	os.WriteFile(filepath.Join(b, "k"), nil, 0o600)
	expect(t, changes, 1, "file watched since Set")
}
