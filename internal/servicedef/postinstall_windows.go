package servicedef

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc/mgr"
)

// PostInstall finishes what kardianos/service's install leaves out: the
// whole recovery list (kardianos sets one action) and the flag that applies
// it when the service stops with an error rather than crashing.
func (s *WindowsService) PostInstall() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to service manager: %w", err)
	}
	defer m.Disconnect()
	svc, err := m.OpenService(Name)
	if err != nil {
		return fmt.Errorf("open service %s: %w", Name, err)
	}
	defer svc.Close()
	r := s.Recovery()
	actions := make([]mgr.RecoveryAction, len(r.Actions))
	for i, a := range r.Actions {
		actions[i] = mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: a.Delay}
	}
	if err := svc.SetRecoveryActions(actions, uint32(r.ResetPeriod/time.Second)); err != nil {
		return fmt.Errorf("set recovery actions: %w", err)
	}
	if err := svc.SetRecoveryActionsOnNonCrashFailures(r.OnNonCrashFailures); err != nil {
		return fmt.Errorf("set recovery on non-crash failures: %w", err)
	}
	return nil
}
