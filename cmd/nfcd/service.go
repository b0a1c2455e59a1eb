package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/kardianos/service"

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
// (internal/servicedef). The run flags set after the action go into the
// unit or service entry as `nfcd run` flags.
func serviceConfig(fs *flag.FlagSet, rf *runFlags) (servicedef.Definition, error) {
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
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" && f.Name != "state-dir" {
			o.ExtraArgs = append(o.ExtraArgs, "--"+f.Name+"="+f.Value.String())
		}
	})
	return servicedef.For(runtime.GOOS, o)
}

func runService(opts daemon.Options) error {
	s, err := service.New(&program{opts: opts}, &service.Config{Name: servicedef.Name})
	if err != nil {
		return err
	}
	return s.Run()
}

const serviceUsage = `Usage: nfcd service install|uninstall|start|stop|status [run flags]

Manages nfcd as a system service (systemd on Linux, the service manager on
Windows). Flags after the action are passed to "nfcd run" by the service.
`

func runServiceCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, serviceUsage)
		return errUsage
	}
	action, rest := args[0], args[1:]
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf runFlags
	rf.register(fs)
	if err := fs.Parse(rest); err != nil {
		return errUsage
	}
	def, err := serviceConfig(fs, &rf)
	if err != nil {
		return err
	}
	s, err := service.New(&program{}, def.Config())
	if err != nil {
		return err
	}
	switch action {
	case "install", "uninstall", "start", "stop", "restart":
		if err := service.Control(s, action); err != nil {
			return fmt.Errorf("service %s: %w", action, err)
		}
		if action == "install" {
			if err := def.PostInstall(); err != nil {
				return fmt.Errorf("service install: %w", err)
			}
		}
		fmt.Fprintf(stdout, "nfcd service: %s done\n", action)
		return nil
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
		fmt.Fprintln(stdout, name)
		return nil
	}
	fmt.Fprint(stderr, serviceUsage)
	return errUsage
}
