package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// PCSCD is Linux only.
func (s *System) PCSCD(context.Context) (PCSCD, error) {
	return PCSCD{}, fmt.Errorf("doctor: pcscd: %w on %s", errors.ErrUnsupported, runtime.GOOS)
}

// SmartCardService queries SCardSvr with query rights only, so that it
// works without administrator rights (mgr.Connect asks for full access).
func (s *System) SmartCardService(context.Context) (WindowsService, error) {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return WindowsService{}, fmt.Errorf("open service manager: %w", err)
	}
	defer windows.CloseServiceHandle(m)
	name, _ := windows.UTF16PtrFromString("SCardSvr")
	h, err := windows.OpenService(m, name, windows.SERVICE_QUERY_STATUS|windows.SERVICE_QUERY_CONFIG)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return WindowsService{}, nil
	}
	if err != nil {
		return WindowsService{}, fmt.Errorf("open SCardSvr: %w", err)
	}
	svcH := &mgr.Service{Name: "SCardSvr", Handle: h}
	defer svcH.Close()
	st, err := svcH.Query()
	if err != nil {
		return WindowsService{}, fmt.Errorf("query SCardSvr: %w", err)
	}
	cfg, err := svcH.Config()
	if err != nil {
		return WindowsService{}, fmt.Errorf("query SCardSvr configuration: %w", err)
	}
	ws := WindowsService{Exists: true, Running: st.State == svc.Running}
	switch cfg.StartType {
	case mgr.StartAutomatic:
		ws.StartType = "auto"
	case mgr.StartManual:
		ws.StartType = "demand"
	case mgr.StartDisabled:
		ws.StartType = "disabled"
	}
	return ws, nil
}

// KernelModules is Linux only.
func (s *System) KernelModules() ([]string, error) { return nil, errors.ErrUnsupported }

// USBDevices is Linux only.
func (s *System) USBDevices() ([]USBDevice, error) { return nil, errors.ErrUnsupported }

// owner is unknown on Windows: access is by ACL.
func owner(fs.FileInfo) string { return "" }
