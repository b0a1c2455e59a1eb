package admin

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// authorize admits root and the daemon's own user, by the peer credentials
// the kernel recorded when the connection was made (SO_PEERCRED). The
// socket's mode already keeps everyone else out; this holds even when the
// state directory's permissions were loosened by hand.
func authorize(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("admin: not a Unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("admin: peer credentials: %w", cerr)
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("admin: peer uid %d (pid %d) is neither root nor the daemon's user", cred.Uid, cred.Pid)
	}
	return nil
}
