package main

import (
	"context"
	"flag"
	"fmt"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/tap"
)

var watchCmd = &command{
	name:     "watch",
	summary:  "print reader events and verified tag reads",
	synopsis: "nfcd watch [--profile FILE | key flags] [--reader GLOB] [--json]",
	about: `Prints one line per reader event and tag read until interrupted. With --json
every line is a JSON object with a "type" field; tag reads are
  {"type":"tag","reader":str,"uid":HEX,"ctr":int|null,"url":str,
   "verdict":"authentic|counterfeit|malformed|unknown_profile","reason":str,
   "apdus":int,"elapsed_ms":num}
and the other types are reader_added, reader_removed, card_present,
card_removed, error and pcsc (the PC/SC service state: "state":
"running" or "no_service").`,
	example: "nfcd watch --profile tags.toml --json",
	maxArgs: 0,
}

// globList is a repeatable string flag.
type globList []string

func (g *globList) String() string     { return strings.Join(*g, ",") }
func (g *globList) Set(s string) error { *g = append(*g, s); return nil }

func init() {
	var kf keyFlags
	var asJSON, originality, feedback, verbose bool
	var include, exclude globList
	watchCmd.flags = func(fs *flag.FlagSet) {
		kf.register(fs)
		include, exclude = nil, nil
		fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
		fs.BoolVar(&originality, "originality", false, "also check NXP's originality signature (4 more APDUs per tap)")
		fs.BoolVar(&feedback, "feedback", false, "beep/flash supported readers with the verdict")
		fs.Var(&include, "reader", "watch only readers matching this `glob` (repeatable)")
		fs.Var(&exclude, "exclude", "ignore readers matching this `glob` (repeatable), e.g. '*SAM*'")
		fs.BoolVar(&verbose, "v", false, "log PC/SC diagnostics to stderr")
	}
	watchCmd.run = func(e *env, _ []string) error {
		set, err := kf.profiles()
		if err != nil {
			return err
		}
		log := zap.NewNop()
		if verbose {
			log = newCLILogger(e.stderr, zapcore.DebugLevel)
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		mon, err := pcsc.Open(ctx, log, pcsc.Options{Include: include, Exclude: exclude, Feedback: feedback})
		if err != nil {
			return err
		}
		p := tap.New(tap.Config{Source: mon.Source(), Profiles: set, Originality: originality, Log: log})
		// The lines are written on the reader's goroutine as soon as its
		// events are known (tap.RunFunc): a tap's card_present and tag
		// lines in one write, nothing handed over in between.
		var mu sync.Mutex
		var buf []byte
		return p.RunFunc(ctx, func(evs ...tap.Event) {
			mu.Lock()
			defer mu.Unlock()
			buf = buf[:0]
			for _, ev := range evs {
				if asJSON {
					buf = append(ev.AppendWatchJSON(buf), '\n')
				} else {
					buf = append(append(buf, ev.String()...), '\n')
				}
			}
			e.stdout.Write(buf)
			for _, ev := range evs {
				if !asJSON && ev.Kind == event.ServiceChanged && ev.Service == reader.ServiceDown {
					fmt.Fprintf(e.stderr, "nfcd watch: the PC/SC service is not reachable; %s\n", pcsc.ServiceHint())
				}
			}
		})
	}
}
