package logging

import (
	"github.com/kardianos/service"
)

type nopProgram struct{}

func (nopProgram) Start(service.Service) error { return nil }
func (nopProgram) Stop(service.Service) error  { return nil }

// openEventLog opens the Application event log source that kardianos/service
// registered for the service at install (eventlog.InstallAsEventCreate).
// Under the service manager stderr goes nowhere, so this is where start,
// stop and errors become visible.
func openEventLog(source string) (SystemLogger, error) {
	s, err := service.New(nopProgram{}, &service.Config{Name: source})
	if err != nil {
		return nil, err
	}
	return s.SystemLogger(nil)
}
