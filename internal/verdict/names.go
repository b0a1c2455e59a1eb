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
