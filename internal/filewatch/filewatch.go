// Package filewatch tells when files change, for the daemon's
// configuration reload. It watches the files' directories rather than the
// files, so that editors and configuration management that write a new
// file and rename it over the old one are seen, and so is a file that
// appears where there was none. Bursts of events (a save is often a
// create, several writes and a rename) are settled into one call.
//
// It uses the kernel's notification (inotify, ReadDirectoryChangesW)
// through github.com/fsnotify/fsnotify: a watcher that sees nothing wakes
// nothing.
package filewatch

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultSettle is how long events must stop before the change is
// reported.
const DefaultSettle = 250 * time.Millisecond

// Watcher watches a set of files.
type Watcher struct {
	settle time.Duration
	fw     *fsnotify.Watcher

	mu    sync.Mutex
	files map[string]bool // cleaned absolute paths
	dirs  map[string]bool // watched directories
}

// New returns a watcher of no files; settle ≤ 0 means DefaultSettle.
func New(settle time.Duration) (*Watcher, error) {
	if settle <= 0 {
		settle = DefaultSettle
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	return &Watcher{settle: settle, fw: fw, files: map[string]bool{}, dirs: map[string]bool{}}, nil
}

// Set makes the watcher watch exactly the files in paths (which need not
// exist). A directory that cannot be watched (it does not exist) is
// skipped and reported in the error; the others are watched.
func (w *Watcher) Set(paths []string) error {
	files := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			continue
		}
		files[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for d := range w.dirs {
		if !dirs[d] {
			w.fw.Remove(d)
			delete(w.dirs, d)
		}
	}
	for d := range dirs {
		if w.dirs[d] {
			continue
		}
		if err := w.fw.Add(d); err != nil {
			errs = append(errs, fmt.Errorf("filewatch: %s: %w", d, err))
			continue
		}
		w.dirs[d] = true
	}
	w.files = files
	return errors.Join(errs...)
}

func (w *Watcher) watched(name string) bool {
	abs, err := filepath.Abs(name)
	if err != nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.files[abs]
}

// Close releases a watcher that is not going to Run (Run closes it when
// it returns).
func (w *Watcher) Close() error { return w.fw.Close() }

// Run reports changes until ctx is done, then closes the watcher and
// returns nil: changed is called on Run's goroutine once the events for
// the watched files have stopped for the settle time.
func (w *Watcher) Run(ctx context.Context, changed func()) error {
	defer w.fw.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fw.Events:
			if !ok {
				return nil
			}
			if ev.Op != fsnotify.Chmod && w.watched(ev.Name) {
				timer.Reset(w.settle)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return nil
			}
			// An overflowed event queue may have hidden a change.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(w.settle)
			}
		case <-timer.C:
			changed()
		}
	}
}
