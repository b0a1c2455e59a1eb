package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kardianos/service"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/buildinfo"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/statedir"
)

var runCmd = &command{
	name:     "run",
	summary:  "run the daemon: readers → verdicts → WebSocket API and kiosk page",
	synopsis: "nfcd run [--config FILE] [--state-dir DIR] [--listen 127.0.0.1:PORT] [--simulate [--remote-fake]] [--log-level LEVEL]",
	about: `Runs the daemon: reads tags from every PC/SC reader (or, with --simulate, from
a simulated reader with virtual tags), verifies them, and serves verdicts
over the local WebSocket API and the kiosk page. When ready it prints
  listening on http://127.0.0.1:PORT/
With --simulate --remote-fake the simulated tags are also known to an
in-process fake of the Legitimate tag API, and every tap is confirmed by it
(remote verification, no network needed).`,
	example: "nfcd run --simulate",
}

func init() {
	var rf runFlags
	runCmd.flags = rf.register
	runCmd.run = func(e *env, _ []string) error {
		log, err := newDaemonLogger(e.stderr, rf.logLevel)
		if err != nil {
			return err
		}
		defer log.Sync()
		opts, err := rf.options(e.stdout, log)
		if err != nil {
			return err
		}
		if !service.Interactive() {
			// Started by systemd or the Windows service manager.
			return runService(opts)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return daemon.Run(ctx, opts)
	}
}

// runFlags are shared by run and the service commands.
type runFlags struct {
	configFile string
	stateDir   string
	listen     string
	simulate   bool
	remoteFake bool
	logLevel   string
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "configuration `file` (TOML)")
	fs.StringVar(&f.stateDir, "state-dir", "", "state `directory` (counters, audit log, keys, tokens; default per OS)")
	fs.StringVar(&f.listen, "listen", "", "listen `address` (default 127.0.0.1:7424)")
	fs.BoolVar(&f.simulate, "simulate", false, "use a simulated reader with virtual tags instead of PC/SC")
	fs.BoolVar(&f.remoteFake, "remote-fake", false, "with --simulate: verify the simulated tags remotely too, with an in-process fake Legitimate service")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
}

// stateDir returns the state directory: the flag, or the default per OS.
func stateDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return statedir.Default()
}

// options builds the daemon options from the flags.
func (f *runFlags) options(stdout io.Writer, log *zap.Logger) (daemon.Options, error) {
	if f.remoteFake && !f.simulate {
		return daemon.Options{}, usageError("--remote-fake needs --simulate")
	}
	cfg := config.Default()
	if f.configFile != "" {
		var err error
		if cfg, err = config.Load(f.configFile); err != nil {
			return daemon.Options{}, err
		}
	}
	if f.listen != "" {
		cfg.Listen = f.listen
		if err := cfg.Validate(); err != nil {
			return daemon.Options{}, err
		}
	}
	dir, err := stateDir(f.stateDir)
	if err != nil {
		return daemon.Options{}, err
	}
	return daemon.Options{
		Config:     cfg,
		ConfigFile: f.configFile,
		StateDir:   dir,
		Simulate:   f.simulate,
		RemoteFake: f.remoteFake,
		Version:    buildinfo.Get().Version,
		Log:        log,
		Ready:      func(url string) { fmt.Fprintf(stdout, "listening on %s\n", url) },
	}, nil
}

func newDaemonLogger(w io.Writer, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usageError("--log-level: %v", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}
