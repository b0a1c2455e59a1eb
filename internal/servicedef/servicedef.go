// Package servicedef defines nfcd as a system service, separately for each
// platform: the systemd unit on Linux and the service-manager entry on
// Windows, in the form github.com/kardianos/service installs.
//
// The two platforms share nothing but the name. kardianos/service takes one
// Config for every platform, and its systemd template hard-codes
// RestartSec=120 and copies Config.Dependencies into the unit verbatim, while
// on Windows the same Dependencies are service names: a Linux line such as
// "Wants=pcscd.socket" makes the Windows service fail to start (error 1075).
// So Linux gets a unit rendered here and handed to kardianos whole (Option
// "SystemdScript"), and Windows gets its own dependency list (SCardSvr),
// recovery actions and ProgramData paths (platform notes §4).
package servicedef

import (
	"errors"
	"fmt"
	"os/user"
	"strings"

	"github.com/kardianos/service"
)

// The service's identity on every platform. Name is also the Windows Event
// Log source that kardianos/service registers at install.
const (
	Name        = "nfcd"
	DisplayName = "nfcd NFC daemon"
	Description = "Reads NTAG 424 DNA tags, verifies SUN messages and serves verdicts to local UIs."
)

// User is the unprivileged Linux account the packaged service runs as (the
// .deb creates it with systemd-sysusers). pcscd must let it use the readers:
// see PolkitRule.
const User = "nfcd"

// Paths are where the service keeps its files on one platform.
type Paths struct {
	Config   string // the configuration file
	StateDir string // counters, audit log, keys, tokens
	LogDir   string // rotated log files; "" on Linux, where stderr goes to the journal
}

// LinuxPaths are the packaged service's paths on Linux: systemd's
// ConfigurationDirectory=nfcd and StateDirectory=nfcd.
func LinuxPaths() Paths {
	return Paths{Config: "/etc/nfcd/nfcd.toml", StateDir: "/var/lib/nfcd"}
}

// WindowsPaths are the service's paths on Windows under programData, the
// value of %ProgramData% (usually C:\ProgramData): the machine-wide data
// directory that a LocalSystem service can write. They are built with
// Windows separators on every OS, so that tests can check them anywhere.
func WindowsPaths(programData string) Paths {
	base := strings.TrimRight(programData, `\/`) + `\nfcd`
	return Paths{Config: base + `\nfcd.toml`, StateDir: base, LogDir: base + `\logs`}
}

// Options says how to run nfcd under the service manager.
type Options struct {
	// Executable is the absolute path of the nfcd binary (os.Executable at
	// install time; /usr/bin/nfcd in the .deb).
	Executable string
	// ConfigFile is passed as --config; "" runs without a configuration
	// file (the daemon's defaults).
	ConfigFile string
	// StateDir is passed as --state-dir; "" means the platform's default
	// (LinuxPaths, WindowsPaths). It is always passed: under User= the
	// daemon's own per-user default would be the account's home.
	StateDir string
	// User is the Linux account; "" runs as root. Windows services run as
	// LocalSystem (PC/SC from a service needs it, platform notes §3.6), so
	// it must be "" there.
	User string
	// ExtraArgs are more `nfcd run` flags, passed after the ones above.
	ExtraArgs []string
	// ProgramData is %ProgramData% for the Windows paths; "" means
	// C:\ProgramData.
	ProgramData string
}

// ErrInvalid wraps every error about Options.
var ErrInvalid = errors.New("servicedef: invalid options")

// Definition is the service on one platform.
type Definition interface {
	// Config is what kardianos/service installs.
	Config() *service.Config
	// PostInstall finishes the installation after service.Control(s,
	// "install") has succeeded, on the machine being installed.
	PostInstall() error
}

// For returns the service definition for goos ("linux" or "windows"; other
// systems get ErrUnsupported).
func For(goos string, o Options) (Definition, error) {
	var (
		d   Definition
		err error
	)
	switch goos {
	case "linux":
		d, err = Linux(o)
	case "windows":
		d, err = Windows(o)
	default:
		err = fmt.Errorf("servicedef: %w on %s", errors.ErrUnsupported, goos)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// LinuxUser returns User when that account exists on this machine (the .deb
// creates it), and otherwise "", which runs the service as root.
func LinuxUser() string {
	if _, err := user.Lookup(User); err != nil {
		return ""
	}
	return User
}

// runArgs is the command line after the executable: run, then the paths
// (p is the platform's, with the options' state directory applied), then the
// extra flags.
func runArgs(o Options, p Paths) []string {
	args := []string{"run"}
	if o.ConfigFile != "" {
		args = append(args, "--config", o.ConfigFile)
	}
	args = append(args, "--state-dir", p.StateDir)
	return append(args, o.ExtraArgs...)
}

func checkExecutable(path string, abs func(string) bool) error {
	if path == "" {
		return fmt.Errorf("%w: no executable", ErrInvalid)
	}
	if !abs(path) {
		return fmt.Errorf("%w: executable %q is not an absolute path", ErrInvalid, path)
	}
	return nil
}

// isAbsUnix reports whether p is absolute in the Linux sense, whatever OS
// runs the test or the packaging.
func isAbsUnix(p string) bool { return strings.HasPrefix(p, "/") }

// isAbsWindows reports whether p is an absolute Windows path (C:\… or a
// UNC path), on any OS.
func isAbsWindows(p string) bool {
	if strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		('a' <= p[0]|0x20 && p[0]|0x20 <= 'z')
}
