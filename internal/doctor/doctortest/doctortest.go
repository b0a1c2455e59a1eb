// Package doctortest fakes the machine that package doctor examines.
package doctortest

import (
	"context"
	"io/fs"
	"time"

	"github.com/nfcd/nfcd/internal/doctor"
)

// Probes is a machine described field by field. Its zero value is a
// machine with nothing installed; Healthy returns one where everything is
// in order.
type Probes struct {
	PCSCDState  doctor.PCSCD
	PCSCDErr    error
	SCardSvr    doctor.WindowsService
	SCardSvrErr error
	ReaderNames []string
	ReadersErr  error
	Modules     []string
	USB         []doctor.USBDevice
	Port        doctor.PortState
	PortErr     error
	Configs     map[string]doctor.ConfigInfo // by path; absent means missing
	Dirs        map[string]doctor.DirInfo    // by path; absent means missing
	RemoteTime  time.Time                    // the remote's Date
	LocalTime   time.Time                    // this machine's clock then
	RemoteErr   error
}

// Healthy returns a machine where every check passes: pcscd socket-active,
// SCardSvr running, one reader, the port free, the configuration valid and
// private, the state directory owned by user (if not "") with mode 0700,
// and the clock right.
func Healthy(config, stateDir, user string) *Probes {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return &Probes{
		PCSCDState:  doctor.PCSCD{Installed: true, Systemd: true, SocketActive: true, SocketEnabled: true},
		SCardSvr:    doctor.WindowsService{Exists: true, Running: true, StartType: "demand"},
		ReaderNames: []string{"ACS ACR1252U 00 00"},
		Modules:     []string{"ext4", "usbhid"},
		Configs:     map[string]doctor.ConfigInfo{config: {Exists: true, Mode: 0o640, Listen: doctor.DefaultListen}},
		Dirs:        map[string]doctor.DirInfo{stateDir: {Exists: true, IsDir: true, Mode: fs.ModeDir | 0o700, Owner: user}},
		RemoteTime:  now,
		LocalTime:   now.Add(300 * time.Millisecond),
	}
}

// PCSCD returns PCSCDState.
func (p *Probes) PCSCD(context.Context) (doctor.PCSCD, error) { return p.PCSCDState, p.PCSCDErr }

// SmartCardService returns SCardSvr.
func (p *Probes) SmartCardService(context.Context) (doctor.WindowsService, error) {
	return p.SCardSvr, p.SCardSvrErr
}

// Readers returns ReaderNames.
func (p *Probes) Readers(context.Context) ([]string, error) { return p.ReaderNames, p.ReadersErr }

// KernelModules returns Modules.
func (p *Probes) KernelModules() ([]string, error) { return p.Modules, nil }

// USBDevices returns USB.
func (p *Probes) USBDevices() ([]doctor.USBDevice, error) { return p.USB, nil }

// Listen returns Port.
func (p *Probes) Listen(context.Context, string) (doctor.PortState, error) {
	return p.Port, p.PortErr
}

// Config returns Configs[path].
func (p *Probes) Config(path string) doctor.ConfigInfo { return p.Configs[path] }

// Dir returns Dirs[path].
func (p *Probes) Dir(path string) (doctor.DirInfo, error) {
	return p.Dirs[path], nil
}

// RemoteDate returns RemoteTime and LocalTime.
func (p *Probes) RemoteDate(context.Context, string) (time.Time, time.Time, error) {
	return p.RemoteTime, p.LocalTime, p.RemoteErr
}

var _ doctor.Probes = (*Probes)(nil)
