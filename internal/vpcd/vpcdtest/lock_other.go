//go:build !unix

package vpcdtest

import "testing"

// lock is a no-op where vpcd does not run (pcsc-lite's vpcd is Unix only).
func lock(testing.TB) {}

// Acquire is a no-op where vpcd does not run.
func Acquire() (release func(), err error) { return func() {}, nil }
