package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
)

const tokenUsage = `Usage: nfcd token create --name NAME | list | revoke --name NAME [--state-dir DIR]

API tokens let POS software and other local clients connect to the WebSocket
API. "create" prints the token once, alone on its last line; only its hash is
kept. Tokens take effect in a running daemon at once.
`

func runToken(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	action := args[0]
	fs := flag.NewFlagSet("token "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirFlag := fs.String("state-dir", "", "state `directory` (default per OS)")
	name := fs.String("name", "", "token `name`, e.g. pos-1")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *name == "" && fs.NArg() == 1 {
		*name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fmt.Fprint(stderr, tokenUsage)
		return errUsage
	}
	dir, err := stateDir(*dirFlag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ts := token.Open(daemon.Paths(dir).Tokens)
	switch action {
	case "create":
		if *name == "" {
			fmt.Fprint(stderr, tokenUsage)
			return errUsage
		}
		tok, err := ts.Create(*name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created token %q; it is shown once, keep it secret:\n", *name)
		fmt.Fprintln(stdout, tok)
		return nil
	case "list":
		infos, err := ts.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tCREATED")
		for _, in := range infos {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", in.Name, in.ID, in.Created.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "revoke":
		if *name == "" {
			fmt.Fprint(stderr, tokenUsage)
			return errUsage
		}
		if err := ts.Revoke(*name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked token %q\n", *name)
		return nil
	}
	fmt.Fprint(stderr, tokenUsage)
	return errUsage
}

// openStore opens the state store for a CLI command, explaining the one
// error users meet: a running daemon holds it.
func openStore(dirFlag string) (*store.Store, error) {
	dir, err := stateDir(dirFlag)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(daemon.Paths(dir).DB, store.Options{Timeout: 500 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w\n(a running nfcd holds the store: query it over the WebSocket API, or stop it first)", err)
	}
	return st, err
}

func runKey(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "show" {
		fmt.Fprintln(stderr, "Usage: nfcd key show [--state-dir DIR] [--json]")
		return errUsage
	}
	fs := flag.NewFlagSet("key show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirFlag := fs.String("state-dir", "", "state `directory` (default per OS)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	dir, err := stateDir(*dirFlag)
	if err != nil {
		return err
	}
	pub, err := daemon.PublicKey(dir)
	if err != nil {
		return err
	}
	id := verdict.KeyID(pub)
	b64 := base64.RawURLEncoding.EncodeToString(pub)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"alg": "Ed25519", "key_id": id, "public_key": b64, "public_hex": hex.EncodeToString(pub)})
	}
	fmt.Fprintf(stdout, "key_id      %s\nalg         Ed25519\npublic_key  %s\npublic_hex  %s\n", id, b64, hex.EncodeToString(pub))
	return nil
}

func runHistory(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dirFlag := fs.String("state-dir", "", "state `directory` (default per OS)")
	var q daemon.HistoryQuery
	fs.StringVar(&q.UID, "uid", "", "only this tag `UID` (hex)")
	fs.StringVar(&q.Since, "since", "", "only entries newer than this `duration` (e.g. 1h) or RFC 3339 time")
	fs.IntVar(&q.Limit, "limit", 0, "at most `n` entries (default 100)")
	asJSON := fs.Bool("json", false, "print one JSON object per entry")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	sq, err := q.StoreQuery(time.Now())
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	st, err := openStore(*dirFlag)
	if err != nil {
		return err
	}
	defer st.Close()
	es, err := st.Query(sq)
	if err != nil {
		return err
	}
	entries := daemon.Entries(es)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		for _, e := range entries {
			enc.Encode(e)
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tREADER\tUID\tCTR\tVERDICT\tREASON")
	for _, e := range entries {
		ctr := "-"
		if e.Ctr != nil {
			ctr = fmt.Sprint(*e.Ctr)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time, e.Reader, e.UID, ctr, strings.ToUpper(e.Verdict), e.Reason)
	}
	return tw.Flush()
}
