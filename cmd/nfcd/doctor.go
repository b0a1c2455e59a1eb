package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/nfcd/nfcd/internal/doctor"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/servicedef"
)

var doctorCmd = &command{
	name:     "doctor",
	summary:  "explain what keeps nfcd from working here, and how to fix it",
	synopsis: "nfcd doctor [--config FILE] [--state-dir DIR] [--listen ADDR] [--json]",
	about: `Examines this machine for what nfcd needs and prints each finding with its
fix, worst first: the PC/SC service (pcscd, its socket and polkit rules;
SCardSvr on Windows), the readers, kernel drivers that take readers away, the
listen port, the configuration, the state directory and what browsers allow.
Exits 1 when a finding is an error. --json prints one document:
  {"findings":[{"id","severity","message","fix"}]}`,
	example: "nfcd doctor --json   # as root, or as the service account, to see what it sees",
	maxArgs: 0,
}

func init() {
	var cfgFile, dir, listen string
	var asJSON bool
	doctorCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&cfgFile, "config", "", "configuration `file` (default: the service's, when it exists)")
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default: the service's)")
		fs.StringVar(&listen, "listen", "", "listen `address` to check (default: the configuration's)")
		fs.BoolVar(&asJSON, "json", false, "print one JSON document")
	}
	doctorCmd.run = func(e *env, _ []string) error {
		o := doctor.Options{GOOS: runtime.GOOS, ConfigFile: cfgFile, StateDir: dir, Listen: listen}
		if o.ConfigFile == "" {
			if p := defaultConfigPath(); p != "" {
				if _, err := os.Stat(p); err == nil {
					o.ConfigFile = p
				}
			}
		}
		if o.StateDir == "" {
			o.StateDir = serviceStateDir()
		}
		if runtime.GOOS == "linux" {
			o.ServiceUser = servicedef.LinuxUser()
		}
		rep := doctor.Run(context.Background(), &doctor.System{ListReaders: doctorReaders}, o)
		var err error
		if asJSON {
			err = rep.WriteJSON(e.stdout)
		} else {
			err = rep.WriteText(e.stdout)
		}
		if err != nil {
			return err
		}
		if rep.Worst() == doctor.Error {
			return errInvalid
		}
		return nil
	}
}

// serviceStateDir is the packaged service's state directory on this OS.
func serviceStateDir() string {
	switch runtime.GOOS {
	case "linux":
		return servicedef.LinuxPaths().StateDir
	case "windows":
		if pd := os.Getenv("ProgramData"); pd != "" {
			return servicedef.WindowsPaths(pd).StateDir
		}
	}
	d, _ := stateDir("")
	return d
}

// doctorReaders lists the PC/SC readers with the errors doctor's advice
// branches on.
func doctorReaders(ctx context.Context) ([]string, error) {
	names, err := pcsc.ListReaders(ctx)
	switch {
	case err == nil:
		return names, nil
	case pcsc.Denied(err):
		return nil, fmt.Errorf("%w: %v", doctor.ErrDenied, err)
	case errors.Is(err, pcsc.ErrNoService):
		return nil, fmt.Errorf("%w: %v", doctor.ErrNoService, err)
	}
	return nil, err
}
