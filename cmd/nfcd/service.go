package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	s, err := service.New(&program{}, serviceConfig(rest))
	if err != nil {
		return err
	}
	switch action {
	case "install", "uninstall", "start", "stop", "restart":
		if err := service.Control(s, action); err != nil {
			return fmt.Errorf("service %s: %w", action, err)
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
