package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/nfcd/nfcd/internal/buildinfo"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/servicedef"
)

// program adapts the daemon to kardianos/service: Start launches Run in a
// goroutine and returns at once; Stop cancels it and waits a bounded time.
type program struct {
	opts   daemon.Options
	cancel context.CancelFunc
	done   chan error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- daemon.Run(ctx, p.opts) }()
	return nil
}

func (p *program) Stop(service.Service) error {
	p.cancel()
	select {
	case err := <-p.done:
		return err
	case <-time.After(daemon.ShutdownTimeout + time.Second):
		return errors.New("nfcd: shutdown timed out")
	}
}

// serviceConfig describes the nfcd system service on this platform
// (internal/servicedef). The run flags given to `service install` go into
// the unit or service entry as `nfcd run` flags.
func serviceConfig(rf *runFlags) (servicedef.Definition, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	o := servicedef.Options{Executable: exe}
	// Without --config the service reads the platform's configuration file
	// (/etc/nfcd/nfcd.toml, %ProgramData%\nfcd\nfcd.toml), which may be
	// missing: nfcd run then uses the defaults until it is written.
	configFile := rf.configFile
	if configFile == "" {
		configFile = defaultConfigPath()
	}
	// The service starts in / (C:\Windows\system32): paths must be absolute.
	for dst, src := range map[*string]string{&o.ConfigFile: configFile, &o.StateDir: rf.stateDir} {
		if src != "" {
			if *dst, err = filepath.Abs(src); err != nil {
				return nil, err
			}
		}
	}
	if runtime.GOOS == "linux" {
		o.User = servicedef.LinuxUser()
	}
	if o.ExtraArgs, err = rf.extraArgs(); err != nil {
		return nil, err
	}
	return servicedef.For(runtime.GOOS, o)
}

func runService(opts daemon.Options) error {
	s, err := service.New(&program{opts: opts}, &service.Config{Name: servicedef.Name})
	if err != nil {
		return err
	}
	return s.Run()
}

var serviceCmd = &command{
	name:     "service",
	summary:  "install and control nfcd as a system service",
	synopsis: "nfcd service install|uninstall|start|stop|restart|status [flags]",
	about: `Manages nfcd as a system service (systemd on Linux, the service manager on
Windows).`,
	example: "nfcd service install --config /etc/nfcd/nfcd.toml",
}

func init() {
	for _, a := range []struct{ action, summary string }{
		{"install", `install the service; its run flags are passed to "nfcd run"`},
		{"uninstall", "remove the service"},
		{"start", "start the service"},
		{"stop", "stop the service"},
		{"restart", "restart the service"},
		{"status", "print running, stopped, not installed or unknown"},
	} {
		c := &command{
			name:     "service " + a.action,
			summary:  a.summary,
			synopsis: "nfcd service " + a.action,
			about:    strings.ToUpper(a.summary[:1]) + a.summary[1:] + ".",
			example:  "nfcd service " + a.action,
			maxArgs:  0,
		}
		var (
			rf     runFlags
			asJSON bool
		)
		switch a.action {
		case "install":
			c.synopsis = "nfcd service install [run flags]"
			c.about = `Installs the service; its run flags are passed to "nfcd run". Without
--config the service reads the platform's configuration file
(/etc/nfcd/nfcd.toml; %ProgramData%\nfcd\nfcd.toml on Windows), and runs on
the defaults while there is none.`
			c.example = "nfcd service install --config /etc/nfcd/nfcd.toml --state-dir /var/lib/nfcd"
			c.flags = rf.register
		case "status":
			c.synopsis = "nfcd service status [--json]"
			c.about = `Prints the state of the nfcd service: running, stopped, not installed or
unknown. With --json: {"service":"nfcd","status":"running"}, the status
one of running, stopped, not_installed, unknown.`
			c.example = "nfcd service status --json"
			c.flags = func(fs *flag.FlagSet) {
				fs.BoolVar(&asJSON, "json", false, "print a JSON object")
			}
		}
		action := a.action
		c.run = func(e *env, _ []string) error { return controlService(e, action, &rf, asJSON) }
		serviceCmd.subs = append(serviceCmd.subs, c)
	}
}

// extraArgs are the run flags other than --config and --state-dir, as the
// service passes them to `nfcd run`. A log file path is made absolute: the
// service starts in / (C:\Windows\system32).
func (rf *runFlags) extraArgs() ([]string, error) {
	var args []string
	str := func(name, v string) {
		if v != "" {
			args = append(args, "--"+name+"="+v)
		}
	}
	num := func(name string, v int) {
		if v != 0 {
			args = append(args, fmt.Sprintf("--%s=%d", name, v))
		}
	}
	boolFlag := func(name string, v bool) {
		if v {
			args = append(args, "--"+name)
		}
	}
	str("listen", rf.listen)
	boolFlag("simulate", rf.simulate)
	boolFlag("remote-fake", rf.remoteFake)
	boolFlag("trace-apdu", rf.traceAPDU)
	str("log-level", rf.logLevel)
	str("log-format", rf.logFormat)
	if rf.logFile != "" {
		abs, err := filepath.Abs(rf.logFile)
		if err != nil {
			return nil, err
		}
		str("log-file", abs)
	}
	num("log-max-size", rf.logMaxSize)
	num("log-max-backups", rf.logMaxBackups)
	num("log-max-age", rf.logMaxAge)
	boolFlag("log-uids", rf.logUIDs)
	return args, nil
}

func controlService(e *env, action string, rf *runFlags, asJSON bool) error {
	if err := checkInitSystem(runtime.GOOS, service.ChosenSystem()); err != nil {
		return err
	}
	def, err := serviceConfig(rf)
	if err != nil {
		return err
	}
	s, err := service.New(&program{}, def.Config())
	if err != nil {
		return err
	}
	if action == "status" {
		st, err := statusName(s.Status())
		if err != nil {
			return fmt.Errorf("service status: %w", err)
		}
		if asJSON {
			return writeJSON(e.stdout, map[string]string{"service": servicedef.Name, "status": st})
		}
		fmt.Fprintln(e.stdout, strings.ReplaceAll(st, "_", " "))
		return nil
	}
	if err := service.Control(s, action); err != nil {
		return fmt.Errorf("service %s: %w", action, err)
	}
	if action == "install" {
		if err := def.PostInstall(); err != nil {
			return fmt.Errorf("service install: %w", err)
		}
	}
	fmt.Fprintf(e.stdout, "nfcd service: %s done\n", action)
	return nil
}

// statusName names the service state that kardianos/service reports: the
// --json status of `nfcd service status` (running, stopped, not_installed,
// unknown), or the error when the service manager could not say.
func statusName(st service.Status, err error) (string, error) {
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not_installed", nil
	case err != nil:
		return "", err
	case st == service.StatusRunning:
		return "running", nil
	case st == service.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// checkInitSystem refuses to manage the service on a Linux machine that
// does not run systemd: kardianos/service would otherwise fall back to a
// System V init script that has none of the unit's settings (user,
// restart, pcscd ordering), and status would fail with a bare "exit
// status 1".
func checkInitSystem(goos string, sys service.System) error {
	if goos != "linux" || sys == nil || sys.String() == "linux-systemd" {
		return nil
	}
	return fmt.Errorf("service: this machine does not run systemd (found %s); the nfcd service is a systemd unit (docs/service.md). Start \"nfcd run\" from your init system instead", sys.String())
}

var versionCmd = &command{
	name:     "version",
	summary:  "print the version",
	synopsis: "nfcd version [--json]",
	about:    "Prints the version of this nfcd: version, commit, commit date and Go version.",
	example:  "nfcd version --json",
	maxArgs:  0,
}

func init() {
	var asJSON bool
	versionCmd.flags = func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print a JSON object")
	}
	versionCmd.run = func(e *env, _ []string) error {
		if asJSON {
			bi := buildinfo.Get()
			return writeJSON(e.stdout, map[string]string{"version": bi.Version, "commit": bi.Commit, "date": bi.Date, "go": bi.GoVersion, "os": runtime.GOOS, "arch": runtime.GOARCH})
		}
		fmt.Fprintln(e.stdout, "nfcd", buildinfo.Get())
		return nil
	}
}
