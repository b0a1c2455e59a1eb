package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/nfcd/nfcd/internal/daemon"
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

// serviceConfig describes the nfcd system service. On Debian pcscd is
// socket-activated, so the unit wants its socket; restarts are quick
// because a kiosk without its daemon is a dead kiosk (the library default is
// two minutes).
func serviceConfig(args []string) *service.Config {
	return &service.Config{
		Name:        "nfcd",
		DisplayName: "nfcd NFC daemon",
		Description: "Reads NTAG 424 DNA tags, verifies SUN messages and serves verdicts to local UIs.",
		Arguments:   append([]string{"run"}, args...),
		Dependencies: []string{
			"Wants=pcscd.socket",
			"After=pcscd.socket network.target",
		},
		Option: service.KeyValue{
			"Restart":           "always",
			"RestartSec":        2,
			"SuccessExitStatus": "0",
		},
	}
}

func runService(opts daemon.Options) error {
	s, err := service.New(&program{opts: opts}, serviceConfig(os.Args[2:]))
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
		var args []string
		if a.action == "install" {
			c.synopsis = "nfcd service install [run flags]"
			c.example = "nfcd service install --config /etc/nfcd/nfcd.toml --state-dir /var/lib/nfcd"
			c.flags = func(fs *flag.FlagSet) {
				rf.register(fs)
				args = nil
			}
		}
		action := a.action
		c.run = func(e *env, _ []string) error {
			if action == "install" {
				args = runArgs(&rf)
			}
			return controlService(e, action, args)
		}
		serviceCmd.subs = append(serviceCmd.subs, c)
	}
}

// runArgs turns the run flags given to `service install` back into the
// arguments the service passes to `nfcd run`.
func runArgs(rf *runFlags) []string {
	var args []string
	add := func(name, v string) {
		if v != "" {
			args = append(args, "--"+name, v)
		}
	}
	add("config", rf.configFile)
	add("state-dir", rf.stateDir)
	add("listen", rf.listen)
	if rf.simulate {
		args = append(args, "--simulate")
	}
	if rf.logLevel != "info" {
		add("log-level", rf.logLevel)
	}
	return args
}

func controlService(e *env, action string, runArgs []string) error {
	s, err := service.New(&program{}, serviceConfig(runArgs))
	if err != nil {
		return err
	}
	switch action {
	case "status":
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
	fmt.Fprintf(e.stdout, "nfcd service: %s done\n", action)
	return nil
}

var versionCmd = &command{
	name:     "version",
	summary:  "print the version",
	synopsis: "nfcd version [--json]",
	about:    "Prints the version of this nfcd.",
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
			return writeJSON(e.stdout, map[string]string{"version": buildVersion(), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH})
		}
		fmt.Fprintln(e.stdout, "nfcd", buildVersion())
		return nil
	}
}
