package verdict

// The one list of verdicts and reason codes. Every part of nfcd that names
// a verdict (the daemon's tag.read events, `nfcd verify`, `--batch`, `nfcd
// watch`, the audit log, the kiosk page, docs/protocol.md) uses these
// values; a new verdict or reason is added here first.
//
// A verdict is what nfcd concluded about a tap. A reason is a stable code
// that says why; details for humans travel beside it (Verdict.Detail) and
// are never part of the code.

// Verdicts.
const (
	// Authentic: the SUN message verified under the profile's keys and, in
	// the daemon, its counter is above every counter accepted before.
	Authentic = "authentic"
	// Counterfeit: the SUN MAC or the encrypted PICCData does not verify
	// under the profile's keys.
	Counterfeit = "counterfeit"
	// Replayed: an authentic SUN message whose counter is not above the
	// highest one already accepted for the tag: a copied URL, a cloned or
	// emulated tag.
	Replayed = "replayed"
	// Malformed: the tag carries no SUN message, or a broken one.
	Malformed = "malformed"
	// UnknownProfile: no profile's URL prefix matches the tag's URL, so
	// nfcd holds no keys for it.
	UnknownProfile = "unknown_profile"
)

// Reason codes.
const (
	// ReasonOK goes with Authentic.
	ReasonOK = "ok"
	// ReasonBadMAC: the SDMMAC did not verify (Counterfeit).
	ReasonBadMAC = "bad_mac"
	// ReasonBadPICCData: the encrypted PICCData decrypts to nonsense under
	// the profile's key (Counterfeit).
	ReasonBadPICCData = "bad_picc_data"
	// ReasonBadFormat: a parameter is missing, duplicated, of the wrong
	// size or not hex, or the layout cannot be trusted (Malformed). Detail
	// names the field.
	ReasonBadFormat = "bad_format"
	// ReasonUnknownProfile: no profile matches the URL (UnknownProfile).
	ReasonUnknownProfile = "unknown_profile"
	// ReasonReplayedCounter: the counter is not above the high-water mark
	// of the tag (Replayed). Detail gives both counters.
	ReasonReplayedCounter = "replayed_counter"
	// ReasonBadInput: a `verify --batch` line that is not a valid request.
	ReasonBadInput = "bad_input"
)

// Remote verification (issue #9): verdicts and reasons that only arise
// when a remote service (Legitimate) gives its opinion on a tap. See
// internal/remote for the table that combines it with the local verdict.
const (
	// Pending: the remote answer is not in yet (a remote-only tag, or
	// mode remote-required); a verdict.updated event settles it.
	Pending = "pending"
	// Unverified: no remote answer could be had (the service stayed
	// unreachable until the outbox gave up) or the service refused the
	// request without saying anything about the tag.
	Unverified = "unverified"
	// UnknownTag: the remote service does not know the tag.
	UnknownTag = "unknown_tag"

	// ReasonRemotePending goes with Pending.
	ReasonRemotePending = "remote_pending"
	// ReasonRemoteVerified: Authentic on the remote service's word alone
	// (a tag without a local profile).
	ReasonRemoteVerified = "remote_verified"
	// ReasonRemoteReplay: the remote service says the tap's parameters
	// were already used ("has expired") although the local counter was
	// fresh: a copied URL (Replayed).
	ReasonRemoteReplay = "remote_replay"
	// ReasonRemoteInvalid: the remote service says the MAC is invalid
	// (Counterfeit).
	ReasonRemoteInvalid = "remote_invalid"
	// ReasonRemoteUnknownTag goes with UnknownTag.
	ReasonRemoteUnknownTag = "remote_unknown_tag"
	// ReasonRemoteRejected: the remote service refused the request for
	// another reason (Unverified).
	ReasonRemoteRejected = "remote_rejected"
	// ReasonRemoteUnreachable: the remote service could not be reached,
	// or a lost answer could not be settled, before the outbox gave up
	// (Unverified).
	ReasonRemoteUnreachable = "remote_unreachable"
)

// Reason codes of the fleet (issue 17, internal/fleet).
const (
	// ReasonFleetReplay: the counter is not above the highest one any
	// kiosk of the fleet accepted for the tag (Replayed). Detail names the
	// kiosk that accepted it and when; it never carries keys or CMACs.
	ReasonFleetReplay = "fleet_replay"
)

// States of the fleet-wide counter check (Verdict.Fleet), beside FleetOff.
const (
	// FleetConfirmed: the fleet answered in time; the verdict (authentic
	// or replayed) is the fleet's.
	FleetConfirmed = "confirmed"
	// FleetUnconfirmed: the fleet did not answer in time; the tap was
	// decided on this kiosk's own mark and the fleet hears of it later.
	FleetUnconfirmed = "unconfirmed"
)
