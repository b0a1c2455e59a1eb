package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nfcd/nfcd/internal/buildinfo"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verifyclient"
	"github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

var remoteCmd = &command{
	name:     "remote",
	summary:  "remote verification with the Legitimate tag API",
	synopsis: "nfcd remote verify URL [flags]",
	about: `Remote verification sends the daemon's own taps of Legitimate-managed tags to
the Legitimate tag API ([remote.legitimate] in the configuration; README,
"Remote verification").`,
	example: "nfcd remote verify 'https://tap.legitimate.tech/?uid=…&ctr=…&cmac=…' --config /etc/nfcd/nfcd.toml",
	subs:    []*command{remoteVerifyCmd},
}

var remoteVerifyCmd = &command{
	name:     "remote verify",
	summary:  "verify one tag URL with the service, once",
	synopsis: "nfcd remote verify URL [--config FILE | --base-url URL] [--json]",
	about: `Sends the uid, ctr and cmac of URL to the service's tags/verify, with the rules
of the daemon: the parameters are checked locally first, a request that may
have been processed is never sent again but settled with the read-only
cmac/latest, and the answer is printed. Verify is one-shot: only the first
verify of a tap's parameters succeeds, so use a URL no one has verified yet
(a fresh tap). Exits 0 when the service verified the tag, 1 otherwise.`,
	example:      "nfcd remote verify 'https://tap.legitimate.tech/?uid=041E3C8A2D6B80&ctr=000006&cmac=4B00064004B0B3D3' --config nfcd.toml",
	maxArgs:      1,
	interspersed: true,
}

var fakeLegitimateCmd = &command{
	name:     "fake legitimate",
	summary:  "serve a fake Legitimate tag API",
	synopsis: "nfcd fake legitimate --tags FILE [--listen ADDR] [--log-level LEVEL]",
	about: `Serves a fake of the Legitimate external tag API (plain HTTP; nfcd accepts
http:// only on loopback) with the tags of FILE, until interrupted. Its
base URL is http://ADDR/external/v1. The tags file lists each tag's uid and
SDM file read key (internal/verifyclient/legitimatetest documents it); the
fake verifies plain-mirror AES SUN MACs, accepts each triple once and keeps
the latest verification, owners and transfers.`,
	example: "nfcd fake legitimate --listen 127.0.0.1:7480 --tags tags.toml",
	maxArgs: 0,
}

var outboxCmd = &command{
	name:     "outbox",
	summary:  "show and manage the taps waiting for remote verification",
	synopsis: "nfcd outbox list|retry|drop [flags]",
	about: `Taps waiting for the remote service are kept in the outbox of the state
directory until they settle. While a daemon runs on the state directory the
commands go through it (root or the service account); otherwise they work on
the state directory themselves.`,
	example: "nfcd outbox list --json",
	subs:    []*command{outboxListCmd, outboxRetryCmd, outboxDropCmd},
}

var outboxListCmd = &command{
	name:     "outbox list",
	summary:  "list the waiting taps (never their MACs)",
	synopsis: "nfcd outbox list [--state-dir DIR] [--json]",
	about:    "Lists the outbox, oldest first: item id, state, attempts, tag and counter,\nthe verdict its tag.read carried, and when it is due next.",
	example:  "nfcd outbox list --state-dir /var/lib/nfcd",
	maxArgs:  0,
}

var outboxRetryCmd = &command{
	name:         "outbox retry",
	summary:      "make a waiting tap due at the daemon's next start",
	synopsis:     "nfcd outbox retry ID [--state-dir DIR]",
	about:        "Clears the wait of outbox item ID, so that the daemon tries it first thing\nwhen it starts. A tap that may have reached the service is only ever\nsettled with read-only requests, never verified again.",
	example:      "nfcd outbox retry 12",
	maxArgs:      1,
	interspersed: true,
}

var outboxDropCmd = &command{
	name:         "outbox drop",
	summary:      "give up a waiting tap (its verdict becomes unverified)",
	synopsis:     "nfcd outbox drop ID [--state-dir DIR] [--json]",
	about:        "Removes outbox item ID and records its final verdict, unverified\n(remote_unreachable), in the audit log.",
	example:      "nfcd outbox drop 12",
	maxArgs:      1,
	interspersed: true,
}

func init() {
	var cfgFile, baseURL string
	var asJSON bool
	remoteVerifyCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&cfgFile, "config", "", "configuration `file` with the [remote.legitimate] section")
		fs.StringVar(&baseURL, "base-url", "", "API base `URL` instead of a configuration file (e.g. a fake's)")
		fs.BoolVar(&asJSON, "json", false, "print the outcome as a JSON object")
	}
	remoteVerifyCmd.run = func(e *env, args []string) error {
		if len(args) != 1 {
			return usageError("want the tag URL")
		}
		var l remote.Legitimate
		switch {
		case cfgFile != "" && baseURL != "":
			return usageError("--config and --base-url do not go together")
		case cfgFile != "":
			cfg, err := config.Load(cfgFile)
			if err != nil {
				return err
			}
			if cfg.Remote.Legitimate == nil {
				return fmt.Errorf("%s has no [remote.legitimate] section", cfgFile)
			}
			l = *cfg.Remote.Legitimate
		case baseURL != "":
			l.BaseURL = baseURL
			if err := l.Validate(); err != nil {
				return usageError("--base-url: %v", err)
			}
		default:
			return usageError("--config or --base-url is required")
		}
		t, err := verifyclient.TripleFromURL(args[0])
		if err != nil {
			return usageError("%v", err)
		}
		opts, err := l.Options(buildinfo.Get().Version)
		if err != nil {
			return err
		}
		c, err := verifyclient.New(opts)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, 5*l.Timeout.Duration)
		defer cancel()
		out, err := c.Verify(ctx, t)
		if err != nil && out.Status == "" {
			return err
		}
		res := verifyResult{UID: t.UID, Ctr: t.Ctr, Status: string(out.Status), Answer: string(remote.AnswerOf(out)),
			SettledBy: out.SettledBy, Sent: out.Sent, Verify: out.Verify}
		if out.Err != nil {
			res.Error = out.Err.Error()
		}
		if asJSON {
			if err := writeJSON(e.stdout, res); err != nil {
				return err
			}
		} else {
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "tap\tuid=%s ctr=%s\n", t.UID, t.Ctr)
			fmt.Fprintf(tw, "status\t%s\n", out.Status)
			if out.SettledBy != "" {
				fmt.Fprintf(tw, "settled by\t%s\n", out.SettledBy)
			}
			fmt.Fprintf(tw, "requests sent\t%d\n", out.Sent)
			if v := out.Verify; v != nil {
				if v.Name != nil {
					fmt.Fprintf(tw, "name\t%s\n", *v.Name)
				}
				if v.SerialNumber != nil {
					fmt.Fprintf(tw, "serial number\t%d\n", *v.SerialNumber)
				}
			}
			if res.Error != "" {
				fmt.Fprintf(tw, "error\t%s\n", res.Error)
			}
			tw.Flush()
		}
		if out.Status != verifyclient.StatusAuthentic {
			return errInvalid
		}
		return nil
	}

	var listen, tags, level string
	fakeLegitimateCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&listen, "listen", "127.0.0.1:7480", "listen `address`")
		fs.StringVar(&tags, "tags", "", "tags `file` (TOML)")
		fs.StringVar(&level, "log-level", "info", "log `level`: debug, info, warn, error")
	}
	fakeLegitimateCmd.run = func(e *env, _ []string) error {
		if tags == "" {
			return usageError("--tags is required")
		}
		log, err := newDaemonLogger(e.stderr, level)
		if err != nil {
			return err
		}
		defer log.Sync()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return legitimatetest.ListenAndServe(ctx, listen, tags, log)
	}

	var dir string
	outboxListCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per item")
	}
	outboxRetryCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
	}
	outboxDropCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
		fs.BoolVar(&asJSON, "json", false, "print the final verdict as a JSON object")
	}
	outboxListCmd.run = func(e *env, _ []string) error {
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var status remoteverify.Status
		running, err := callDaemon(d, daemon.AdminOutboxStatus, nil, &status)
		if err != nil {
			return err
		}
		if !running {
			st, err := openOutbox(dir, true)
			if err != nil {
				return err
			}
			items, err := st.Outbox()
			st.Close()
			if err != nil {
				return err
			}
			for i := range items {
				status.Items = append(status.Items, remoteverify.StatusOf(&items[i], false))
			}
		}
		if asJSON {
			for _, s := range status.Items {
				if err := writeJSON(e.stdout, s); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tATTEMPTS\tUID\tCTR\tVERDICT\tCREATED\tNEXT\tLAST ERROR")
		for _, s := range status.Items {
			ctr, next := "-", "now"
			if s.Ctr != nil {
				ctr = strconv.FormatUint(uint64(*s.Ctr), 10)
			}
			if s.NextAttempt != nil {
				next = s.NextAttempt.Format(humanTime)
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, s.Attempts, s.UID, ctr, s.Verdict,
				s.Created.Format(humanTime), next, s.LastError)
		}
		return tw.Flush()
	}
	outboxRetryCmd.run = func(e *env, args []string) error {
		id, err := itemID(args)
		if err != nil {
			return err
		}
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		running, err := callDaemon(d, daemon.AdminOutboxRetry, daemon.OutboxRequest{ID: id}, nil)
		if err != nil {
			return err
		}
		if running {
			fmt.Fprintf(e.stdout, "outbox item %d is due now\n", id)
			return nil
		}
		st, err := openOutbox(dir, false)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := remoteverify.RetryStored(st, id); err != nil {
			return outboxErr(id, err)
		}
		fmt.Fprintf(e.stdout, "outbox item %d is due at the daemon's next start\n", id)
		return nil
	}
	outboxDropCmd.run = func(e *env, args []string) error {
		id, err := itemID(args)
		if err != nil {
			return err
		}
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		running, err := callDaemon(d, daemon.AdminOutboxDrop, daemon.OutboxRequest{ID: id}, nil)
		if err != nil {
			return err
		}
		if running {
			// The daemon settles the tap and publishes its verdict.updated.
			if asJSON {
				return writeJSON(e.stdout, map[string]any{"id": id})
			}
			fmt.Fprintf(e.stdout, "dropped outbox item %d; its tap settles unverified\n", id)
			return nil
		}
		st, err := openOutbox(dir, false)
		if err != nil {
			return err
		}
		defer st.Close()
		v, err := remoteverify.DropStored(st, id, time.Now())
		if err != nil {
			return outboxErr(id, err)
		}
		if asJSON {
			return writeJSON(e.stdout, map[string]any{"id": id, "tap": v.Tap, "uid": v.UID, "verdict": v.Verdict, "reason": v.Reason})
		}
		fmt.Fprintf(e.stdout, "dropped outbox item %d (tap %s, uid %s): %s (%s)\n", id, v.Tap, v.UID, v.Verdict, v.Reason)
		return nil
	}
}

// verifyResult is the --json output of nfcd remote verify.
type verifyResult struct {
	UID       string                       `json:"uid"`
	Ctr       string                       `json:"ctr"`
	Status    string                       `json:"status"`
	Answer    string                       `json:"answer"`
	SettledBy string                       `json:"settled_by,omitempty"`
	Sent      int                          `json:"sent"`
	Verify    *verifyclient.VerifyResponse `json:"verify,omitempty"`
	Error     string                       `json:"error,omitempty"`
}

func itemID(args []string) (uint64, error) {
	if len(args) != 1 {
		return 0, usageError("want the outbox item ID (nfcd outbox list shows them)")
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || id == 0 {
		return 0, usageError("%q is not an outbox item ID", args[0])
	}
	return id, nil
}

// openOutbox opens the store of the state directory dir, read-only or
// not, explaining the usual failures.
func openOutbox(dir string, readOnly bool) (*store.Store, error) {
	d, err := stateDir(dir)
	if err != nil {
		return nil, err
	}
	if err := requireDir(d); err != nil {
		return nil, err
	}
	path := statedir.PathsOf(d).DB
	// Never wait on the lock: a holder that did not answer on the admin
	// API is named.
	opts := store.Options{Timeout: -1}
	var st *store.Store
	if readOnly {
		st, err = store.OpenReadOnly(path, opts)
	} else if _, serr := os.Stat(path); serr != nil {
		err = &store.OpenError{Path: path, Cause: serr}
	} else {
		st, err = store.Open(path, opts)
	}
	switch {
	case errors.Is(err, store.ErrLocked):
		return nil, lockedError(d)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s holds no database yet: it is created when the daemon first starts there", d)
	}
	return st, err
}

func outboxErr(id uint64, err error) error {
	if errors.Is(err, remoteverify.ErrNoItem) {
		return fmt.Errorf("no outbox item %d (nfcd outbox list shows them)", id)
	}
	return err
}
