package nfcd_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the dependency arrows pointing one way
// (../shared/STYLE.md §1): the tag and NDEF code never reach the PC/SC layer
// or cgo, so they build with CGO_ENABLED=0 on every OS.
func TestDependencies(t *testing.T) {
	forbidden := map[string][]string{
		"github.com/nfcd/nfcd/internal/ntag424": {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo"},
		"github.com/nfcd/nfcd/internal/ndef":    {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo"},
		"github.com/nfcd/nfcd/internal/aescmac": {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo"},
		"github.com/nfcd/nfcd/internal/lrp":     {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo"},
		"github.com/nfcd/nfcd/internal/batch":   {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo"},
		// The remote verification client and its verdict table are pure Go
		// and know nothing of the daemon.
		"github.com/nfcd/nfcd/internal/verifyclient": {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo", "github.com/nfcd/nfcd/internal/daemon"},
		"github.com/nfcd/nfcd/internal/remote":       {"github.com/nfcd/nfcd/internal/pcsc", "github.com/ebfe/scard", "runtime/cgo", "github.com/nfcd/nfcd/internal/daemon"},
	}
	for pkg, bad := range forbidden {
		cmd := exec.Command("go", "list", "-json", pkg)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		var info struct{ Deps []string }
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatal(err)
		}
		for _, d := range info.Deps {
			for _, b := range bad {
				if d == b || strings.HasPrefix(d, b+"/") {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
}
