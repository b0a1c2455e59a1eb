package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

var fakeCmd = &command{
	name:     "fake",
	summary:  "run an in-repo stand-in for a remote service (demos, manual tests)",
	synopsis: "nfcd fake legitmark|legitimate [flags]",
	about:    "Runs a fake of a remote service on a local port, for demos and end-to-end\ntests without the real service. Not for production.",
	example:  "nfcd fake legitmark --listen 127.0.0.1:9800 --auto-advance 5s",
}

var fakeLegitmarkCmd = &command{
	name:     "fake legitmark",
	summary:  "the fake Legitmark API and S3 bucket",
	synopsis: "nfcd fake legitmark [--listen ADDR] [flags]",
	about: `Serves the fake Legitmark API, upload intents, S3 bucket, guide images and
test controls (POST /_fake/sr/UUID/advance|reject-qc|complete|cancel) until
interrupted. POST /_fake/faults injects a fault into a route, e.g.
{"route":"sr.create","kind":"commit_then_drop"} or {"route":"services",
"kind":"status","code":503,"times":2} (kinds: status, html, rate_limited,
delay, drop, commit_then_drop, commit_then_status, commit_then_delay,
expired_url, s3_warning; legitmarktest.FaultSpec); DELETE /_fake/faults
clears them. Point the daemon at it:
  [remote.legitmark]
  base_url = "http://ADDR"
  intent_url = "http://ADDR/intent"
  api_key = "leo_fake_0000000000000000"`,
	example: "nfcd fake legitmark --listen 127.0.0.1:9800 --auto-advance 5s",
	maxArgs: 0,
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func init() {
	fakeCmd.subs = []*command{fakeLegitmarkCmd, fakeLegitimateCmd}
	var (
		listen string
		keys   stringList
		o      legitmarktest.Options
	)
	fakeLegitmarkCmd.flags = func(fs *flag.FlagSet) {
		keys = nil
		fs.StringVar(&listen, "listen", "127.0.0.1:9800", "listen `address`")
		fs.Var(&keys, "key", "accepted API `key` (repeatable; default "+legitmarktest.DefaultKey+")")
		fs.BoolVar(&o.RequireUserToken, "require-user-token", false, "older model: require x-user-token from /api/actor/users")
		fs.IntVar(&o.Limits.AppPerMinute, "app-per-minute", 0, "requests per minute per key (`n`; 0: 1000, negative: off)")
		fs.IntVar(&o.Limits.UserPerMinute, "user-per-minute", 0, "requests per minute per actor token (`n`; 0: 60, negative: off)")
		fs.IntVar(&o.Limits.SRPerHour, "sr-per-hour", 0, "SR creates per hour (`n`; 0: 100, negative: off)")
		fs.BoolVar(&o.RetryAfter, "retry-after", false, "send Retry-After with a 429")
		fs.DurationVar(&o.PresignExpiry, "presign-expiry", 300*time.Second, "presigned URL lifetime")
		fs.BoolVar(&o.SubmitSupplementNull, "submit-supplement-null", false, "answer a submit with QC/null (SDK fixture) instead of QC/PENDING")
		fs.BoolVar(&o.ItemTypeQuirk, "item-type-quirk", false, `write item.type as "undefined" with the type under item.types (doc example)`)
		fs.DurationVar(&o.AutoAdvance, "auto-advance", 0, "move submitted SRs along by themselves at this `pace` (0: only by /_fake controls)")
		fs.BoolVar(&o.Reject, "reject", false, "auto-advance ends in COMPLETE/REJECTED (not authentic)")
		fs.BoolVar(&o.KeepUploads, "keep-uploads", false, "keep the uploaded bytes (GET them back from the bucket)")
	}
	fakeLegitmarkCmd.run = func(e *env, _ []string) error {
		if _, _, err := net.SplitHostPort(listen); err != nil {
			return usageError("--listen: %v", err)
		}
		if o.PresignExpiry <= 0 {
			return usageError("--presign-expiry must be positive")
		}
		o.Keys = keys
		log, err := newDaemonLogger(e.stderr, "info")
		if err != nil {
			return err
		}
		o.Log = log
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return legitmarktest.ListenAndServe(ctx, listen, o, func(a net.Addr) {
			fmt.Fprintf(e.stdout, "listening on http://%s\n", a)
		})
	}
}
