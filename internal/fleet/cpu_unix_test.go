//go:build unix

package fleet_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time this process has used (the benchmarks'
// clients; the servers are other processes).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
