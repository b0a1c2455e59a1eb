package daemon

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nfcd/nfcd/internal/health"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/metrics"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
)

// healthLedger is the replay ledger as health sees it: whether its last
// durable step succeeded.
type healthLedger struct {
	judge.Ledger
	failed atomic.Bool
}

func (l *healthLedger) Record(ctx context.Context, vs []*verdict.Verdict) error {
	err := l.Ledger.Record(ctx, vs)
	l.failed.Store(err != nil)
	return err
}

// healthAsyncLedger is healthLedger over a judge.AsyncLedger (the store
// without a remote slot): the durable step's outcome is Wait's.
type healthAsyncLedger struct {
	*healthLedger
	async judge.AsyncLedger
	// The stage begins at most a few batches before it waits for the
	// first (judge.Pipeliner): one commit each, reused in turn.
	commits [8]healthCommit
	next    int
}

func (l *healthAsyncLedger) Begin(ctx context.Context, vs []*verdict.Verdict) (interface{ Wait() error }, error) {
	c, err := l.async.Begin(ctx, vs)
	if err != nil {
		l.failed.Store(true)
		return nil, err
	}
	hc := &l.commits[l.next%len(l.commits)]
	l.next++
	*hc = healthCommit{inner: c, failed: &l.failed}
	if p, ok := c.(judge.Pipeliner); ok {
		hc.done = p.Done()
		return (*healthPipeCommit)(hc), nil
	}
	return hc, nil
}

type healthCommit struct {
	inner  interface{ Wait() error }
	failed *atomic.Bool
	done   <-chan struct{}
}

// healthPipeCommit is a healthCommit over a judge.Pipeliner.
type healthPipeCommit healthCommit

func (c *healthPipeCommit) Wait() error           { return (*healthCommit)(c).Wait() }
func (c *healthPipeCommit) Done() <-chan struct{} { return c.done }

func (c *healthCommit) Wait() error {
	err := c.inner.Wait()
	c.failed.Store(err != nil)
	return err
}

// pcscStates maps the monitor's view of the PC/SC service to the health
// document's.
var pcscStates = map[pcsc.ServiceState]health.PCSCState{
	pcsc.StateStarting:  health.PCSCStarting,
	pcsc.StateRunning:   health.PCSCRunning,
	pcsc.StateNoService: health.PCSCNoService,
	pcsc.StateDenied:    health.PCSCDenied,
}

// health reports whether the daemon can serve taps (/healthz).
func (d *daemon) health(ctx context.Context) health.Report {
	r := health.Report{Version: d.opts.Version, Time: time.Now().UTC()}
	if d.mon != nil {
		st, since := d.mon.ServiceState()
		r.PCSC = health.PCSC{State: pcscStates[st], Since: since.UTC()}
	} else {
		r.PCSC = health.PCSC{State: health.PCSCSimulated, Since: d.started.UTC()}
	}
	for _, rd := range d.pipeline.Readers() {
		r.Readers = append(r.Readers, health.Reader{Name: rd.Name, CardPresent: rd.CardPresent})
	}
	r.Store.OK = !d.ledger.failed.Load()
	if d.verifier != nil {
		st := d.verifier.Status()
		r.Remote = health.Remote{Configured: true, Reachable: true, OutboxDepth: st.Count}
		for _, it := range st.Items {
			// The verifier marks the taps it could not deliver and pauses.
			if it.State == store.OutboxUnreachable {
				r.Remote.Reachable = false
				break
			}
		}
	}
	if d.fleet != nil {
		r.Fleet = health.Fleet{Configured: true}
		if st, err := d.fleet.Status(ctx); err == nil {
			r.Fleet.Connected = st.Connected
			r.Fleet.QueuedAdvances, r.Fleet.UnshippedTaps = st.QueuedAdvances, st.UnshippedTaps
			r.Fleet.OldestUnshippedSeconds = st.OldestAge(time.Now()).Seconds()
		}
	}
	return r
}

// fleetGauge reports the fleet link to /metrics.
func (d *daemon) fleetGauge() metrics.FleetStats {
	st, err := d.fleet.Status(context.Background())
	if err != nil {
		return metrics.FleetStats{}
	}
	return metrics.FleetStats{Connected: st.Connected, Advances: st.QueuedAdvances, Taps: st.UnshippedTaps, Oldest: st.Oldest}
}

// outboxGauge reports the remote-verification outbox to /metrics: how many
// taps wait and since when the oldest.
func (d *daemon) outboxGauge() (int, time.Time) {
	st := d.verifier.Status()
	if len(st.Items) == 0 {
		return st.Count, time.Time{}
	}
	return st.Count, st.Items[0].Created
}

// metricsHandler serves /metrics to loopback clients that present an API
// token (Authorization: Bearer), or to every loopback client when
// metrics_public is set. The listener may be exposed with
// allow_non_loopback; the metrics never are.
func (d *daemon) metricsHandler() http.Handler {
	h := d.metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "metrics are served to loopback clients only", http.StatusForbidden)
			return
		}
		if !d.metricsPublic.Load() {
			scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			_, ok := d.tokens.Store.Check(strings.TrimSpace(tok))
			if subtle.ConstantTimeCompare([]byte(strings.ToLower(scheme)), []byte("bearer")) != 1 || !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="nfcd"`)
				http.Error(w, "an API token is required (Authorization: Bearer …), or set metrics_public = true", http.StatusUnauthorized)
				return
			}
		}
		if d.mon == nil && d.pipeline != nil {
			// Without PC/SC (the simulated reader) no monitor counts the
			// readers: count the ones the pipeline has, as /healthz does.
			d.metrics.SetReaders(len(d.pipeline.Readers()))
		}
		h.ServeHTTP(w, r)
	})
}
