package fleet

import (
	"encoding/hex"
	"fmt"

	"github.com/nfcd/nfcd/internal/verdict"
)

// The bridge between the verdict stage's verdicts and the fleet: what a
// ledger wrapping the kiosk's own ledger does with each verdict of a batch
// (docs/fleet.md, "Wiring").

// AdvanceOf returns the advance to check for v. ok is false for any verdict
// but an authentic one with a counter: the fleet is asked only about taps
// that the kiosk's own mark accepted, so a local replay never needs the
// network and a fleet answer never upgrades one. A UID that is not 1 to
// MaxUIDLen bytes of hex is ErrInvalid.
func AdvanceOf(v *verdict.Verdict) (a Advance, ok bool, err error) {
	if v.Verdict != verdict.Authentic || !v.Ctr.Valid {
		return Advance{}, false, nil
	}
	uid, err := hex.DecodeString(v.UID)
	if err != nil || len(uid) == 0 || len(uid) > MaxUIDLen {
		return Advance{}, false, fmt.Errorf("%w: UID is not 1 to %d bytes of hex", ErrInvalid, MaxUIDLen)
	}
	return Advance{Profile: v.Profile, UID: uid, Ctr: v.Ctr.Value, Time: v.Time, Tap: v.Tap}, true, nil
}

// Settle applies the fleet's answer to v's advance: the fleet state, and
// for a refusal the verdict replayed with reason fleet_replay and the
// holder in Detail.
func Settle(v *verdict.Verdict, r Result) {
	v.Fleet = r.State
	if r.State == StateConfirmed && r.Replayed && v.Verdict == verdict.Authentic {
		v.Verdict, v.Reason, v.Detail = verdict.Replayed, verdict.ReasonFleetReplay, r.Detail(v.Ctr.Value)
	}
}

// Apply turns v, the verdict of the tap l.Advance.Tap as it was published,
// into its verdict.updated form: replayed, fleet_replay, confirmed by the
// fleet.
func (l LateReplay) Apply(v *verdict.Verdict) {
	v.Verdict, v.Reason, v.Detail = verdict.Replayed, verdict.ReasonFleetReplay, l.Detail()
	v.Fleet = StateConfirmed
}

// TapOf returns the audit row of v for Ship: seq is its sequence number in
// the kiosk's audit log, keyID the ID of the key that signed it. An empty
// UID ships as none; one that is not hex is ErrInvalid.
func TapOf(v *verdict.Verdict, seq uint64, keyID string) (Tap, error) {
	uid, err := hex.DecodeString(v.UID)
	if err != nil {
		return Tap{}, fmt.Errorf("%w: UID is not hex", ErrInvalid)
	}
	if len(uid) == 0 {
		uid = nil
	}
	return Tap{ID: v.Tap, Seq: seq, Time: v.Time, Reader: v.Reader, Profile: v.Profile, UID: uid, Ctr: v.Ctr,
		Verdict: v.Verdict, Reason: v.Reason, Detail: v.Detail, KeyID: keyID, Fleet: v.Fleet}, nil
}
