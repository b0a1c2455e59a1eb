package token

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/filewatch"
)

// DefaultSettle is how long a Watcher lets a burst of changes to the token
// file settle before it looks (internal/filewatch): revocation takes effect
// on live connections within about this long.
const DefaultSettle = 20 * time.Millisecond

// DefaultWatchInterval is how often a Watcher looks at the token file where
// the kernel's file notification cannot be had (a stat, and a read only
// when the file changed).
const DefaultWatchInterval = 250 * time.Millisecond

// Watcher follows the token file while the daemon runs, so that `nfcd
// token revoke` (another process) ends the live connections of a revoked
// token, not only new ones: after every change it calls Changed, which
// re-checks the live connections against the file (Store.Has). It is told
// of changes by the kernel (internal/filewatch: inotify,
// ReadDirectoryChangesW), so it wakes nobody while the file stays as it is;
// where that cannot be set up it polls instead. Comparing
// the connections with the file, rather than the file with its previous
// version, also catches a token created and revoked between two polls,
// and one revoked and re-created under the same name.
//
// It logs the names of tokens that disappeared, and logs once why a file
// that cannot be used is refused (every API token is then refused, and
// clients only hear "missing or invalid token"), and once more when the
// file is usable again.
type Watcher struct {
	// Store is the token file to follow.
	Store *Store
	// Settle is how long changes must stop before the file is read
	// (DefaultSettle if zero).
	Settle time.Duration
	// Interval is the polling period where file notification is
	// unavailable (DefaultWatchInterval if zero).
	Interval time.Duration
	// Changed is called on the watcher's goroutine after each change that
	// leaves the file usable (a missing file is usable: no tokens).
	Changed func()
	// Log receives revocations and the file's problems; nil logs nothing.
	Log *zap.Logger

	stat    fs.FileInfo // of the last version looked at; nil if none existed
	seen    bool        // stat describes a version looked at
	hashes  map[string]string
	lastErr string // the problem logged last, "" when the file is usable
}

// Run follows the file until ctx is done and returns nil then. The first
// look sets the tokens later changes are compared with and logs a file
// that cannot be used.
func (w *Watcher) Run(ctx context.Context) error {
	if w.Log == nil {
		w.Log = zap.NewNop()
	}
	w.Log = w.Log.Named("tokens")
	fw, err := filewatch.New(cmp.Or(w.Settle, DefaultSettle))
	if err == nil {
		err = fw.Set([]string{w.Store.path})
		if err != nil {
			fw.Close()
		}
	}
	if err != nil {
		w.Log.Warn("cannot watch the token file; polling it", zap.String("path", w.Store.path), zap.Error(err))
		return w.pollEvery(ctx)
	}
	// The first look comes after the watch is set up, so no change falls
	// between the two.
	w.poll(true)
	return fw.Run(ctx, func() { w.poll(false) })
}

// pollEvery looks at the file every Interval until ctx is done.
func (w *Watcher) pollEvery(ctx context.Context) error {
	every := w.Interval
	if every <= 0 {
		every = DefaultWatchInterval
	}
	w.poll(true)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.poll(false)
		}
	}
}

// poll looks at the file once.
func (w *Watcher) poll(first bool) {
	fi, err := os.Stat(w.Store.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		w.problem(err)
		return
	}
	if w.seen && sameFile(w.stat, fi) {
		return
	}
	f, rfi, err := w.Store.read()
	if err != nil {
		// Every API token is refused until the file is fixed (Check fails
		// closed); live connections are left alone, since a half-edited
		// file is not a revocation.
		w.problem(err)
		return
	}
	if w.lastErr != "" {
		w.Log.Info("token file usable again", zap.String("path", w.Store.path), zap.Int("tokens", len(f.Tokens)))
		w.lastErr = ""
	}
	hashes := make(map[string]string, len(f.Tokens))
	for _, e := range f.Tokens {
		hashes[e.Name] = e.SHA256
	}
	for name, h := range w.hashes {
		if hashes[name] != h {
			w.Log.Info("token revoked", zap.String("name", name))
		}
	}
	w.stat, w.seen, w.hashes = rfi, true, hashes
	if !first && w.Changed != nil {
		w.Changed()
	}
}

// problem logs err once: again only when the problem changes.
func (w *Watcher) problem(err error) {
	msg := err.Error()
	if msg == w.lastErr {
		return
	}
	w.lastErr = msg
	// CorruptError names the file and the problem, never the content.
	w.Log.Error("token file unusable; every API token is refused until it is fixed",
		zap.String("path", w.Store.path), zap.Error(err))
}
