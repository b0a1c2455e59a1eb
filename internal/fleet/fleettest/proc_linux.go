package fleettest

import "syscall"

// supported reports whether this package can run servers here.
const supported = true

// procAttr runs a command as a (when not nil). With dieWithParent the
// command gets SIGQUIT, PostgreSQL's immediate shutdown, when the test
// process dies. Go sets the parent-death signal after switching the user,
// so it survives the switch (prctl(2): PR_SET_PDEATHSIG is cleared by a
// credential change made before it).
func procAttr(a *account, dieWithParent bool) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
	}
	if dieWithParent {
		attr.Pdeathsig = syscall.SIGQUIT
	}
	return attr
}
