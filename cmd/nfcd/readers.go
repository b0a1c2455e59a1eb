package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/reader"
)

var readersCmd = &command{
	name:     "readers",
	summary:  "list PC/SC readers with state, ATR and matched quirks",
	synopsis: "nfcd readers [--wait DURATION] [--json]",
	about: `Lists the PC/SC readers, whether a card is in each, its ATR and the reader's
known quirks. Exit status: 0 when the PC/SC service answered (even with no
reader), 1 when it is not running or not reachable (the message says how to
start it), 2 usage.`,
	example: "nfcd readers --json",
	maxArgs: 0,
}

// readerJSON is one line of `nfcd readers --json`.
type readerJSON struct {
	Name        string `json:"name"`
	CardPresent bool   `json:"card_present"`
	ATR         string `json:"atr,omitempty"`
	Quirks      string `json:"quirks,omitempty"`
	Contactless bool   `json:"contactless"`
	Feedback    bool   `json:"feedback"`
}

func init() {
	var asJSON bool
	var wait time.Duration
	readersCmd.flags = func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per reader")
		fs.DurationVar(&wait, "wait", 2*time.Second, "how long to wait for the PC/SC service")
	}
	readersCmd.run = func(e *env, _ []string) error {
		if wait <= 0 {
			return usageError("--wait: want a positive duration such as 2s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		mon, err := pcsc.Open(ctx, zap.NewNop(), pcsc.Options{})
		if err != nil {
			return err
		}
		events := make(chan reader.Event, 64)
		done := make(chan error, 1)
		go func() { done <- mon.Run(ctx, events) }()
		// The monitor says whether the service answers, then reports every
		// reader and card it finds; the snapshot is complete once those
		// events stop coming.
		service, err := readersSettle(ctx, events)
		readers := mon.Readers()
		cancel()
		<-done
		switch {
		case service == reader.ServiceDown:
			return fmt.Errorf("the PC/SC service is not reachable; %s", pcsc.ServiceHint())
		case err != nil:
			return fmt.Errorf("the PC/SC service did not answer within %v (--wait)", wait)
		}
		if len(readers) == 0 && !asJSON {
			fmt.Fprintln(e.stdout, "no readers (the PC/SC service is running; plug a reader in)")
		}
		for _, r := range readers {
			q := pcsc.QuirksFor(r.Name, r.ATR)
			out := readerJSON{Name: r.Name, CardPresent: r.CardPresent, Quirks: q.Name, Contactless: q.Contactless, Feedback: q.OK != nil}
			if r.CardPresent {
				out.ATR = ntag424.Hex(r.ATR)
			}
			if asJSON {
				if err := writeJSON(e.stdout, out); err != nil {
					return err
				}
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
			fmt.Fprintf(e.stdout, "%-40s %-24s %s\n", r.Name, state, quirks)
		}
		return nil
	}
}

// readersSettle reads monitor events until the PC/SC service is known to be
// down, or it runs and no event came for a moment. It returns the service
// state, and ctx's error if it ended first.
func readersSettle(ctx context.Context, events <-chan reader.Event) (reader.Service, error) {
	const settle = 150 * time.Millisecond
	service := reader.ServiceStarting
	quiet := time.NewTimer(2 * settle)
	defer quiet.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Kind == event.ServiceChanged {
				service = ev.Service
				if service == reader.ServiceDown {
					return service, nil
				}
			}
			quiet.Reset(settle)
		case <-quiet.C:
			if service.Up() {
				return service, nil
			}
			quiet.Reset(settle)
		case <-ctx.Done():
			return service, ctx.Err()
		}
	}
}
