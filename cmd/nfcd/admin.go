package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/history"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tlscert"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

// humanTime is the one time format of human output: UTC with Z. JSON
// output uses RFC 3339 UTC as well.
const humanTime = "2006-01-02 15:04:05Z"

var tokenCmd = &command{
	name:     "token",
	summary:  "manage WebSocket API tokens",
	synopsis: "nfcd token create|list|revoke [flags]",
	about: `API tokens let POS software and other local clients connect to the WebSocket
API. Only a hash of each token is kept. Changes take effect in a running
daemon at once: while one runs on the state directory, the commands go
through it (root or the service account), so the files stay the service's.`,
	example: "nfcd token create --name pos-1",
	subs:    []*command{tokenCreateCmd, tokenListCmd, tokenRevokeCmd},
}

var tokenCreateCmd = &command{
	name:     "token create",
	summary:  "create a token and print it once",
	synopsis: "nfcd token create --name NAME [--state-dir DIR] [--json]",
	about:    "Creates a token and prints it once, alone on the last line of stdout; only its\nhash is kept, so store it where the client can read it.",
	example:  "nfcd token create --name pos-1",
	maxArgs:  0,
}

var tokenListCmd = &command{
	name:     "token list",
	summary:  "list the tokens (never the tokens themselves)",
	synopsis: "nfcd token list [--state-dir DIR] [--json]",
	about:    "Lists the tokens by name, with the first characters of each and when it was\ncreated.",
	example:  "nfcd token list --json",
	maxArgs:  0,
}

var tokenRevokeCmd = &command{
	name:     "token revoke",
	summary:  "revoke a token",
	synopsis: "nfcd token revoke --name NAME [--state-dir DIR]",
	about:    "Revokes the token with that name; clients using it can no longer connect.",
	example:  "nfcd token revoke --name pos-1",
	maxArgs:  0,
}

func init() {
	var dir, name string
	var asJSON bool
	stateFlag := func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
	}
	tokenCreateCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "token `name`, e.g. pos-1")
		stateFlag(fs)
		fs.BoolVar(&asJSON, "json", false, "print the token as a JSON object")
	}
	tokenListCmd.flags = func(fs *flag.FlagSet) {
		stateFlag(fs)
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per token")
	}
	tokenRevokeCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "token `name`")
		stateFlag(fs)
	}
	tokens := func(create bool) (*token.Store, error) {
		d, err := stateDir(dir)
		if err != nil {
			return nil, err
		}
		if create {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		} else if err := requireDir(d); err != nil {
			return nil, err
		}
		return token.Open(statedir.PathsOf(d).Tokens), nil
	}
	tokenCreateCmd.run = func(e *env, _ []string) error {
		if name == "" {
			return usageError("--name is required")
		}
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var created daemon.TokenCreated
		running, err := callDaemon(d, daemon.AdminTokenCreate, daemon.TokenRequest{Name: name}, &created)
		if err != nil {
			return tokenError(err, name)
		}
		tok := created.Token
		if !running {
			ts, err := tokens(true)
			if err != nil {
				return err
			}
			if tok, err = ts.Create(name); err != nil {
				return tokenError(err, name)
			}
		}
		if asJSON {
			return writeJSON(e.stdout, map[string]string{"name": name, "token": tok})
		}
		fmt.Fprintf(e.stderr, "created token %q; it is shown once, keep it secret:\n", name)
		fmt.Fprintln(e.stdout, tok)
		return nil
	}
	tokenListCmd.run = func(e *env, _ []string) error {
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var infos []daemon.TokenInfo
		running, err := callDaemon(d, daemon.AdminTokenList, nil, &infos)
		if err != nil {
			return err
		}
		if !running {
			ts, err := tokens(false)
			if err != nil {
				return err
			}
			local, err := ts.List()
			if err != nil {
				return err
			}
			for _, in := range local {
				infos = append(infos, daemon.TokenInfo{Name: in.Name, ID: in.ID, Created: in.Created})
			}
		}
		if asJSON {
			for _, in := range infos {
				if err := writeJSON(e.stdout, map[string]string{"name": in.Name, "id": in.ID, "created": in.Created.UTC().Format(time.RFC3339)}); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tCREATED")
		for _, in := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", in.Name, in.ID, in.Created.UTC().Format(humanTime))
		}
		return tw.Flush()
	}
	tokenRevokeCmd.run = func(e *env, _ []string) error {
		if name == "" {
			return usageError("--name is required")
		}
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		running, err := callDaemon(d, daemon.AdminTokenRevoke, daemon.TokenRequest{Name: name}, nil)
		if err != nil {
			return tokenError(err, name)
		}
		if !running {
			ts, err := tokens(false)
			if err != nil {
				return err
			}
			if err := ts.Revoke(name); err != nil {
				return tokenError(err, name)
			}
		}
		fmt.Fprintf(e.stdout, "revoked token %q\n", name)
		return nil
	}
}

// tokenError says what to do about a token create or revoke that failed,
// done here (a token.OpError) or by the running daemon (its admin API's
// bad_request carries the same text).
func tokenError(err error, name string) error {
	is := func(sentinel error) bool {
		var ae *admin.Error
		if errors.As(err, &ae) && ae.Code == admin.CodeBadRequest {
			return strings.Contains(ae.Message, strings.TrimPrefix(sentinel.Error(), "token: "))
		}
		return errors.Is(err, sentinel)
	}
	switch {
	case is(token.ErrInvalidName):
		return usageError("--name %q: want 1 to %d letters, digits, '.', '_' or '-'", name, token.MaxNameLen)
	case is(token.ErrExists):
		return fmt.Errorf("%w; choose another name, or revoke the old token first: nfcd token revoke --name %s", err, name)
	case is(token.ErrNotFound):
		return fmt.Errorf("%w (nfcd token list shows the names)", err)
	}
	return err
}

// requireDir fails with a clear message when the state directory dir does
// not exist: commands that read state never create it.
func requireDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state directory %s does not exist (check --state-dir; the daemon creates it on its first start)", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

var keyCmd = &command{
	name:     "key",
	summary:  "show the verdict signing key",
	synopsis: "nfcd key show [flags]",
	about:    "The daemon signs every verdict with an Ed25519 key kept in its state directory.",
	example:  "nfcd key show --json",
	subs:     []*command{keyShowCmd},
}

var keyShowCmd = &command{
	name:     "key show",
	summary:  "print the public key that verifies signed verdicts",
	synopsis: "nfcd key show [--state-dir DIR] [--json]",
	about: `Prints the public key POS backends use to check signed verdicts
(docs/signed-verdicts.md) and, once the daemon has listened beyond loopback,
the SHA-256 fingerprint of its TLS certificate, which network clients pin:
the running daemon's, or those in the state directory when no daemon runs
there (it never creates one).`,
	example: "nfcd key show --state-dir /var/lib/nfcd",
	maxArgs: 0,
}

func init() {
	var dir string
	var asJSON bool
	keyShowCmd.flags = func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
		fs.BoolVar(&asJSON, "json", false, "print a JSON object")
	}
	keyShowCmd.run = func(e *env, _ []string) error {
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var ki daemon.KeyInfo
		running, err := callDaemon(d, daemon.AdminKeyShow, nil, &ki)
		if err != nil {
			return err
		}
		if !running {
			if err := requireDir(d); err != nil {
				return err
			}
			pub, err := statedir.PathsOf(d).ReadPublicKey()
			if errors.Is(err, verdict.ErrNoKey) {
				return fmt.Errorf("%s holds no verdict key yet: it is created when the daemon first starts there", d)
			}
			if err != nil {
				return err
			}
			ki = daemon.KeyInfoOf(pub)
			paths := statedir.PathsOf(d)
			fp, err := tlscert.ReadFingerprint(paths.TLS, paths.TLSCert)
			if err != nil && !errors.Is(err, tlscert.ErrNoCertificate) {
				return err
			}
			ki.TLSSHA256 = fp
		}
		if asJSON {
			out := map[string]string{"alg": ki.Alg, "key_id": ki.KeyID, "public_key": ki.PublicKey, "public_hex": ki.PublicHex}
			if ki.TLSSHA256 != "" {
				out["tls_sha256"] = ki.TLSSHA256
			}
			return writeJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "key_id      %s\nalg         %s\npublic_key  %s\npublic_hex  %s\n", ki.KeyID, ki.Alg, ki.PublicKey, ki.PublicHex)
		if ki.TLSSHA256 != "" {
			fmt.Fprintf(e.stdout, "tls_sha256  %s\n", ki.TLSSHA256)
		}
		return nil
	}
}

var historyCmd = &command{
	name:    "history",
	summary: "print the audit log",
	synopsis: "nfcd history [--uid HEX] [--since DURATION|TIME] [--limit N] [--state-dir DIR] [--json]\n" +
		"nfcd history --fleet [--uid HEX] [--kiosk ID] [--since DURATION|TIME] [--limit N] [--config FILE] [--json]",
	about: `Prints the verdicts of past taps, newest first, from the audit log in the
state directory: through the daemon running on it (root or the service
account), or read-only from the store when no daemon runs there. With
--fleet, the taps of every kiosk from the fleet database of the [fleet]
section (docs/fleet.md).`,
	example: "nfcd history --since 1h --uid 04518DFAA96180",
	maxArgs: 0,
}

func init() {
	var dir string
	var q history.Query
	var asJSON, fromFleet bool
	var kiosk, cfgFile string
	historyCmd.flags = func(fs *flag.FlagSet) {
		fs.BoolVar(&fromFleet, "fleet", false, "the taps of every kiosk, from the fleet database")
		fs.StringVar(&kiosk, "kiosk", "", "with --fleet: only this kiosk `ID`")
		fs.StringVar(&cfgFile, "config", "", "with --fleet: configuration `file` with the [fleet] section (default: the service's)")
		fs.StringVar(&dir, "state-dir", "", "state `directory` (default per OS)")
		fs.StringVar(&q.UID, "uid", "", "only this tag `UID` (hex)")
		fs.StringVar(&q.Since, "since", "", "only entries newer than this `duration` (e.g. 1h) or RFC 3339 time")
		fs.IntVar(&q.Limit, "limit", 0, fmt.Sprintf("at most `n` entries (default %d, at most %d)", store.DefaultQueryLimit, history.MaxLimit))
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per entry")
	}
	historyCmd.run = func(e *env, _ []string) error {
		if fromFleet {
			if dir != "" {
				return usageError("--fleet reads the fleet database, not a state directory: drop --state-dir")
			}
			return fleetHistory(e, cfgFile, q.UID, kiosk, q.Since, q.Limit, asJSON)
		}
		if kiosk != "" || cfgFile != "" {
			return usageError("--kiosk and --config go with --fleet")
		}
		sq, err := q.StoreQuery(time.Now())
		if err != nil {
			return usageError("--%v", err)
		}
		d, err := stateDir(dir)
		if err != nil {
			return err
		}
		var res history.Result
		running, err := callDaemon(d, daemon.AdminHistoryQuery, q, &res)
		if err != nil {
			return err
		}
		if !running {
			if err := requireDir(d); err != nil {
				return err
			}
			st, err := openStore(d)
			if err != nil {
				return err
			}
			es, err := st.Query(sq)
			st.Close()
			if err != nil {
				return err
			}
			res.Entries = history.Entries(es)
		}
		if asJSON {
			for _, en := range res.Entries {
				if err := writeJSON(e.stdout, en); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tREADER\tUID\tCTR\tVERDICT\tREASON")
		for _, en := range res.Entries {
			reason := en.Reason
			if en.Detail != "" {
				reason += " (" + en.Detail + ")"
			}
			tm := en.Time
			if t, err := time.Parse(time.RFC3339, en.Time); err == nil {
				tm = t.UTC().Format(humanTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", tm, en.Reader, en.UID, en.Ctr, en.Verdict, reason)
		}
		return tw.Flush()
	}
}

// writeJSON writes v as one line of JSON, without HTML escaping.
func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	b, err := marshalNoEscape(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
