//go:build !windows

package servicedef

import (
	"errors"
	"fmt"
	"runtime"
)

// PostInstall sets the recovery actions of the installed Windows service;
// it needs the Windows service manager.
func (s *WindowsService) PostInstall() error {
	return fmt.Errorf("servicedef: post-install: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}
