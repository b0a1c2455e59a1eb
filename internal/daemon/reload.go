package daemon

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/filewatch"
	"github.com/nfcd/nfcd/internal/logging"
	"github.com/nfcd/nfcd/internal/profile"
)

// Why a reload happens.
const (
	reasonSignal = "signal" // SIGHUP
	reasonFile   = "file"   // the file or a key file changed
	reasonAdmin  = "admin"  // nfcd config reload
)

// ReloadResult says what a reload did; `nfcd config reload` prints it.
type ReloadResult struct {
	// File is the configuration file; "" when the daemon runs without one.
	File string `json:"file"`
	// Refused is set when the file has errors: nothing was applied.
	Refused bool `json:"refused"`
	// Applied lists the keys whose new values are in force.
	Applied []string `json:"applied"`
	// Restart lists the changed keys that take effect at the next start.
	Restart []string `json:"restart"`
	// Problems are the file's errors (when refused) and warnings.
	Problems []config.Problem `json:"problems"`
	// TookMS is how long the reload took.
	TookMS float64 `json:"took_ms"`
}

type reloadRequest struct {
	reason string
	reply  chan ReloadResult
}

// requestReload has the serve loop reload, and waits for the result.
func (d *daemon) requestReload(ctx context.Context, reason string) (ReloadResult, error) {
	req := reloadRequest{reason: reason, reply: make(chan ReloadResult, 1)}
	select {
	case d.reloads <- req:
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r, nil
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
}

// current returns the configuration in force.
func (d *daemon) current() config.Config {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

// loadConfig reads the configuration file as the command did at start:
// a missing optional file means the defaults.
func (d *daemon) loadConfig() (config.Config, config.Report) {
	cfg, r := config.Check(d.opts.ConfigFile)
	if err := r.Err(); err != nil && d.opts.ConfigOptional && errors.Is(err, fs.ErrNotExist) {
		cfg, r = config.Default(), config.Report{File: d.opts.ConfigFile}
	}
	if r.Err() == nil && d.opts.Override != nil {
		d.opts.Override(&cfg)
		if err := cfg.Validate(); err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				r.Problems = append(r.Problems, ce.Problems...)
			}
		}
	}
	return cfg, r
}

// reload rereads the configuration file and applies what can change while
// the daemon runs: the tag profiles, allowed_origins, metrics_public and
// (through OnConfig) the log level. Readers, clients and taps carry on. A
// file with errors is refused as a whole: the running configuration stays,
// the refusal is logged with every problem and clients get an error event
// (config_rejected).
func (d *daemon) reload(reason string) ReloadResult {
	start := time.Now()
	res := ReloadResult{File: d.opts.ConfigFile, Applied: []string{}, Restart: []string{}, Problems: []config.Problem{}}
	log := d.log.With(zap.String("reason", reason), zap.String("file", d.opts.ConfigFile))
	if d.opts.ConfigFile == "" {
		log.Info("no configuration file to reload")
		return res
	}
	next, report := d.loadConfig()
	res.Problems = append(res.Problems, report.Problems...)
	old := d.current()
	if errs := report.Errors(); len(errs) > 0 {
		d.refuse(log, &res, errs)
		res.TookMS = ms(time.Since(start))
		return res
	}
	if reflect.DeepEqual(old, next) {
		res.TookMS = ms(time.Since(start))
		if reason == reasonFile {
			log.Debug("configuration unchanged")
		} else {
			log.Info("configuration unchanged", logging.ServiceEvent)
		}
		return res
	}
	// Everything that can fail is checked before anything is applied.
	profiles, err := next.CompileProfiles()
	if err != nil { // Check compiled them already
		d.refuse(log, &res, []config.Problem{{Severity: config.SeverityError, Msg: "profiles: " + err.Error()}})
		res.TookMS = ms(time.Since(start))
		return res
	}
	if d.demo != nil {
		profiles = append(profile.Set{*d.demo}, profiles...)
	}
	if !slices.Equal(old.AllowedOrigins, next.AllowedOrigins) {
		if err := d.server.SetAllowedOrigins(next.AllowedOrigins); err != nil {
			d.refuse(log, &res, []config.Problem{{Severity: config.SeverityError, Key: "allowed_origins", Msg: "allowed_origins: " + err.Error(),
				Fix: "write each origin as scheme://host[:port]"}})
			res.TookMS = ms(time.Since(start))
			return res
		}
		res.Applied = append(res.Applied, "allowed_origins")
	}
	if !reflect.DeepEqual(old.Profiles, next.Profiles) {
		d.pipeline.SetProfiles(profiles)
		res.Applied = append(res.Applied, "profile")
	}
	if old.MetricsPublic != next.MetricsPublic {
		d.metricsPublic.Store(next.MetricsPublic)
		res.Applied = append(res.Applied, "metrics_public")
	}
	if old.Log.Level != next.Log.Level {
		res.Applied = append(res.Applied, "log.level")
	}
	res.Restart = restartKeys(old, next)
	d.cfgMu.Lock()
	d.cfg = next
	d.cfgMu.Unlock()
	if d.opts.OnConfig != nil {
		d.opts.OnConfig(next)
	}
	d.watchFiles(next)
	res.TookMS = ms(time.Since(start))
	for _, p := range report.Warnings() {
		log.Warn("configuration warning", zap.Int("line", p.Line), zap.String("problem", p.Msg), zap.String("fix", p.Fix))
	}
	if len(res.Restart) > 0 {
		log.Warn("changed settings take effect at the next start", zap.Strings("keys", res.Restart))
	}
	log.Info("configuration reloaded", zap.Strings("applied", res.Applied), zap.Int("profiles", len(profiles)),
		zap.Float64("took_ms", res.TookMS), logging.ServiceEvent)
	return res
}

// refuse keeps the running configuration and says why the new one was
// not taken: in the log, with every problem, and to every client.
func (d *daemon) refuse(log *zap.Logger, res *ReloadResult, errs []config.Problem) {
	res.Refused = true
	// The key's name goes in "setting": a field called "key" would be
	// redacted as a secret (internal/logging) and the operator lose it.
	for _, p := range errs {
		log.Error("configuration problem", zap.Int("line", p.Line), zap.String("setting", p.Key), zap.String("problem", p.Msg), zap.String("fix", p.Fix))
	}
	log.Error("configuration refused; the running one is kept", zap.Int("errors", len(errs)), logging.ServiceEvent)
	code := event.CodeConfigRejected
	d.server.Publish(event.Error.String(), event.ErrorPayload{Code: code, Message: code.Message()})
}

// restartKeys lists the keys that differ between old and next and only
// take effect at the next start.
func restartKeys(old, next config.Config) []string {
	keys := []string{}
	add := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	add("listen", old.Listen != next.Listen)
	add("allow_non_loopback", old.AllowNonLoopback != next.AllowNonLoopback)
	add("include_readers", !slices.Equal(old.IncludeReaders, next.IncludeReaders))
	add("exclude_readers", !slices.Equal(old.ExcludeReaders, next.ExcludeReaders))
	add("feedback", old.Feedback != next.Feedback)
	add("originality", old.Originality != next.Originality)
	add("audit_max_age", old.AuditMaxAge != next.AuditMaxAge)
	add("audit_max_entries", old.AuditMaxEntries != next.AuditMaxEntries)
	add("simulate_interval", old.SimulateInterval != next.SimulateInterval)
	add("max_connections", old.MaxConnections != next.MaxConnections)
	add("max_connections_per_token", old.MaxConnectionsPerToken != next.MaxConnectionsPerToken)
	// The authentication station is built at start.
	add("remote", !reflect.DeepEqual(old.Remote, next.Remote))
	add("fleet", !reflect.DeepEqual(old.Fleet, next.Fleet))
	ol, nl := old.Log, next.Log
	ol.Level, nl.Level = "", ""
	add("log", ol != nl)
	return keys
}

// startWatch watches the configuration file and its key files, unless
// disabled or there is no file.
func (d *daemon) startWatch() {
	if d.opts.ConfigFile == "" || d.opts.NoWatch {
		return
	}
	w, err := filewatch.New(filewatch.DefaultSettle)
	if err != nil {
		d.log.Warn("cannot watch the configuration file; reload with SIGHUP or nfcd config reload", zap.Error(err))
		return
	}
	d.watcher = w
	d.watchFiles(d.cfg)
}

// watchFiles points the watcher at the configuration file and the key
// files cfg names.
func (d *daemon) watchFiles(cfg config.Config) {
	if d.watcher == nil {
		return
	}
	if err := d.watcher.Set(append([]string{d.opts.ConfigFile}, cfg.KeyFiles()...)); err != nil {
		d.log.Info("not watching some configuration files", zap.Error(err))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
