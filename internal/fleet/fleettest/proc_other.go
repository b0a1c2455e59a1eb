//go:build !unix

package fleettest

import "syscall"

// supported is false: the tests run PostgreSQL servers on Unix only (CI is
// Debian); elsewhere they skip.
const supported = false

func procAttr(*account, bool) *syscall.SysProcAttr { return nil }
