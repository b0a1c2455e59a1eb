package main

import (
	"errors"
	"flag"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/kardianos/service"
)

// TestServiceInstallDefaultConfig: a service installed without --config
// reads the platform's configuration file (issue: the unit gets
// /etc/nfcd/nfcd.toml), which nfcd run treats as optional.
func TestServiceInstallDefaultConfig(t *testing.T) {
	want := defaultConfigPath()
	if want == "" {
		t.Skipf("no service configuration path on %s", runtime.GOOS)
	}
	def, err := serviceConfig(&runFlags{})
	if err != nil {
		t.Fatal(err)
	}
	args := def.Config().Arguments
	i := slices.Index(args, "--config")
	if i < 0 || i+1 >= len(args) || args[i+1] != want {
		t.Errorf("service arguments %q, want --config %s", args, want)
	}
	rf := &runFlags{configFile: want}
	if !rf.configOptional() {
		t.Errorf("--config %s is not optional: a service installed without a configuration would not start", want)
	}
	def, err = serviceConfig(&runFlags{configFile: "/srv/nfcd.toml"})
	if err != nil {
		t.Fatal(err)
	}
	if args := def.Config().Arguments; !slices.Contains(args, "/srv/nfcd.toml") || slices.Contains(args, want) {
		t.Errorf("with --config /srv/nfcd.toml: arguments %q", args)
	}
}

func TestServiceStatusName(t *testing.T) {
	other := errors.New("exit status 1")
	for _, tc := range []struct {
		st      service.Status
		err     error
		want    string
		wantErr error
	}{
		{service.StatusRunning, nil, "running", nil},
		{service.StatusStopped, nil, "stopped", nil},
		{service.StatusUnknown, nil, "unknown", nil},
		{service.StatusUnknown, service.ErrNotInstalled, "not_installed", nil},
		{service.StatusUnknown, other, "", other},
	} {
		got, err := statusName(tc.st, tc.err)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("statusName(%v, %v) = %q, %v; want %q, %v", tc.st, tc.err, got, err, tc.want, tc.wantErr)
		}
	}
}

type fakeSystem struct{ name string }

func (f fakeSystem) String() string                                                { return f.name }
func (fakeSystem) Detect() bool                                                    { return true }
func (fakeSystem) Interactive() bool                                               { return true }
func (fakeSystem) New(service.Interface, *service.Config) (service.Service, error) { return nil, nil }

// TestServiceNeedsSystemd: on a Linux machine without systemd the service
// commands refuse with the reason instead of installing a System V script
// that has none of the unit's settings.
func TestServiceNeedsSystemd(t *testing.T) {
	err := checkInitSystem("linux", fakeSystem{"unix-systemv"})
	if err == nil || !strings.Contains(err.Error(), "systemd") || !strings.Contains(err.Error(), "unix-systemv") {
		t.Errorf("linux without systemd: %v, want a refusal naming systemd and the init found", err)
	}
	if err := checkInitSystem("linux", fakeSystem{"linux-systemd"}); err != nil {
		t.Errorf("linux with systemd: %v", err)
	}
	if err := checkInitSystem("windows", fakeSystem{"windows-service"}); err != nil {
		t.Errorf("windows: %v", err)
	}
}

// TestDataCommandsTakeJSON: every command that prints data takes --json.
func TestDataCommandsTakeJSON(t *testing.T) {
	for _, name := range []string{
		"readers", "watch", "tag inspect", "tag provision", "tag reset", "token create", "token list",
		"key show", "history", "version", "service status", "remote verify", "outbox list", "outbox drop",
		"config check", "config reload", "doctor", "verify",
	} {
		var c *command
		for _, x := range allCommands(root) {
			if x.name == name {
				c = x
			}
		}
		if c == nil {
			t.Errorf("no command %q", name)
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
		if fs.Lookup("json") == nil {
			t.Errorf("nfcd %s prints data but takes no --json", name)
		}
	}
}
