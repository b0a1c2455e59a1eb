package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/tap"
)

const watchUsage = `Usage: nfcd watch [flags]

Prints one line per reader event and tag read until interrupted. With --json
every line is a JSON object with a "type" field; tag reads are
  {"type":"tag","reader":str,"uid":HEX,"ctr":int|null,"url":str,
   "verdict":"authentic|counterfeit|malformed|unknown_profile","reason":str,
   "apdus":int,"elapsed_ms":num}
and the other types are reader_added, reader_removed, card_present,
card_removed and error.

Flags:
`

// globList is a repeatable string flag.
type globList []string

func (g *globList) String() string     { return strings.Join(*g, ",") }
func (g *globList) Set(s string) error { *g = append(*g, s); return nil }

func runWatch(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, watchUsage); fs.PrintDefaults() }
	var kf keyFlags
	kf.register(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	originality := fs.Bool("originality", false, "also check NXP's originality signature (4 more APDUs per tap)")
	feedback := fs.Bool("feedback", false, "beep/flash supported readers with the verdict")
	var include, exclude globList
	fs.Var(&include, "reader", "watch only readers matching this `glob` (repeatable)")
	fs.Var(&exclude, "exclude", "ignore readers matching this `glob` (repeatable), e.g. '*SAM*'")
	verbose := fs.Bool("v", false, "log PC/SC diagnostics to stderr")
	if ok, err := parseFlags(fs, args, 0); !ok {
		return err
	}
	set, err := kf.profiles()
	if err != nil {
		return err
	}
	log := zap.NewNop()
	if *verbose {
		log = newCLILogger(stderr, zapcore.DebugLevel)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mon, err := pcsc.Open(ctx, log.Named("pcsc"), pcsc.Options{Include: include, Exclude: exclude, Feedback: *feedback})
	if err != nil {
		return err
	}
	var mu sync.Mutex // events from several readers share stdout
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	emit := func(ev tap.Event) {
		mu.Lock()
		defer mu.Unlock()
		if *asJSON {
			enc.Encode(ev)
			return
		}
		fmt.Fprintln(stdout, ev.String())
	}
	p := tap.New(tap.Config{
		Source:      tap.PCSC{M: mon},
		Profiles:    set,
		Emit:        emit,
		Originality: *originality,
		Log:         log.Named("tap"),
	})
	return p.Run(ctx)
}
