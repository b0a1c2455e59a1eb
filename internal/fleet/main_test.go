package fleet_test

import (
	"os"
	"testing"

	"github.com/nfcd/nfcd/internal/fleet/fleettest"
)

func TestMain(m *testing.M) { os.Exit(fleettest.Main(m)) }
