package pcsc

import (
	"errors"
	"runtime"
)

// ErrNotBuilt is returned by Open in a build without PC/SC support: on
// Linux and macOS nfcd talks to PC/SC through cgo, so a CGO_ENABLED=0 build
// has everything but the readers (the simulated reader, verify, batch,
// tokens, keys, history). It matches errors.ErrUnsupported.
var ErrNotBuilt error = notBuilt{}

type notBuilt struct{}

func (notBuilt) Error() string {
	return "pcsc: this nfcd was built without PC/SC support (CGO_ENABLED=0); build it with cgo " +
		"and the PC/SC headers (libpcsclite-dev) to use readers, or run the demo with --simulate"
}

// Is makes ErrNotBuilt match errors.ErrUnsupported.
func (notBuilt) Is(target error) bool { return target == errors.ErrUnsupported }

// ServiceHint says, for people, how to start the PC/SC service on this OS.
func ServiceHint() string {
	return serviceHint(runtime.GOOS)
}

func serviceHint(goos string) string {
	switch goos {
	case "windows":
		return `start the Smart Card service: "Start-Service SCardSvr" in an administrator PowerShell (or services.msc → Smart Card → Start)`
	case "darwin":
		return "macOS starts its PC/SC service when a reader is plugged in: reconnect the reader"
	case "linux":
		return "start pcscd: sudo systemctl start pcscd.socket (install it with: sudo apt-get install pcscd)"
	}
	return "start pcscd, the PC/SC service"
}
