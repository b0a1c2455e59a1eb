// Package metrics is nfcd's Prometheus instrumentation: one registry with
// the Go runtime and process collectors and the nfcd metrics, small methods
// that the tap path, the reader monitor, the WebSocket server and the
// remote client call without knowing Prometheus, and the /metrics handler.
//
// Names follow the Prometheus conventions (base units, _total for
// counters, snake case, an nfcd_ prefix):
//
//	nfcd_taps_total{reader,verdict}                  counter
//	nfcd_tap_duration_seconds                        histogram: card present → verdict
//	nfcd_apdu_errors_total{sw}                       counter, by status word (hex)
//	nfcd_pcsc_context_resets_total                   counter
//	nfcd_readers_connected                           gauge
//	nfcd_ws_clients                                  gauge
//	nfcd_ws_send_dropped_total                       counter: messages dropped, queue full
//	nfcd_ws_slow_client_disconnects_total            counter: clients closed for staying behind
//	nfcd_remote_requests_total{endpoint,outcome}     counter
//	nfcd_remote_request_duration_seconds{endpoint}   histogram
//	nfcd_outbox_depth                                gauge
//	nfcd_outbox_oldest_age_seconds                   gauge
//	nfcd_fleet_connected                             gauge (fleet.go)
//	nfcd_fleet_queue_depth{queue}                    gauge
//	nfcd_fleet_oldest_unshipped_age_seconds          gauge
//	nfcd_build_info{version,commit}                  gauge, always 1
//
// Every method is safe on a nil *Metrics (it does nothing), so a component
// built without metrics needs no special case. The per-tap methods do not
// allocate once a label combination has been seen: labelled children are
// cached in copy-on-write maps read with one atomic load.
package metrics

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Remote request outcomes, the values of the outcome label.
const (
	OutcomeOK          = "ok"           // 2xx, the answer was used
	OutcomeRejected    = "rejected"     // 4xx other than 429: the request or tag was refused
	OutcomeRateLimited = "rate_limited" // 429
	OutcomeServerError = "server_error" // 5xx
	OutcomeTimeout     = "timeout"      // no answer in time
	OutcomeNetwork     = "network_error"
)

// TapBuckets are the bounds of nfcd_tap_duration_seconds: a tap takes tens
// of milliseconds on a good reader and up to about a second on a slow one
// or with remote verification.
var TapBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5}

// RemoteBuckets are the bounds of nfcd_remote_request_duration_seconds.
var RemoteBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Build identifies the running binary in nfcd_build_info.
type Build struct {
	Version string
	Commit  string
}

// Metrics is the registry and nfcd's metrics in it.
type Metrics struct {
	reg *prometheus.Registry

	taps           *prometheus.CounterVec
	tapDuration    prometheus.Histogram
	apduErrors     *prometheus.CounterVec
	contextResets  prometheus.Counter
	readers        prometheus.Gauge
	wsClients      prometheus.Gauge
	wsDropped      prometheus.Counter
	wsSlowClosed   prometheus.Counter
	remoteRequests *prometheus.CounterVec
	remoteDuration *prometheus.HistogramVec

	mu          sync.Mutex // serialises cache updates
	tapCache    atomic.Pointer[map[tapKey]prometheus.Counter]
	swCache     atomic.Pointer[map[uint16]prometheus.Counter]
	remoteCache atomic.Pointer[map[remoteKey]remoteChildren]

	outbox atomic.Pointer[func() (int, time.Time)]
	fleet  atomic.Pointer[func() FleetStats]
}

type tapKey struct{ reader, verdict string }

type remoteKey struct{ endpoint, outcome string }

type remoteChildren struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New returns the metrics in a new registry that also holds the Go runtime
// and process collectors.
func New(b Build) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.taps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nfcd_taps_total",
		Help: "Tag reads that reached a verdict, by reader and verdict.",
	}, []string{"reader", "verdict"})
	m.tapDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "nfcd_tap_duration_seconds",
		Help:    "Time from a card appearing on a reader to its verdict.",
		Buckets: TapBuckets,
	})
	m.apduErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nfcd_apdu_errors_total",
		Help: "APDUs answered with an error status word, by status word.",
	}, []string{"sw"})
	m.contextResets = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nfcd_pcsc_context_resets_total",
		Help: "PC/SC contexts released and established again (service stopped, reader unavailable, invalid handle).",
	})
	m.readers = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "nfcd_readers_connected",
		Help: "Readers the daemon is watching.",
	})
	m.wsClients = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "nfcd_ws_clients",
		Help: "Connected WebSocket clients.",
	})
	m.wsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nfcd_ws_send_dropped_total",
		Help: "Messages not sent because a client's send queue was full.",
	})
	m.wsSlowClosed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nfcd_ws_slow_client_disconnects_total",
		Help: "WebSocket clients closed because they stayed behind after an overflow notice.",
	})
	m.remoteRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nfcd_remote_requests_total",
		Help: "Requests to remote verification APIs, by endpoint and outcome.",
	}, []string{"endpoint", "outcome"})
	m.remoteDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "nfcd_remote_request_duration_seconds",
		Help:    "Duration of requests to remote verification APIs, by endpoint.",
		Buckets: RemoteBuckets,
	}, []string{"endpoint"})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "nfcd_build_info",
		Help:        "The running nfcd build; always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit},
	})
	info.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.taps, m.tapDuration, m.apduErrors, m.contextResets, m.readers,
		m.wsClients, m.wsDropped, m.wsSlowClosed, m.remoteRequests, m.remoteDuration,
		info, outboxCollector{m}, fleetCollector{m},
	)
	m.tapCache.Store(&map[tapKey]prometheus.Counter{})
	m.swCache.Store(&map[uint16]prometheus.Counter{})
	m.remoteCache.Store(&map[remoteKey]remoteChildren{})
	return m
}

// Registry returns the registry, for tests and for collectors added later.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format. Who may read
// it (loopback, token) is the server's business.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:      m.reg, // counts its own errors in promhttp_metric_handler_errors_total
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// cached returns the child for key from the copy-on-write map in p,
// creating it with mk on first use.
func cached[K comparable, V any](m *Metrics, p *atomic.Pointer[map[K]V], key K, mk func() V) V {
	if v, ok := (*p.Load())[key]; ok {
		return v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *p.Load()
	if v, ok := old[key]; ok {
		return v
	}
	v := mk()
	next := make(map[K]V, len(old)+1)
	for k, e := range old {
		next[k] = e
	}
	next[key] = v
	p.Store(&next)
	return v
}

// Tap counts a tag read that reached verdict on reader, and took from the
// card appearing to the verdict.
func (m *Metrics) Tap(reader, verdict string, took time.Duration) {
	if m == nil {
		return
	}
	c := cached(m, &m.tapCache, tapKey{reader, verdict}, func() prometheus.Counter {
		return m.taps.WithLabelValues(reader, verdict)
	})
	c.Inc()
	m.tapDuration.Observe(took.Seconds())
}

// APDUError counts an APDU answered with the error status word sw.
func (m *Metrics) APDUError(sw uint16) {
	if m == nil {
		return
	}
	cached(m, &m.swCache, sw, func() prometheus.Counter {
		return m.apduErrors.WithLabelValues(fmt.Sprintf("%04X", sw))
	}).Inc()
}

// PCSCContextReset counts a PC/SC context released and established again.
func (m *Metrics) PCSCContextReset() {
	if m == nil {
		return
	}
	m.contextResets.Inc()
}

// SetReaders sets the number of readers being watched.
func (m *Metrics) SetReaders(n int) {
	if m == nil {
		return
	}
	m.readers.Set(float64(n))
}

// SetWSClients sets the number of connected WebSocket clients.
func (m *Metrics) SetWSClients(n int) {
	if m == nil {
		return
	}
	m.wsClients.Set(float64(n))
}

// WSDropped counts a message dropped because a client's queue was full.
func (m *Metrics) WSDropped() {
	if m == nil {
		return
	}
	m.wsDropped.Inc()
}

// WSSlowClientClosed counts a client closed for staying behind.
func (m *Metrics) WSSlowClientClosed() {
	if m == nil {
		return
	}
	m.wsSlowClosed.Inc()
}

// RemoteRequest counts a request to a remote API endpoint (a fixed name
// such as "verify", never a URL) with its outcome (Outcome…) and duration.
func (m *Metrics) RemoteRequest(endpoint, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	c := cached(m, &m.remoteCache, remoteKey{endpoint, outcome}, func() remoteChildren {
		return remoteChildren{
			count:    m.remoteRequests.WithLabelValues(endpoint, outcome),
			duration: m.remoteDuration.WithLabelValues(endpoint),
		}
	})
	c.count.Inc()
	c.duration.Observe(took.Seconds())
}

// SetOutbox makes every scrape ask f for the outbox: how many results wait
// to be sent and when the oldest was queued (ignored when depth is 0).
// nil removes the outbox metrics from the output.
func (m *Metrics) SetOutbox(f func() (depth int, oldest time.Time)) {
	if m == nil {
		return
	}
	if f == nil {
		m.outbox.Store(nil)
		return
	}
	m.outbox.Store(&f)
}

var (
	outboxDepthDesc = prometheus.NewDesc("nfcd_outbox_depth",
		"Results waiting in the outbox to be sent to the remote API.", nil, nil)
	outboxAgeDesc = prometheus.NewDesc("nfcd_outbox_oldest_age_seconds",
		"Age of the oldest result in the outbox; 0 when it is empty.", nil, nil)
)

// outboxCollector reads the outbox at scrape time, so that the age keeps
// growing while nothing is sent.
type outboxCollector struct{ m *Metrics }

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDepthDesc
	ch <- outboxAgeDesc
}

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.outbox.Load()
	if f == nil {
		return
	}
	depth, oldest := (*f)()
	age := 0.0
	if depth > 0 && !oldest.IsZero() {
		age = max(time.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(outboxDepthDesc, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, age)
}
