// Package vpcdtest helps tests that drive the vsmartcard vpcd reader of a
// real pcscd. vpcd has two slots on one machine-wide pcscd, so test
// packages that use it take a machine-wide lock: `go test ./...` runs
// packages in parallel, and two packages inserting cards into the same slot
// would see each other's taps.
package vpcdtest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nfcd/nfcd/internal/vpcd"
)

// Slot names of vpcd's two readers as pcscd lists them, and their ports.
const (
	Slot0     = "Virtual PCD 00 00"
	Slot1     = "Virtual PCD 00 01"
	Slot0Addr = vpcd.DefaultAddr
	Slot1Addr = "127.0.0.1:35964"
)

// Require skips the test with a loud message when pcscd with vpcd is not
// reachable, and fails it instead when CI=true: in CI, .ci/run starts
// pcscd, so its absence is a broken build, not a reason to skip. On success
// it holds the machine-wide vpcd lock until the test ends.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIPPING pcscd end-to-end test in -short mode")
	}
	fail := t.Skipf
	if os.Getenv("CI") == "true" {
		fail = t.Fatalf
	}
	if _, err := os.Stat("/run/pcscd/pcscd.comm"); err != nil {
		fail("SKIPPING: pcscd is not running (%v); run .ci/install-pcscd.sh to install and start it", err)
		return
	}
	lock(t)
	if !listening(0x8C7B) { // 35963
		fail("SKIPPING: vpcd is not listening on %s; install vsmartcard-vpcd and restart pcscd", Slot0Addr)
	}
}

// listening reports whether a TCP socket listens on port, from
// /proc/net/tcp. Dialling instead would insert a card into the slot.
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return true // not Linux: let the test find out
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1]+" ", want) && f[3] == "0A" {
			return true
		}
	}
	return false
}
