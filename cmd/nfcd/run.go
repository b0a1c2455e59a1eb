package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/kardianos/service"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/buildinfo"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/logging"
	"github.com/nfcd/nfcd/internal/metrics"
	"github.com/nfcd/nfcd/internal/servicedef"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
)

var runCmd = &command{
	name:     "run",
	summary:  "run the daemon: readers → verdicts → WebSocket API and kiosk page",
	synopsis: "nfcd run [--config FILE] [--state-dir DIR] [--listen 127.0.0.1:PORT] [--simulate [--remote-fake]] [--log-level LEVEL] [log flags]",
	about: `Runs the daemon: reads tags from every PC/SC reader (or, with --simulate, from
a simulated reader with virtual tags), verifies them, and serves verdicts
over the local WebSocket API and the kiosk page, with /healthz and /metrics
beside them. When ready it prints
  listening on http://127.0.0.1:PORT/
With --simulate --remote-fake the simulated tags are also known to an
in-process fake of the Legitimate tag API, and every tap is confirmed by it
(remote verification, no network needed).
It rereads the configuration file when it changes and on SIGHUP (which also
reopens the log file); a file with errors is refused and the running
configuration kept. The --log-* flags override the file's [log] section.`,
	example: "nfcd run --simulate",
}

func init() {
	var rf runFlags
	runCmd.flags = rf.register
	runCmd.run = func(e *env, _ []string) error {
		svc := !service.Interactive()
		cfg, report, cfgErr := rf.loadConfig()
		log, err := rf.logger(e.stderr, cfg, svc)
		if err != nil {
			return err
		}
		defer log.Close()
		if cfgErr != nil {
			// The service manager shows the log (the journal, the Windows
			// Event Log), not this command's stderr.
			for _, p := range report.Errors() {
				log.Error("configuration problem", zap.String("file", report.File), zap.Int("line", p.Line), zap.String("problem", p.Msg), zap.String("fix", p.Fix))
			}
			return cfgErr
		}
		for _, p := range report.Warnings() {
			log.Warn("configuration warning", zap.String("file", report.File), zap.Int("line", p.Line), zap.String("problem", p.Msg), zap.String("fix", p.Fix))
		}
		opts, err := rf.options(e.stdout, cfg, log)
		if err != nil {
			return err
		}
		// SIGHUP: reread the configuration and reopen the log file.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		reload := make(chan struct{}, 1)
		opts.Reload = reload
		go func() {
			for range hup {
				if err := log.Rotate(); err != nil {
					log.Warn("log file rotation failed", zap.Error(err))
				}
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}()
		if svc {
			// Started by systemd or the Windows service manager.
			return inUse(opts.StateDir, runService(opts))
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return inUse(opts.StateDir, daemon.Run(ctx, opts))
	}
}

// inUse names the process that holds the store when the daemon could not
// open it: another nfcd on the same state directory.
func inUse(dir string, err error) error {
	if !errors.Is(err, store.ErrLocked) {
		return err
	}
	holder := store.LockHolder(statedir.PathsOf(dir).DB)
	if holder == "" {
		holder = "by another process; run as root to see which"
	}
	return fmt.Errorf("the state directory %s is in use (%s); stop that process, or give this daemon its own --state-dir", dir, holder)
}

// runFlags are shared by run and the service commands.
type runFlags struct {
	configFile string
	stateDir   string
	listen     string
	simulate   bool
	remoteFake bool
	traceAPDU  bool

	logLevel      string
	logFormat     string
	logFile       string
	logMaxSize    int
	logMaxBackups int
	logMaxAge     int
	logUIDs       bool
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "configuration `file` (TOML; docs/config.md)")
	fs.StringVar(&f.stateDir, "state-dir", "", "state `directory` (counters, audit log, keys, tokens; default per OS)")
	fs.StringVar(&f.listen, "listen", "", "listen `address` (default 127.0.0.1:7424)")
	fs.BoolVar(&f.simulate, "simulate", false, "use a simulated reader with virtual tags instead of PC/SC")
	fs.BoolVar(&f.remoteFake, "remote-fake", false, "with --simulate: verify the simulated tags remotely too, with an in-process fake Legitimate service")
	fs.BoolVar(&f.traceAPDU, "trace-apdu", false, "log every APDU for support (headers, status words, timing; never keys, MACs or UIDs)")
	fs.StringVar(&f.logLevel, "log-level", "", "log `level`: debug, info, warn, error (default: the file's log.level, or info)")
	fs.StringVar(&f.logFormat, "log-format", "", "stderr log `format`: console, json or auto (default auto: console on a terminal)")
	fs.StringVar(&f.logFile, "log-file", "", "also write JSON lines to this `file`, rotated by size")
	fs.IntVar(&f.logMaxSize, "log-max-size", 0, "rotate the log file at this many `MB` (default 10)")
	fs.IntVar(&f.logMaxBackups, "log-max-backups", 0, "keep this many rotated log `files` (default 5)")
	fs.IntVar(&f.logMaxAge, "log-max-age", 0, "delete rotated log files older than this many `days` (default 30)")
	fs.BoolVar(&f.logUIDs, "log-uids", false, "log tag UIDs as they are instead of pseudonyms")
}

// stateDir returns the state directory: the flag, or the default per OS.
func stateDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return statedir.Default()
}

// defaultConfigPath is the configuration the packaged service passes on
// this OS, "" where there is none.
func defaultConfigPath() string {
	switch runtime.GOOS {
	case "linux":
		return servicedef.LinuxPaths().Config
	case "windows":
		if pd := os.Getenv("ProgramData"); pd != "" {
			return servicedef.WindowsPaths(pd).Config
		}
	}
	return ""
}

// configOptional reports whether the configuration file may be missing:
// the platform's default path means the defaults until it exists, so that
// the packaged service can always pass it.
func (f *runFlags) configOptional() bool {
	return f.configFile != "" && filepath.Clean(f.configFile) == filepath.Clean(defaultConfigPath())
}

// loadConfig loads --config (none: the defaults) with the flags applied
// over it. A missing default file is the defaults.
func (f *runFlags) loadConfig() (config.Config, config.Report, error) {
	if f.configFile == "" {
		cfg := config.Default()
		f.override(&cfg)
		return cfg, config.Report{}, f.flagError(cfg.Validate())
	}
	cfg, r := config.Check(f.configFile)
	err := r.Err()
	if err != nil && errors.Is(err, fs.ErrNotExist) && f.configOptional() {
		cfg, r, err = config.Default(), config.Report{File: f.configFile}, nil
	}
	if err != nil {
		return config.Default(), r, err
	}
	f.override(&cfg)
	if err := cfg.Validate(); err != nil {
		return config.Default(), r, f.flagError(err)
	}
	return cfg, r, nil
}

// flagError turns a validation error about a key a flag set into a usage
// error that names the flag: the flag, not the file, is at fault.
func (f *runFlags) flagError(err error) error {
	if err == nil || f.listen == "" {
		return err
	}
	msg := err.Error()
	if i := strings.Index(msg, "listen: "); i >= 0 {
		return usageError("--listen %s: %s", f.listen, msg[i+len("listen: "):])
	}
	return err
}

// override applies the flags that stand for configuration keys.
func (f *runFlags) override(c *config.Config) {
	if f.listen != "" {
		c.Listen = f.listen
	}
}

// logger builds the root logger from the flags over the configuration's
// [log] section. As a Windows service it also logs to the Event Log and,
// unless a file is configured, to %ProgramData%\nfcd\logs\nfcd.log, since
// stderr goes nowhere there.
func (f *runFlags) logger(stderr io.Writer, cfg config.Config, svc bool) (*logging.Logger, error) {
	lc := cfg.Log
	if f.logLevel != "" {
		lc.Level = f.logLevel
	}
	level, err := logging.ParseLevel(orString(lc.Level, "info"))
	if err != nil {
		return nil, usageError("--log-level: %v", err)
	}
	if f.logFormat != "" {
		lc.Format = f.logFormat
	}
	format, err := logging.ParseFormat(lc.Format)
	if err != nil {
		return nil, usageError("--log-format: %v", err)
	}
	for _, fl := range []struct {
		dst *int
		v   int
	}{{&lc.MaxSizeMB, f.logMaxSize}, {&lc.MaxBackups, f.logMaxBackups}, {&lc.MaxAgeDays, f.logMaxAge}} {
		if fl.v < 0 {
			return nil, usageError("--log-max-*: must not be negative")
		}
		if fl.v > 0 {
			*fl.dst = fl.v
		}
	}
	if f.logFile != "" {
		lc.File = f.logFile
	}
	lc.UIDs = lc.UIDs || f.logUIDs
	o := logging.Options{
		Level:    zap.NewAtomicLevelAt(level),
		Stderr:   stderr,
		Format:   format,
		Service:  svc,
		KeepUIDs: lc.UIDs,
		File:     logging.File{Path: lc.File, MaxSizeMB: lc.MaxSizeMB, MaxBackups: lc.MaxBackups, MaxAgeDays: lc.MaxAgeDays},
	}
	if svc && runtime.GOOS == "windows" {
		o.Stderr = nil
		if o.File.Path == "" {
			if pd := os.Getenv("ProgramData"); pd != "" {
				o.File.Path = servicedef.WindowsPaths(pd).LogDir + `\nfcd.log`
			}
		}
	}
	return logging.New(o)
}

func orString(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// options builds the daemon options from the flags and the configuration.
func (f *runFlags) options(stdout io.Writer, cfg config.Config, log *logging.Logger) (daemon.Options, error) {
	if f.remoteFake && !f.simulate {
		return daemon.Options{}, usageError("--remote-fake needs --simulate")
	}
	dir, err := stateDir(f.stateDir)
	if err != nil {
		return daemon.Options{}, err
	}
	bi := buildinfo.Get()
	levelFixed := f.logLevel != ""
	return daemon.Options{
		Config:         cfg,
		ConfigFile:     f.configFile,
		ConfigOptional: f.configOptional(),
		Override:       f.override,
		OnConfig: func(c config.Config) {
			if levelFixed {
				return
			}
			if l, err := logging.ParseLevel(orString(c.Log.Level, "info")); err == nil && l != log.Level.Level() {
				log.Level.SetLevel(l)
				log.Info("log level set", zap.Stringer("level", l))
			}
		},
		Metrics:    metrics.New(metrics.Build{Version: bi.Version, Commit: bi.Commit}),
		TraceAPDU:  f.traceAPDU,
		StateDir:   dir,
		Simulate:   f.simulate,
		RemoteFake: f.remoteFake,
		Version:    bi.Version,
		Log:        log.Logger,
		Ready:      func(url string) { fmt.Fprintf(stdout, "listening on %s\n", url) },
	}, nil
}

// newCLILogger returns a console logger writing to w at the given level,
// for interactive commands, with the daemon's redaction.
func newCLILogger(w io.Writer, level zapcore.Level) *zap.Logger {
	l, err := logging.New(logging.Options{Level: zap.NewAtomicLevelAt(level), Stderr: w, Format: logging.FormatConsole, Color: logging.ColorNever})
	if err != nil {
		return zap.NewNop()
	}
	return l.Logger
}

// newDaemonLogger returns a logger for a long-running command other than
// the daemon (nfcd fake legitmark, the legitmark commands): console lines
// on a terminal, JSON otherwise, with the daemon's redaction.
func newDaemonLogger(w io.Writer, level string) (*zap.Logger, error) {
	lvl, err := logging.ParseLevel(level)
	if err != nil {
		return nil, usageError("--log-level: %v", err)
	}
	l, err := logging.New(logging.Options{Level: zap.NewAtomicLevelAt(lvl), Stderr: w})
	if err != nil {
		return nil, err
	}
	return l.Logger, nil
}
