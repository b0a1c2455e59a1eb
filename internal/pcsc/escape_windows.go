//go:build cgo || windows

package pcsc

import "github.com/ebfe/scard"

// escapeIoctls lists the escape ioctls to try, in order. On Windows both the
// CCID class driver (with EscapeCommandEnable=1) and vendor drivers use
// IOCTL_CCID_ESCAPE = SCARD_CTL_CODE(3500) (Microsoft's USB CCID class
// driver documentation, "EscapeCommandEnable").
func escapeIoctls() []uint32 { return []uint32{scard.CtlCode(3500)} }
