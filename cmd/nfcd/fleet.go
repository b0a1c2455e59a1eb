package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleetstage"
	"github.com/nfcd/nfcd/internal/ntag424"
)

var fleetCmd = &command{
	name:     "fleet",
	summary:  "the fleet database: schema migrations and this kiosk's link",
	synopsis: "nfcd fleet migrate|status [flags]",
	about: `With a [fleet] section (docs/fleet.md) every kiosk checks its authentic
taps against one PostgreSQL database and ships its audit log there.
"migrate" creates or upgrades the schema; "status" shows this kiosk's link
and what waits for the database.`,
	example: "nfcd fleet status --json",
	subs:    []*command{fleetMigrateCmd, fleetStatusCmd},
}

var fleetMigrateCmd = &command{
	name:     "fleet migrate",
	summary:  "create or upgrade the fleet schema",
	synopsis: "nfcd fleet migrate [--config FILE] [--json]",
	about: `Applies the embedded schema migrations to the database of the [fleet]
section, under an advisory lock (many kiosks migrating at once migrate
once), and creates the coming months' partitions of the taps table. Run it
with a role that owns schema nfcd; behind PgBouncer, against PostgreSQL
directly.`,
	example: "nfcd fleet migrate --config /etc/nfcd/nfcd.toml",
	maxArgs: 0,
}

var fleetStatusCmd = &command{
	name:     "fleet status",
	summary:  "show the fleet link: connected, queue depths, oldest unshipped",
	synopsis: "nfcd fleet status [--state-dir DIR] [--config FILE] [--json]",
	about: `Shows whether this kiosk reaches the fleet database, how many counter
advances and audit rows wait for it and since when. Through the daemon
running on the state directory (root or the service account); without one,
read from the state directory, probing the database of --config.`,
	example: "nfcd fleet status --json",
	maxArgs: 0,
}

// fleetConfig loads the [fleet] section of file (the service's default
// when empty).
// connectFleet connects to the fleet database of the configuration file
// (default: the service's) for one command, interruptible and bounded by
// fleetTimeout; done closes it.
func connectFleet(cfgFile string) (context.Context, *fleet.DB, func(), error) {
	fc, err := fleetConfig(cfgFile)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := interruptible(fleetTimeout)
	db, err := fleet.Connect(ctx, fc, nil)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, db, func() { db.Close(); cancel() }, nil
}

func fleetConfig(file string) (fleet.Config, error) {
	if file == "" {
		file = defaultConfigPath()
	}
	if file == "" {
		return fleet.Config{}, usageError("--config is required")
	}
	cfg, err := config.Load(file)
	if err != nil {
		return fleet.Config{}, err
	}
	if cfg.Fleet == nil {
		return fleet.Config{}, fmt.Errorf("%s has no [fleet] section (docs/config.md)", file)
	}
	return *cfg.Fleet, nil
}

// interruptible returns a context canceled by SIGINT or SIGTERM, bounded
// by d.
func interruptible(d time.Duration) (context.Context, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, d)
	return ctx, func() { cancel(); stop() }
}

// fleetTimeout bounds a fleet command's work with the database.
const fleetTimeout = 2 * time.Minute

func init() {
	var cfgFile string
	var asJSON bool
	fleetMigrateCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&cfgFile, "config", "", "configuration `file` with the [fleet] section (default: the service's)")
		fs.BoolVar(&asJSON, "json", false, "print the outcome as a JSON object")
	}
	fleetMigrateCmd.run = func(e *env, _ []string) error {
		ctx, db, done, err := connectFleet(cfgFile)
		if err != nil {
			return err
		}
		defer done()
		m, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		parts, err := db.EnsurePartitions(ctx, time.Now())
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(e.stdout, struct {
				From       int `json:"from"`
				To         int `json:"to"`
				Partitions int `json:"partitions_created"`
			}{m.From, m.To, parts})
		}
		if m.From == m.To {
			fmt.Fprintf(e.stdout, "fleet schema is current (version %d)\n", m.To)
		} else {
			fmt.Fprintf(e.stdout, "fleet schema migrated from version %d to %d\n", m.From, m.To)
		}
		if parts > 0 {
			fmt.Fprintf(e.stdout, "%d partitions of the taps table created\n", parts)
		}
		return nil
	}

	var dir, statusCfg string
	var statusJSON bool
	fleetStatusCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
		fs.StringVar(&statusCfg, "config", "", "configuration `file` with the [fleet] section, when no daemon runs (default: the service's)")
		fs.BoolVar(&statusJSON, "json", false, "print the status as a JSON object")
	}
	fleetStatusCmd.run = func(e *env, _ []string) error {
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var st daemon.FleetStatus
		running, err := callDaemon(d, daemon.AdminFleetStatus, nil, &st)
		if err != nil {
			return err
		}
		if !running {
			if st, err = offlineFleetStatus(d, statusCfg); err != nil {
				return err
			}
		}
		if statusJSON {
			return writeJSON(e.stdout, st)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		if !st.Configured {
			fmt.Fprintln(tw, "fleet\toff (no [fleet] section)")
		} else {
			fmt.Fprintf(tw, "kiosk\t%s\n", st.Kiosk)
			fmt.Fprintf(tw, "connected\t%v\n", st.Connected)
			if !st.LastContact.IsZero() {
				fmt.Fprintf(tw, "last contact\t%s\n", st.LastContact.UTC().Format(humanTime))
			}
			if st.LastError != "" {
				fmt.Fprintf(tw, "last error\t%s\n", st.LastError)
			}
			fmt.Fprintf(tw, "schema version\t%d\n", st.SchemaVersion)
		}
		fmt.Fprintf(tw, "queued advances\t%d\n", st.QueuedAdvances)
		fmt.Fprintf(tw, "unshipped audit rows\t%d\n", st.UnshippedTaps)
		if !st.OldestUnshipped.IsZero() {
			fmt.Fprintf(tw, "oldest unshipped\t%s (%s ago)\n", st.OldestUnshipped.UTC().Format(humanTime),
				(time.Duration(st.OldestUnshippedSeconds) * time.Second).String())
		}
		if st.Configured {
			fmt.Fprintf(tw, "late replays\t%d\n", st.LateReplays)
			if st.Dropped > 0 {
				fmt.Fprintf(tw, "dropped\t%d\n", st.Dropped)
			}
		}
		return tw.Flush()
	}
}

// offlineFleetStatus reads the queues of the state directory dir and, with
// a [fleet] section in cfgFile, probes the database.
func offlineFleetStatus(dir, cfgFile string) (daemon.FleetStatus, error) {
	if err := requireDir(dir); err != nil {
		return daemon.FleetStatus{}, err
	}
	sst, err := openStore(dir)
	if err != nil {
		return daemon.FleetStatus{}, err
	}
	ctx, cancel := interruptible(30 * time.Second)
	defer cancel()
	a, t, err := fleetstage.QueueStats(ctx, sst)
	sst.Close()
	if err != nil {
		return daemon.FleetStatus{}, err
	}
	s := fleet.Status{QueuedAdvances: a.Len, UnshippedTaps: t.Len, Oldest: a.Oldest}
	if s.Oldest.IsZero() || (!t.Oldest.IsZero() && t.Oldest.Before(s.Oldest)) {
		s.Oldest = t.Oldest
	}
	out := daemon.FleetStatusOf(s, time.Now())
	out.Configured = false
	fc, err := fleetConfig(cfgFile)
	if err != nil {
		var ue *usageErr
		if cfgFile == "" && (errors.As(err, &ue) || strings.Contains(err.Error(), "no [fleet] section") || errors.Is(err, os.ErrNotExist)) {
			return out, nil // no configuration to probe with
		}
		return daemon.FleetStatus{}, err
	}
	out.Configured = true
	db, err := fleet.Connect(ctx, fc, nil)
	if err != nil {
		return daemon.FleetStatus{}, err
	}
	defer db.Close()
	out.Kiosk = db.Kiosk()
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	defer pcancel()
	if v, err := db.SchemaVersion(pctx); err != nil {
		out.LastError = err.Error()
	} else {
		out.Connected, out.SchemaVersion, out.LastContact = true, v, time.Now()
	}
	return out, nil
}

// fleetHistory prints the fleet's taps (nfcd history --fleet).
func fleetHistory(e *env, cfgFile, uid, kiosk, since string, limit int, asJSON bool) error {
	q := fleet.HistoryQuery{Kiosk: kiosk, Limit: limit}
	if uid != "" {
		b, err := hex.DecodeString(uid)
		if err != nil || len(b) == 0 || len(b) > fleet.MaxUIDLen {
			return usageError("--uid: want 1 to %d bytes of hex", fleet.MaxUIDLen)
		}
		q.UID = b
	}
	if since != "" {
		if d, err := time.ParseDuration(since); err == nil && d > 0 {
			q.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, since); err == nil {
			q.Since = t
		} else {
			return usageError("--since: want a duration (1h) or an RFC 3339 time")
		}
	}
	if limit < 0 || limit > fleet.MaxHistoryLimit {
		return usageError("--limit: 1 to %d", fleet.MaxHistoryLimit)
	}
	ctx, db, done, err := connectFleet(cfgFile)
	if err != nil {
		return err
	}
	defer done()
	taps, err := db.History(ctx, q)
	if err != nil {
		return err
	}
	if asJSON {
		for _, t := range taps {
			if err := writeJSON(e.stdout, fleetTapJSON(t)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIOSK\tREADER\tUID\tCTR\tVERDICT\tREASON\tFLEET")
	for _, t := range taps {
		reason := t.Reason
		if t.Detail != "" {
			reason += " (" + t.Detail + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Time.UTC().Format(humanTime), t.Kiosk, t.Reader,
			strings.ToUpper(hex.EncodeToString(t.UID)), t.Ctr, t.Verdict, reason, t.Fleet)
	}
	return tw.Flush()
}

// fleetTap is one line of `nfcd history --fleet --json`.
type fleetTap struct {
	Time    string          `json:"time"`
	Kiosk   string          `json:"kiosk"`
	Seq     uint64          `json:"seq"`
	Tap     string          `json:"tap,omitempty"`
	Reader  string          `json:"reader"`
	Profile string          `json:"profile,omitempty"`
	UID     string          `json:"uid"`
	Ctr     ntag424.Counter `json:"ctr"`
	Verdict string          `json:"verdict"`
	Reason  string          `json:"reason"`
	Detail  string          `json:"detail,omitempty"`
	KeyID   string          `json:"key_id,omitempty"`
	Fleet   string          `json:"fleet"`
}

func fleetTapJSON(t fleet.Tap) fleetTap {
	return fleetTap{Time: t.Time.UTC().Format(time.RFC3339Nano), Kiosk: t.Kiosk, Seq: t.Seq, Tap: t.ID, Reader: t.Reader,
		Profile: t.Profile, UID: strings.ToUpper(hex.EncodeToString(t.UID)), Ctr: t.Ctr, Verdict: t.Verdict,
		Reason: t.Reason, Detail: t.Detail, KeyID: t.KeyID, Fleet: t.Fleet}
}
