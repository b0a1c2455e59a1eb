package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
)

// Commands that need the state directory work whether or not a daemon
// holds it: they ask the daemon running on it through its admin API
// (internal/admin), and when none answers they do the work themselves.
// Nothing waits on the store's lock: a store held by a process that does
// not answer is reported with what holds it. A command of a later part
// (nfcd outbox …) follows the same pattern:
//
//	running, err := callDaemon(dir, "outbox.status", req, &res)
//	if !running {
//		st, err := openStore(dir) // or the part's own files
//		…
//	}

// callTimeout bounds one admin call.
const callTimeout = 30 * time.Second

// callDaemon calls method on the daemon of the state directory dir.
// running is false when no daemon answers there; err is then nil.
func callDaemon(dir, method string, req, resp any) (running bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err = admin.NewClient(admin.Path(dir)).Call(ctx, method, req, resp)
	if errors.Is(err, admin.ErrNotRunning) {
		return false, nil
	}
	var ae *admin.Error
	if errors.As(err, &ae) && ae.Code == admin.CodeUnknownMethod {
		return true, fmt.Errorf("the nfcd running on %s does not know %q: it is older than this command; restart it or stop it first", dir, method)
	}
	return true, err
}

// openStore opens the store of the state directory dir read-only, without
// waiting for its lock: a store held by a process that did not answer on
// the admin API is an error that names the process.
func openStore(dir string) (*store.Store, error) {
	path := statedir.PathsOf(dir).DB
	st, err := store.OpenReadOnly(path, store.Options{Timeout: -1})
	switch {
	case errors.Is(err, store.ErrLocked):
		return nil, lockedError(dir)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s holds no audit log yet: it is created when the daemon first starts there", dir)
	}
	return st, err
}

// lockedError says that the store of dir is held by a process that did not
// answer on the admin API, and which process that is.
func lockedError(dir string) error {
	path := statedir.PathsOf(dir).DB
	holder := store.LockHolder(path)
	if holder == "" {
		holder = "another process (run as root to see which)"
	}
	return fmt.Errorf("%s is locked by %s, which does not answer on the admin API %s: an nfcd older than this command, or one that is stuck; stop it and try again",
		path, holder, admin.Path(dir))
}
