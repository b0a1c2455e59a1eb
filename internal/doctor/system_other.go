//go:build !linux && !windows

package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
)

// PCSCD is Linux only.
func (s *System) PCSCD(context.Context) (PCSCD, error) {
	return PCSCD{}, fmt.Errorf("doctor: pcscd: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}

// SmartCardService is Windows only.
func (s *System) SmartCardService(context.Context) (WindowsService, error) {
	return WindowsService{}, fmt.Errorf("doctor: SCardSvr: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}

// KernelModules is Linux only.
func (s *System) KernelModules() ([]string, error) { return nil, errors.ErrUnsupported }

// USBDevices is Linux only.
func (s *System) USBDevices() ([]USBDevice, error) { return nil, errors.ErrUnsupported }

func owner(fs.FileInfo) string { return "" }
