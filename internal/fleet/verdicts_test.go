package fleet_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

func authenticVerdict() verdict.Verdict {
	return verdict.Verdict{Reader: "r", UID: "04A1B2C3D4E5F6", Ctr: ntag424.CounterOf(42), Verdict: verdict.Authentic,
		Reason: verdict.ReasonOK, Time: time.Unix(1_800_000_000, 0), Tap: "3f9a-1", Profile: "shop", Fleet: verdict.FleetOff}
}

func TestAdvanceOf(t *testing.T) {
	v := authenticVerdict()
	a, ok, err := fleet.AdvanceOf(&v)
	if err != nil || !ok || a.Profile != "shop" || string(a.UID) != "\x04\xA1\xB2\xC3\xD4\xE5\xF6" || a.Ctr != 42 || a.Tap != "3f9a-1" || !a.Time.Equal(v.Time) {
		t.Errorf("AdvanceOf(authentic) = %+v, %v, %v", a, ok, err)
	}
	for _, mutate := range []func(*verdict.Verdict){
		func(v *verdict.Verdict) { v.Verdict = verdict.Replayed },
		func(v *verdict.Verdict) { v.Verdict = verdict.Counterfeit },
		func(v *verdict.Verdict) { v.Ctr = ntag424.Counter{} },
	} {
		v := authenticVerdict()
		mutate(&v)
		if _, ok, err := fleet.AdvanceOf(&v); ok || err != nil {
			t.Errorf("AdvanceOf(%s, ctr %v) = %v, %v; want not asked", v.Verdict, v.Ctr, ok, err)
		}
	}
	for _, uid := range []string{"", "XYZ", strings.Repeat("00", fleet.MaxUIDLen+1)} {
		v := authenticVerdict()
		v.UID = uid
		if _, _, err := fleet.AdvanceOf(&v); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("AdvanceOf(UID %q) = %v, want ErrInvalid", uid, err)
		}
	}
}

func TestSettle(t *testing.T) {
	holder := fleet.Holder{Kiosk: "store-1-pos-2", Ctr: 42, Time: time.Unix(1_799_999_000, 0)}
	tests := []struct {
		name         string
		r            fleet.Result
		verdict      string
		reason       string
		fleetState   string
		detailHolder bool
	}{
		{"accepted", fleet.Result{State: fleet.StateConfirmed, Holder: fleet.Holder{Kiosk: "me", Ctr: 42}}, verdict.Authentic, verdict.ReasonOK, verdict.FleetConfirmed, false},
		{"refused", fleet.Result{State: fleet.StateConfirmed, Replayed: true, Holder: holder}, verdict.Replayed, verdict.ReasonFleetReplay, verdict.FleetConfirmed, true},
		{"unconfirmed", fleet.Result{State: fleet.StateUnconfirmed}, verdict.Authentic, verdict.ReasonOK, verdict.FleetUnconfirmed, false},
	}
	for _, tc := range tests {
		v := authenticVerdict()
		fleet.Settle(&v, tc.r)
		if v.Verdict != tc.verdict || v.Reason != tc.reason || v.Fleet != tc.fleetState || strings.Contains(v.Detail, holder.Kiosk) != tc.detailHolder {
			t.Errorf("Settle(%s) = %s/%s/%s %q", tc.name, v.Verdict, v.Reason, v.Fleet, v.Detail)
		}
	}
	// A fleet answer never upgrades a replay.
	v := authenticVerdict()
	v.Verdict, v.Reason = verdict.Replayed, verdict.ReasonReplayedCounter
	fleet.Settle(&v, fleet.Result{State: fleet.StateConfirmed})
	if v.Verdict != verdict.Replayed || v.Reason != verdict.ReasonReplayedCounter {
		t.Errorf("Settle upgraded a local replay: %s/%s", v.Verdict, v.Reason)
	}

	v = authenticVerdict()
	v.Fleet = verdict.FleetUnconfirmed
	l := fleet.LateReplay{Advance: fleet.Advance{UID: []byte{4}, Ctr: 42, Tap: v.Tap}, Holder: holder}
	l.Apply(&v)
	if v.Verdict != verdict.Replayed || v.Reason != verdict.ReasonFleetReplay || v.Fleet != verdict.FleetConfirmed || v.Detail != l.Detail() {
		t.Errorf("LateReplay.Apply = %+v", v)
	}
}

func TestTapOf(t *testing.T) {
	v := authenticVerdict()
	v.Fleet = verdict.FleetConfirmed
	tp, err := fleet.TapOf(&v, 7, "0123456789abcdef")
	if err != nil || tp.ID != v.Tap || tp.Seq != 7 || string(tp.UID) != "\x04\xA1\xB2\xC3\xD4\xE5\xF6" || tp.Ctr != v.Ctr ||
		tp.Verdict != v.Verdict || tp.KeyID != "0123456789abcdef" || tp.Fleet != verdict.FleetConfirmed || tp.Profile != "shop" {
		t.Errorf("TapOf = %+v, %v", tp, err)
	}
	v.UID = ""
	if tp, err := fleet.TapOf(&v, 8, "k"); err != nil || tp.UID != nil {
		t.Errorf("TapOf without a UID = %+v, %v", tp, err)
	}
	v.UID = "0"
	if _, err := fleet.TapOf(&v, 9, "k"); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("TapOf with a bad UID: %v", err)
	}
}
