package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/pcsc"
)

// readerJSON is one line of `nfcd readers --json`.
type readerJSON struct {
	Name        string `json:"name"`
	CardPresent bool   `json:"card_present"`
	ATR         string `json:"atr,omitempty"`
	Quirks      string `json:"quirks,omitempty"`
	Contactless bool   `json:"contactless"`
	Feedback    bool   `json:"feedback"`
}

func runReaders(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("readers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON object per reader")
	wait := fs.Duration("wait", 2*time.Second, "how long to wait for the PC/SC service")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	mon, err := pcsc.Open(ctx, zap.NewNop(), pcsc.Options{})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- mon.Run(ctx) }()
	// The monitor reports every reader and card it finds when it starts;
	// the snapshot is complete once those events stop coming.
	quiet := time.NewTimer(300 * time.Millisecond)
	seen := false
loop:
	for {
		select {
		case ev := <-mon.Events():
			if ev.Kind == pcsc.ErrorEvent && !seen {
				continue
			}
			seen = true
			quiet.Reset(150 * time.Millisecond)
		case <-quiet.C:
			if seen {
				break loop
			}
			quiet.Reset(150 * time.Millisecond)
		case <-ctx.Done():
			break loop
		}
	}
	readers := mon.Readers()
	cancel()
	<-done
	if len(readers) == 0 && !*asJSON {
		fmt.Fprintln(stdout, "no readers")
	}
	enc := json.NewEncoder(stdout)
	for _, r := range readers {
		q := pcsc.QuirksFor(r.Name, r.ATR)
		out := readerJSON{Name: r.Name, CardPresent: r.CardPresent, Quirks: q.Name, Contactless: q.Contactless, Feedback: q.OK != nil}
		if r.CardPresent {
			out.ATR = fmt.Sprintf("%X", r.ATR)
		}
		if *asJSON {
			enc.Encode(out)
			continue
		}
		state := "empty"
		if r.CardPresent {
			state = "card " + out.ATR
		}
		quirks := out.Quirks
		if quirks == "" {
			quirks = "no quirks"
		}
		fmt.Fprintf(stdout, "%-40s %-24s %s\n", r.Name, state, quirks)
	}
	return nil
}
