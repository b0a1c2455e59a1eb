package fleet_test

import (
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
)

func TestLateReplayOvertaken(t *testing.T) {
	tap := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		holder fleet.Holder
		want   bool
	}{
		{"same counter later", fleet.Holder{Kiosk: "B", Ctr: 10, Time: tap.Add(time.Minute)}, false},
		{"same counter earlier", fleet.Holder{Kiosk: "B", Ctr: 10, Time: tap.Add(-time.Minute)}, false},
		{"higher counter earlier", fleet.Holder{Kiosk: "B", Ctr: 11, Time: tap.Add(-time.Minute)}, false},
		{"higher counter later", fleet.Holder{Kiosk: "B", Ctr: 11, Time: tap.Add(time.Minute)}, true},
		{"higher counter same instant", fleet.Holder{Kiosk: "B", Ctr: 11, Time: tap}, false},
	}
	for _, tc := range tests {
		l := fleet.LateReplay{Advance: fleet.Advance{UID: []byte{1}, Ctr: 10, Time: tap}, Holder: tc.holder}
		if got := l.Overtaken(); got != tc.want {
			t.Errorf("%s: Overtaken() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
