package remote

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
)

// TestDecide checks the table row by row, in the order of Decide's doc.
func TestDecide(t *testing.T) {
	const (
		A  = verdict.Authentic
		C  = verdict.Counterfeit
		R  = verdict.Replayed
		M  = verdict.Malformed
		UP = verdict.UnknownProfile
	)
	type row struct {
		mode    Mode
		local   string
		answer  Answer
		verdict string
		reason  string
		final   bool
	}
	allAnswers := []Answer{None, Waiting, Authentic, Expired, Invalid, NotFound, Rejected, GaveUp}
	var rows []row
	// local-only: the local verdict, whatever the remote said.
	for _, l := range []string{A, C, R, M, UP} {
		for _, a := range allAnswers {
			rows = append(rows, row{LocalOnly, l, a, l, "", true})
		}
	}
	// counterfeit, malformed, replayed: never changed.
	for _, m := range []Mode{Confirm, RemoteRequired} {
		for _, l := range []string{C, M, R} {
			for _, a := range allAnswers {
				rows = append(rows, row{m, l, a, l, "", true})
			}
		}
	}
	for _, m := range []Mode{Confirm, RemoteRequired} {
		rows = append(rows,
			row{m, A, None, A, "", true},
			row{m, UP, None, UP, "", true},
			row{m, A, Authentic, A, verdict.ReasonOK, true},
			row{m, UP, Authentic, A, verdict.ReasonRemoteVerified, true},
			row{m, A, Expired, R, verdict.ReasonRemoteReplay, true},
			row{m, UP, Expired, R, verdict.ReasonRemoteReplay, true},
			row{m, A, Invalid, C, verdict.ReasonRemoteInvalid, true},
			row{m, UP, Invalid, C, verdict.ReasonRemoteInvalid, true},
			row{m, A, NotFound, verdict.UnknownTag, verdict.ReasonRemoteUnknownTag, true},
			row{m, UP, NotFound, verdict.UnknownTag, verdict.ReasonRemoteUnknownTag, true},
			row{m, A, Rejected, verdict.Unverified, verdict.ReasonRemoteRejected, true},
			row{m, UP, Rejected, verdict.Unverified, verdict.ReasonRemoteRejected, true},
			row{m, A, GaveUp, verdict.Unverified, verdict.ReasonRemoteUnreachable, true},
			row{m, UP, GaveUp, verdict.Unverified, verdict.ReasonRemoteUnreachable, true},
			row{m, UP, Waiting, verdict.Pending, verdict.ReasonRemotePending, false},
		)
	}
	rows = append(rows,
		row{Confirm, A, Waiting, A, verdict.ReasonOK, false},
		row{RemoteRequired, A, Waiting, verdict.Pending, verdict.ReasonRemotePending, false},
	)
	for _, r := range rows {
		got, err := Decide(r.mode, r.local, r.answer)
		want := Decision{Verdict: r.verdict, Reason: r.reason, Final: r.final}
		if err != nil || got != want {
			t.Errorf("Decide(%s, %s, %s) = %+v, %v; want %+v", r.mode, r.local, r.answer, got, err, want)
		}
	}
	if _, err := Decide(Confirm, "bogus", Authentic); !errors.Is(err, ErrUnknownLocal) {
		t.Errorf("Decide(bogus local) error = %v, want ErrUnknownLocal", err)
	}
	if _, err := Decide(Confirm, A, "bogus"); err == nil {
		t.Error("Decide(bogus answer) succeeded")
	}
}

// TestNeverReplayedOrCounterfeitWithoutSaying: only the answers expired
// and invalid can make a locally authentic or remote-only tap replayed or
// counterfeit.
func TestNeverReplayedOrCounterfeitWithoutSaying(t *testing.T) {
	for _, s := range []verifyclient.Status{verifyclient.StatusAuthentic, verifyclient.StatusUnknownTag,
		verifyclient.StatusRejected, verifyclient.StatusAmbiguous, verifyclient.StatusUnreachable, ""} {
		for _, a := range []Answer{AnswerOf(verifyclient.Outcome{Status: s}), GaveUp} {
			for _, m := range []Mode{Confirm, RemoteRequired} {
				for _, l := range []string{verdict.Authentic, verdict.UnknownProfile} {
					d, err := Decide(m, l, a)
					if err != nil || d.Verdict == verdict.Replayed || d.Verdict == verdict.Counterfeit {
						t.Errorf("Decide(%s, %s, %s from %q) = %+v, %v", m, l, a, s, d, err)
					}
				}
			}
		}
	}
}

func TestAnswerOf(t *testing.T) {
	for s, want := range map[verifyclient.Status]Answer{
		verifyclient.StatusAuthentic:   Authentic,
		verifyclient.StatusExpired:     Expired,
		verifyclient.StatusInvalid:     Invalid,
		verifyclient.StatusUnknownTag:  NotFound,
		verifyclient.StatusRejected:    Rejected,
		verifyclient.StatusAmbiguous:   Waiting,
		verifyclient.StatusUnreachable: Waiting,
	} {
		if got := AnswerOf(verifyclient.Outcome{Status: s}); got != want {
			t.Errorf("AnswerOf(%s) = %s, want %s", s, got, want)
		}
	}
}

func TestConfigTOML(t *testing.T) {
	const doc = `
[legitimate]
base_url = "https://api.legitimate.tech/external/v1"
match = ["https://legitimate.app/"]
mode = "remote-required"
timeout = "2s"
api_key = "sekrit-key-123"
api_key_header = "X-Api-Key"
`
	var c Config
	md, err := toml.Decode(doc, &c)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("undecoded keys %v", und)
	}
	l := c.Legitimate
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.Mode != RemoteRequired || l.BaseURL == "" || l.Timeout.Seconds() != 2 || l.APIKey.Reveal() != "sekrit-key-123" || l.APIKeyHeader != "X-Api-Key" {
		t.Errorf("decoded %+v", l)
	}
	if !l.Wants("HTTPS://legitimate.app/?uid=1", true) || l.Wants("https://other.example/?uid=1", false) {
		t.Error("Wants with match prefixes")
	}
	l.Match = nil
	if !l.Wants("https://x/", false) || l.Wants("https://x/", true) {
		t.Error("Wants without match: want URLs no local profile matched")
	}
	l.Mode = LocalOnly
	if l.Wants("https://x/", false) {
		t.Error("local-only wants a URL")
	}
	var nilL *Legitimate
	if nilL.Wants("https://x/", false) {
		t.Error("nil section wants a URL")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"bad mode", `base_url = "https://a.example/v1"` + "\nmode = \"sometimes\"", "mode"},
		{"no base", `mode = "confirm"`, "base_url: missing"},
		{"plain http", `base_url = "http://api.example/v1"`, "https"},
		{"bad match", `base_url = "https://a.example/v1"` + "\nmatch = [\"ftp://x\"]", "match[0]"},
		{"two keys", `base_url = "https://a.example/v1"` + "\napi_key = \"sekrit-key-123\"\napi_key_env = \"K\"", "at most one"},
	} {
		var l Legitimate
		_, err := toml.Decode(tc.doc, &l)
		if err == nil {
			err = l.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "sekrit") {
			t.Errorf("%s: error quotes the key: %v", tc.name, err)
		}
	}
}

// TestOutboxSettings: the outbox and claim settings get their defaults
// and are bounded.
func TestOutboxSettings(t *testing.T) {
	l := Legitimate{Config: verifyclient.Config{BaseURL: "https://a.example/v1"}}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if l.OutboxMaxItems != DefaultOutboxMaxItems || l.OutboxMaxAge.Duration != DefaultOutboxMaxAge ||
		l.ClaimWindow.Duration != DefaultClaimWindow || l.Timeout.Duration != verifyclient.DefaultTimeout || l.Mode != Confirm {
		t.Errorf("defaults %+v", l)
	}
	for _, doc := range []string{
		"outbox_max_items = -1", "outbox_max_items = 2000000", `outbox_max_age = "-1s"`, `outbox_max_age = "9999h"`,
		`claim_window = "-1m"`, `claim_window = "48h"`,
	} {
		var l Legitimate
		if _, err := toml.Decode(`base_url = "https://a.example/v1"`+"\n"+doc, &l); err != nil {
			t.Fatal(err)
		}
		if err := l.Validate(); err == nil {
			t.Errorf("%s: accepted", doc)
		}
	}
}
