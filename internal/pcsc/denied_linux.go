package pcsc

import (
	"errors"
	"net"
	"os"
	"time"
)

// pcscdSocket is where pcsc-lite's daemon listens (PCSCLITE_CSOCK_NAME
// overrides it for clients, as in libpcsclite).
func pcscdSocket() string {
	if s := os.Getenv("PCSCLITE_CSOCK_NAME"); s != "" {
		return s
	}
	return "/run/pcscd/pcscd.comm"
}

// polkitPolicy is installed by pcsc-lite builds that ask polkit.
const polkitPolicy = "/usr/share/polkit-1/actions/org.debian.pcsc-lite.policy"

// Denied reports whether err, an error matching ErrNoService, is most
// likely pcscd refusing this process rather than pcscd being absent.
// pcscd does not say so to the client: when polkit denies access_pcsc it
// logs "Rejected unauthorized PC/SC client" and closes the connection, and
// the client sees the service as gone (pcsc-lite src/winscard_svc.c,
// ContextThread). So the answer is inferred: pcscd's socket accepts
// connections, this pcscd asks polkit, and the process is not root (which
// polkit always admits).
func Denied(err error) bool {
	if !errors.Is(err, ErrNoService) || os.Geteuid() == 0 {
		return false
	}
	if _, err := os.Stat(polkitPolicy); err != nil {
		return false
	}
	c, derr := net.DialTimeout("unix", pcscdSocket(), 200*time.Millisecond)
	if derr != nil {
		return false
	}
	c.Close()
	return true
}
