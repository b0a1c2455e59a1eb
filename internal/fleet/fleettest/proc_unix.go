//go:build unix && !linux

package fleettest

import "syscall"

// supported reports whether this package can run servers here.
const supported = true

// procAttr runs a command as a (when not nil). There is no parent-death
// signal outside Linux: a test process killed before Main stops the
// server leaves it running.
func procAttr(a *account, dieWithParent bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
	}
	return attr
}
