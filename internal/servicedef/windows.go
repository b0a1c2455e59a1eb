package servicedef

import (
	"fmt"
	"strings"
	"time"

	"github.com/kardianos/service"
)

// SmartCardService is the Windows Smart Card service (SCardSvr), the PC/SC
// resource manager. nfcd depends on it so that the service manager starts it
// before nfcd: it is start=demand and trigger-started by reader arrival, so
// without the dependency a machine booted with no reader attached has no
// PC/SC service at all (SCARD_E_NO_SERVICE). It can still stop when the last
// reader is removed; the daemon then waits for it with backoff (platform
// notes §3.6). A disabled SCardSvr keeps nfcd from starting (error 1068),
// which `nfcd doctor` reports.
const SmartCardService = "SCardSvr"

// RecoveryAction is one entry of a Windows service's failure actions: what
// the service manager does after the Nth failure (the last entry repeats).
type RecoveryAction struct {
	Action string // "restart"
	Delay  time.Duration
}

// Recovery is a Windows service's failure handling (SERVICE_FAILURE_ACTIONS
// and SERVICE_FAILURE_ACTIONS_FLAG).
type Recovery struct {
	Actions []RecoveryAction
	// ResetPeriod is how long the service must run without failing before
	// the failure count starts again at the first action.
	ResetPeriod time.Duration
	// OnNonCrashFailures applies the actions also when the service stops
	// itself with an error exit code, not only when the process dies. Without
	// it a daemon that returns an error from Run is never restarted.
	OnNonCrashFailures bool
}

// WindowsService is nfcd's entry in the Windows service manager.
type WindowsService struct {
	opts  Options
	paths Paths
	args  []string
}

// Windows returns the Windows service for o. The executable must be an
// absolute Windows path and User must be empty (LocalSystem).
func Windows(o Options) (*WindowsService, error) {
	if err := checkExecutable(o.Executable, isAbsWindows); err != nil {
		return nil, err
	}
	if o.User != "" {
		return nil, fmt.Errorf("%w: the Windows service runs as LocalSystem, not %q", ErrInvalid, o.User)
	}
	pd := o.ProgramData
	if pd == "" {
		pd = `C:\ProgramData`
	}
	p := WindowsPaths(pd)
	if o.StateDir != "" {
		if !isAbsWindows(o.StateDir) {
			return nil, fmt.Errorf("%w: state directory %q is not an absolute path", ErrInvalid, o.StateDir)
		}
		p.StateDir = strings.TrimRight(o.StateDir, `\/`)
	}
	if o.ConfigFile != "" {
		if !isAbsWindows(o.ConfigFile) {
			return nil, fmt.Errorf("%w: configuration file %q is not an absolute path", ErrInvalid, o.ConfigFile)
		}
		p.Config = o.ConfigFile
	}
	return &WindowsService{opts: o, paths: p, args: runArgs(o, p)}, nil
}

// Paths returns the files the service uses.
func (s *WindowsService) Paths() Paths { return s.paths }

// Args returns the command line after the executable.
func (s *WindowsService) Args() []string { return append([]string(nil), s.args...) }

// Dependencies returns the services nfcd depends on, by service name.
func (s *WindowsService) Dependencies() []string { return []string{SmartCardService} }

// EventSource is the Application event log source: kardianos/service
// registers it under the service name at install and opens it as the
// service's SystemLogger.
func (s *WindowsService) EventSource() string { return Name }

// Recovery returns the failure actions: restart after 2 s, 5 s, then every
// 30 s, counting failures afresh after a day without one.
func (s *WindowsService) Recovery() Recovery {
	return Recovery{
		Actions: []RecoveryAction{
			{Action: "restart", Delay: 2 * time.Second},
			{Action: "restart", Delay: 5 * time.Second},
			{Action: "restart", Delay: 30 * time.Second},
		},
		ResetPeriod:        24 * time.Hour,
		OnNonCrashFailures: true,
	}
}

// Config returns the kardianos/service configuration. kardianos sets a
// single restart action at install; PostInstall replaces it with Recovery.
func (s *WindowsService) Config() *service.Config {
	r := s.Recovery()
	return &service.Config{
		Name:         Name,
		DisplayName:  DisplayName,
		Description:  Description,
		Executable:   s.opts.Executable,
		Arguments:    s.Args(),
		Dependencies: s.Dependencies(),
		Option: service.KeyValue{
			"StartType":              "automatic",
			"OnFailure":              "restart",
			"OnFailureDelayDuration": r.Actions[0].Delay.String(),
			"OnFailureResetPeriod":   int(r.ResetPeriod / time.Second),
		},
	}
}
