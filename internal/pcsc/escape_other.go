//go:build cgo && !windows

package pcsc

import "github.com/ebfe/scard"

// escapeIoctls lists the escape ioctls to try, in order: SCARD_CTL_CODE(3500)
// for vendor drivers such as ACS's acsccid, then libccid's
// IOCTL_SMARTCARD_VENDOR_IFD_EXCHANGE = SCARD_CTL_CODE(1), which it accepts
// only when ifdDriverOptions has bit 0x0001 set (CCID src/ccid_ifdhandler.h
// and SCARDCONTROL.md).
func escapeIoctls() []uint32 { return []uint32{scard.CtlCode(3500), scard.CtlCode(1)} }
