package vpcd

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// setQuickAck turns on TCP_QUICKACK, which Linux clears again after it has
// sent an ACK, so it is set before every read (tcp(7), TCP_QUICKACK: "not permanent").
// Failure only costs latency, so it is ignored.
func setQuickAck(rc syscall.RawConn) {
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
