package profile

import (
	"errors"

	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/verdict"
)

// Outcome is the local verdict on one URL: the one place that turns a SUN
// verification into nfcd's vocabulary (internal/verdict), shared by the tap
// pipeline, `nfcd verify` and `nfcd verify --batch`.
type Outcome struct {
	// Profile is the name of the profile that matched, "" if none did.
	Profile string
	// Verdict is verdict.Authentic, Counterfeit, Malformed or
	// UnknownProfile.
	Verdict string
	// Reason is a reason code (verdict.ReasonOK, ReasonBadMAC, …).
	Reason string
	// Detail says more for humans, e.g. "uid: want 14 hex digits, got 13";
	// empty when the reason says it all. It never holds key material.
	Detail string
	// Result is what the SUN message says; the zero value unless
	// Verdict is Authentic.
	Result ntag424.Result
}

// Authentic reports whether the URL's SUN message verified.
func (o *Outcome) Authentic() bool { return o.Verdict == verdict.Authentic }

// Verify verifies rawURL under the first profile whose prefix it matches.
// It allocates nothing when the URL verifies.
func (s Set) Verify(rawURL string) Outcome {
	p, err := s.Match(rawURL)
	if err != nil {
		return Outcome{Verdict: verdict.UnknownProfile, Reason: verdict.ReasonUnknownProfile}
	}
	o := p.Verify(rawURL)
	o.Profile = p.Name
	return o
}

// Verify verifies rawURL under p, whatever its prefix.
func (p *Profile) Verify(rawURL string) Outcome {
	r, err := p.Profile.Verify(rawURL)
	return outcome(r, err)
}

// outcome maps the result of ntag424's Verify to a verdict and reason.
func outcome(r ntag424.Result, err error) Outcome {
	if err == nil {
		return Outcome{Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Result: r}
	}
	return failure(err)
}

// failure maps a Verify error. It is apart from outcome because the
// targets of errors.As escape to the heap: an authentic tap allocates
// nothing.
func failure(err error) Outcome {
	var fe *ntag424.FormatError
	var pe *ntag424.PICCDataError
	switch {
	case errors.As(err, &fe):
		return Outcome{Verdict: verdict.Malformed, Reason: verdict.ReasonBadFormat, Detail: fe.Field + ": " + fe.Msg}
	case errors.As(err, &pe):
		// PICCData that decrypts to nonsense under the profile's key: the
		// tag does not hold our keys.
		return Outcome{Verdict: verdict.Counterfeit, Reason: verdict.ReasonBadPICCData, Detail: pe.Msg}
	}
	// ErrBadMAC, and anything else Verify may return: never authentic.
	return Outcome{Verdict: verdict.Counterfeit, Reason: verdict.ReasonBadMAC}
}
