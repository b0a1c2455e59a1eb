// Package remote decides what a remote verification (the Legitimate tag
// API, internal/verifyclient) changes about a tap's verdict: the modes of
// the [remote.legitimate] configuration section, which tag URLs go to the
// service, and the one table that combines the local verdict with the
// remote answer (Decide).
//
// It works on plain values — verdict names, answers, URLs — and knows
// nothing of the daemon, the outbox or the WebSocket.
package remote

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
)

// Mode says how the remote answer enters the verdict.
type Mode string

// Modes.
const (
	// LocalOnly: remote verification is off; verdicts are local.
	LocalOnly Mode = "local-only"
	// Confirm: tag.read goes out at once with the local verdict (pending
	// for a tag only the remote service knows); verdict.updated carries
	// the combined verdict when the remote answer is in.
	Confirm Mode = "confirm"
	// RemoteRequired: tag.read waits for the remote answer up to the
	// timeout and is pending until it is in.
	RemoteRequired Mode = "remote-required"
)

// DefaultMode applies when the section sets no mode.
const DefaultMode = Confirm

// UnmarshalText accepts the three mode names.
func (m *Mode) UnmarshalText(b []byte) error {
	switch v := Mode(b); v {
	case LocalOnly, Confirm, RemoteRequired:
		*m = v
		return nil
	}
	return fmt.Errorf("unknown mode %q (want local-only, confirm or remote-required)", b)
}

// Config is the [remote] section; Legitimate is nil when the
// [remote.legitimate] subsection is absent.
type Config struct {
	Legitimate *Legitimate `toml:"legitimate"`
}

// Legitimate is the [remote.legitimate] section:
//
//	[remote.legitimate]
//	base_url = "https://api.legitimate.tech/external/v1"  # required; http:// only for loopback
//	match = ["https://legitimate.app/"]  # URL prefixes sent to remote; default: URLs no local profile matches
//	mode = "confirm"                     # local-only | confirm | remote-required
//	timeout = "4s"                       # per attempt
//	api_key_file = "/etc/nfcd/legitimate.key"   # or api_key, api_key_env (at most one)
//	api_key_header = "X-API-Key"
//	outbox_max_items = 10000             # taps waiting for the service; the oldest give up beyond
//	outbox_max_age = "24h"               # a tap not settled by then gives up (unverified)
//	claim_window = "5m"                  # legitimate.claim/recover use a tap at most this old
type Legitimate struct {
	verifyclient.Config
	Match []string `toml:"match"`
	Mode  Mode     `toml:"mode"`
	// OutboxMaxItems and OutboxMaxAge bound the outbox (0: the defaults).
	OutboxMaxItems int               `toml:"outbox_max_items"`
	OutboxMaxAge   tomlfile.Duration `toml:"outbox_max_age"`
	// ClaimWindow is how old the tap behind a claim or recover may be
	// (0: the default).
	ClaimWindow tomlfile.Duration `toml:"claim_window"`
}

// Defaults and limits of the outbox and claim settings.
const (
	DefaultOutboxMaxItems = 10_000
	DefaultOutboxMaxAge   = 24 * time.Hour
	DefaultClaimWindow    = 5 * time.Minute
	maxOutboxItems        = 1_000_000
	maxOutboxAge          = 30 * 24 * time.Hour
	maxClaimWindow        = 24 * time.Hour
)

// Validate checks the section and fills in the defaults (mode, timeout,
// outbox bounds, claim window). Errors name the key, never key material.
func (l *Legitimate) Validate() error {
	if l.Mode == "" {
		l.Mode = DefaultMode
	}
	if err := (&l.Mode).UnmarshalText([]byte(l.Mode)); err != nil {
		return fmt.Errorf("remote.legitimate: mode: %w", err)
	}
	if err := l.Config.Validate(); err != nil {
		return fmt.Errorf("remote.legitimate: %w", err)
	}
	for i, m := range l.Match {
		if !strings.HasPrefix(m, "https://") && !strings.HasPrefix(m, "http://") {
			return fmt.Errorf("remote.legitimate: match[%d]: want an http(s) URL prefix", i)
		}
	}
	switch {
	case l.OutboxMaxItems < 0 || l.OutboxMaxItems > maxOutboxItems:
		return fmt.Errorf("remote.legitimate: outbox_max_items: must be between 1 and %d", maxOutboxItems)
	case l.OutboxMaxAge.Duration < 0 || l.OutboxMaxAge.Duration > maxOutboxAge:
		return fmt.Errorf("remote.legitimate: outbox_max_age: must be between 1s and %s", maxOutboxAge)
	case l.ClaimWindow.Duration < 0 || l.ClaimWindow.Duration > maxClaimWindow:
		return fmt.Errorf("remote.legitimate: claim_window: must be between 1s and %s", maxClaimWindow)
	}
	if l.OutboxMaxItems == 0 {
		l.OutboxMaxItems = DefaultOutboxMaxItems
	}
	if l.OutboxMaxAge.Duration == 0 {
		l.OutboxMaxAge.Duration = DefaultOutboxMaxAge
	}
	if l.ClaimWindow.Duration == 0 {
		l.ClaimWindow.Duration = DefaultClaimWindow
	}
	if l.Timeout.Duration == 0 {
		l.Timeout.Duration = verifyclient.DefaultTimeout
	}
	return nil
}

// Wants reports whether a tap with this URL goes to the remote service:
// with Match set, when the URL starts with one of its prefixes (scheme
// and host case-insensitively); without, when no local profile matched
// it. Local-only mode wants nothing.
func (l *Legitimate) Wants(rawURL string, localProfile bool) bool {
	if l == nil || l.Mode == LocalOnly {
		return false
	}
	if len(l.Match) == 0 {
		return !localProfile
	}
	for _, m := range l.Match {
		if len(rawURL) >= len(m) && strings.EqualFold(rawURL[:len(m)], m) {
			return true
		}
	}
	return false
}

// Answer is the remote side of the table: what the service said, or why
// it has not said anything (yet).
type Answer string

// Answers.
const (
	// None: the tap was not sent (local-only mode, URL not matched).
	None Answer = "none"
	// Waiting: sent, no final answer yet (in flight, unreachable and to be
	// retried, or a lost answer not settled yet).
	Waiting Answer = "pending"
	// Authentic: the service accepted the triple.
	Authentic Answer = "authentic"
	// Expired: "has expired", the triple was used before.
	Expired Answer = "expired"
	// Invalid: "is invalid", the MAC does not verify.
	Invalid Answer = "invalid"
	// NotFound: the service does not know the tag.
	NotFound Answer = "unknown_tag"
	// Rejected: any other final refusal.
	Rejected Answer = "rejected"
	// GaveUp: the outbox gave up (unreachable or unsettled past its
	// bounds).
	GaveUp Answer = "gave_up"
)

// AnswerOf maps a client outcome to an Answer. StatusAmbiguous and
// StatusUnreachable are Waiting: the outbox keeps them until they settle
// or it gives up (GaveUp).
func AnswerOf(o verifyclient.Outcome) Answer {
	switch o.Status {
	case verifyclient.StatusAuthentic:
		return Authentic
	case verifyclient.StatusExpired:
		return Expired
	case verifyclient.StatusInvalid:
		return Invalid
	case verifyclient.StatusUnknownTag:
		return NotFound
	case verifyclient.StatusRejected:
		return Rejected
	}
	return Waiting
}

// Final reports whether a is the last word on the tap.
func (a Answer) Final() bool { return a != Waiting }

// ErrUnknownLocal reports a local verdict the table does not know.
var ErrUnknownLocal = errors.New("remote: unknown local verdict")

// Decision is a row of the table's result.
type Decision struct {
	Verdict string // a verdict name (internal/verdict)
	// Reason is the reason code; "" keeps the local verdict's reason.
	Reason string
	// Final is false while the remote answer is Waiting: a
	// verdict.updated will follow.
	Final bool
}

// Decide is the one table that combines the local verdict of a tap with
// the remote answer (issue #9). Rows are tried in order:
//
//	mode          local                     remote         → verdict       reason
//	local-only    any                       any            → local         (local)
//	any           counterfeit               any            → counterfeit   (local)   never upgraded
//	any           malformed                 any            → malformed     (local)   no triple to send
//	any           replayed                  any            → replayed      (local)   the local ledger saw the counter
//	any           authentic|unknown_profile none           → local         (local)   not sent
//	confirm       authentic                 pending        → authentic     (local)   not final
//	confirm       unknown_profile           pending        → pending       remote_pending
//	remote-req.   authentic|unknown_profile pending        → pending       remote_pending
//	any           authentic                 authentic      → authentic     ok
//	any           unknown_profile           authentic      → authentic     remote_verified
//	any           authentic|unknown_profile expired        → replayed      remote_replay
//	any           authentic|unknown_profile invalid        → counterfeit   remote_invalid
//	any           authentic|unknown_profile unknown_tag    → unknown_tag   remote_unknown_tag
//	any           authentic|unknown_profile rejected       → unverified    remote_rejected
//	any           authentic|unknown_profile gave_up        → unverified    remote_unreachable
//
// "expired" on a locally fresh counter is a copied URL: the tag's
// triple was used elsewhere before this tap reached the service. A
// locally authentic tap the service calls invalid is not the service's
// tag, so it is counterfeit for this deployment. Only the remote answers
// authentic, expired and invalid ever decide authentic, replayed or
// counterfeit; everything the client could not establish ends pending or
// unverified — never replayed or counterfeit.
func Decide(mode Mode, local string, a Answer) (Decision, error) {
	keep := Decision{Verdict: local, Final: true}
	switch local {
	case verdict.Counterfeit, verdict.Malformed, verdict.Replayed:
		return keep, nil
	case verdict.Authentic, verdict.UnknownProfile:
	default:
		return Decision{}, ErrUnknownLocal
	}
	if mode == LocalOnly || a == None {
		return keep, nil
	}
	switch a {
	case Waiting:
		if mode == Confirm && local == verdict.Authentic {
			return Decision{Verdict: verdict.Authentic, Reason: verdict.ReasonOK}, nil
		}
		return Decision{Verdict: verdict.Pending, Reason: verdict.ReasonRemotePending}, nil
	case Authentic:
		if local == verdict.Authentic {
			return Decision{Verdict: verdict.Authentic, Reason: verdict.ReasonOK, Final: true}, nil
		}
		return Decision{Verdict: verdict.Authentic, Reason: verdict.ReasonRemoteVerified, Final: true}, nil
	case Expired:
		return Decision{Verdict: verdict.Replayed, Reason: verdict.ReasonRemoteReplay, Final: true}, nil
	case Invalid:
		return Decision{Verdict: verdict.Counterfeit, Reason: verdict.ReasonRemoteInvalid, Final: true}, nil
	case NotFound:
		return Decision{Verdict: verdict.UnknownTag, Reason: verdict.ReasonRemoteUnknownTag, Final: true}, nil
	case Rejected:
		return Decision{Verdict: verdict.Unverified, Reason: verdict.ReasonRemoteRejected, Final: true}, nil
	case GaveUp:
		return Decision{Verdict: verdict.Unverified, Reason: verdict.ReasonRemoteUnreachable, Final: true}, nil
	}
	return Decision{}, fmt.Errorf("remote: unknown answer %q", a)
}
