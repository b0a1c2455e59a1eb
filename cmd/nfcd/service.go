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
	// The service starts in / (C:\Windows\system32): paths must be absolute.
	for dst, src := range map[*string]string{&o.ConfigFile: rf.configFile, &o.StateDir: rf.stateDir} {
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
		{"status", "print running, stopped or unknown"},
	} {
		c := &command{
			name:     "service " + a.action,
			summary:  a.summary,
			synopsis: "nfcd service " + a.action,
			about:    strings.ToUpper(a.summary[:1]) + a.summary[1:] + ".",
			example:  "nfcd service " + a.action,
			maxArgs:  0,
		}
		var rf runFlags
		if a.action == "install" {
			c.synopsis = "nfcd service install [run flags]"
			c.example = "nfcd service install --config /etc/nfcd/nfcd.toml --state-dir /var/lib/nfcd"
			c.flags = rf.register
		}
		action := a.action
		c.run = func(e *env, _ []string) error { return controlService(e, action, &rf) }
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

func controlService(e *env, action string, rf *runFlags) error {
	def, err := serviceConfig(rf)
	if err != nil {
		return err
	}
	s, err := service.New(&program{}, def.Config())
	if err != nil {
		return err
	}
	if action == "status" {
		st, err := s.Status()
		if err != nil {
			return fmt.Errorf("service status: %w", err)
		}
		names := map[service.Status]string{service.StatusRunning: "running", service.StatusStopped: "stopped"}
		name, ok := names[st]
		if !ok {
			name = "unknown"
		}
		fmt.Fprintln(e.stdout, name)
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
