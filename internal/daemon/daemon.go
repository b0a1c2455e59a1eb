// Package daemon runs nfcd as a service. It only wires and runs the parts of
// the tap path (docs/architecture.md): readers (internal/pcsc or the
// simulated reader) → tag reads (internal/tap) → the verdict stage
// (internal/judge: the replay ledger in internal/store, the remote
// verifier slot in internal/remoteverify, the verdict signature) → the
// WebSocket API (internal/ws) and its requests; beside them /metrics,
// /healthz, the local admin API (internal/admin) and the configuration
// reload (reload.go).
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/admin"
	"github.com/nfcd/nfcd/internal/buildinfo"
	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/filewatch"
	"github.com/nfcd/nfcd/internal/fleetstage"
	"github.com/nfcd/nfcd/internal/health"
	"github.com/nfcd/nfcd/internal/history"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/logging"
	"github.com/nfcd/nfcd/internal/metrics"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/reader"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/station"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/tlscert"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	"github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
	"github.com/nfcd/nfcd/internal/ws"
	"github.com/nfcd/nfcd/web"
)

// ShutdownTimeout bounds a clean shutdown: finish the tap in flight, record
// and publish it, close every socket with 1001.
const ShutdownTimeout = 5 * time.Second

// pruneInterval is how often the audit log is pruned by age when no taps
// arrive (every tap prunes too).
const pruneInterval = time.Hour

// historyConcurrency bounds the history.query calls in flight across all
// clients: each holds a page of up to 1,000 entries and its encoding
// (~140 KB), so clients that flood the daemon with queries cannot hold
// many at once (issue 13 §2). Two keep both cores of a kiosk busy.
const historyConcurrency = 2

// ReadersListType is the WebSocket request that lists the readers.
const ReadersListType = "readers.list"

// Options configures Run.
type Options struct {
	Config config.Config
	// ConfigFile is where Config came from: its permissions are checked
	// (config.CheckFile), and the daemon rereads it when it changes, when
	// Reload delivers and on `nfcd config reload`. "" means no file (the
	// defaults): there is nothing to reload.
	ConfigFile string
	// ConfigOptional makes a missing ConfigFile mean the defaults, as for
	// the packaged default path, instead of an error.
	ConfigOptional bool
	// Override, if set, is applied to every configuration read from
	// ConfigFile on reload, as it was to Config: command-line flags win
	// over the file.
	Override func(*config.Config)
	// Reload asks for the configuration file to be reread (SIGHUP).
	Reload <-chan struct{}
	// OnConfig is called with every configuration the daemon applies: the
	// one it starts with and each reloaded one (the log level is the
	// caller's).
	OnConfig func(config.Config)
	// NoWatch disables watching ConfigFile for changes.
	NoWatch bool
	// Metrics receives the daemon's metrics and is served at /metrics; nil
	// means a registry of the daemon's own.
	Metrics *metrics.Metrics
	// TraceAPDU logs every APDU without keys or MACs (pcsc.Options).
	TraceAPDU bool
	// AdminHandlers are more admin API methods (internal/admin) to serve
	// beside the daemon's own.
	AdminHandlers []AdminHandler
	StateDir      string
	// Simulate replaces the PC/SC readers with a simulated reader and a
	// demo profile whose keys are generated on first start.
	Simulate bool
	// RemoteFake (with Simulate) makes the simulated tags plain-mirror
	// tags that an in-process fake Legitimate service also knows, and
	// sends them to it for remote verification (the mode, timeout and
	// bounds of [remote.legitimate] if configured, else confirm).
	RemoteFake bool
	Version    string
	Log        *zap.Logger
	// Ready is called with the base URL once the server accepts connections.
	Ready func(url string)
	// Source, if set, replaces the PC/SC readers (tests).
	Source reader.Source
}

// daemon holds the parts Run wires together.
type daemon struct {
	opts     Options
	log      *zap.Logger
	store    *store.Store
	ledger   *healthLedger
	signer   *verdict.Signer
	server   *ws.Server
	pipeline *tap.Pipeline
	stage    *judge.Stage
	station  *station.Station // nil unless [remote.legitmark] is configured
	tokens   *token.Watcher
	tls      *tls.Config // nil: plain HTTP on loopback only
	ln       net.Listener
	// verifier is the remote verifier slot, nil when remote verification
	// is off; fake is the in-process service of RemoteFake.
	verifier *remoteverify.Verifier
	fake     *legitimatetest.Server
	// fleet is the fleet's part of the verdict stage; nil without [fleet].
	fleet   *fleetstage.Stage
	metrics *metrics.Metrics
	// mon is the PC/SC monitor; nil with a simulated or injected source.
	mon *pcsc.Monitor
	// demo is the simulated reader's demo profile, kept first on reload.
	demo    *profile.Profile
	started time.Time

	admin   *admin.Server
	adminLn net.Listener
	watcher *filewatch.Watcher
	// reloads carries reload requests to the serve loop, which applies
	// them one at a time.
	reloads chan reloadRequest

	// metricsPublic is config metrics_public, swapped on reload.
	metricsPublic atomic.Bool

	cfgMu sync.Mutex
	cfg   config.Config // the configuration in force
}

// Run runs the daemon until ctx is done, then shuts down cleanly within
// ShutdownTimeout. Cancellation is not an error.
func Run(ctx context.Context, opts Options) error {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Metrics == nil {
		bi := buildinfo.Get()
		opts.Metrics = metrics.New(metrics.Build{Version: bi.Version, Commit: bi.Commit})
	}
	d := &daemon{opts: opts, log: opts.Log, metrics: opts.Metrics, cfg: opts.Config, started: time.Now(), reloads: make(chan reloadRequest)}
	if err := d.start(); err != nil {
		return err
	}
	defer d.store.Close()
	if d.fleet != nil {
		defer d.fleet.Close()
	}
	if d.fake != nil {
		defer d.fake.Close()
	}
	return d.serve(ctx)
}

// start opens the state and builds every part; on error nothing is left
// open.
func (d *daemon) start() (err error) {
	cfg := d.opts.Config
	paths := statedir.PathsOf(d.opts.StateDir)
	tightened, err := paths.Prepare()
	if err != nil {
		return err
	}
	if tightened {
		d.log.Warn("state directory was accessible by other users; made it private (0700)", zap.String("dir", paths.Dir))
	}
	if f := d.opts.ConfigFile; f != "" && !(d.opts.ConfigOptional && missing(f)) {
		warning, err := config.CheckFile(f, &cfg)
		if err != nil {
			return err
		}
		if warning != "" {
			// Loud: at error level on every start until fixed.
			d.log.Error("configuration file readable by other users", zap.String("problem", warning))
		}
	}
	if d.store, err = store.Open(paths.DB, store.Options{MaxAge: cfg.AuditMaxAge.Duration, MaxEntries: cfg.AuditMaxEntries}); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			d.store.Close()
		}
	}()
	if d.signer, err = paths.Signer(d.store); err != nil {
		return err
	}
	profiles, src, err := d.source(paths)
	if err != nil {
		return err
	}
	d.metricsPublic.Store(cfg.MetricsPublic)
	d.pipeline = tap.New(tap.Config{Source: src, Profiles: profiles, Originality: cfg.Originality, Log: d.log})
	stage := judge.Config{Signer: d.signer, Metrics: d.metrics, Log: d.log}
	var ledger judge.Ledger = d.store
	if d.verifier, err = d.remote(src); err != nil {
		return err
	}
	defer func() {
		if err != nil && d.fake != nil {
			d.fake.Close()
		}
	}()
	if f := cfg.Fleet; f != nil {
		// The fleet check is part of the ledger step; its late verdicts
		// come back through the stage's fleet slot.
		if d.fleet, err = fleetstage.Open(context.Background(), *f, d.store, fleetstage.Options{
			KeyID: d.signer.KeyID(), Version: d.opts.Version, Log: d.log}); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				d.fleet.Close()
			}
		}()
		ledger, stage.Fleet = d.fleet, d.fleet
		d.metrics.SetFleet(d.fleetGauge)
	}
	if d.verifier != nil {
		// One commit records a batch and queues its remote verifications.
		var base remoteverify.QueueLedger = d.store
		if d.fleet != nil {
			base = d.fleet
		}
		ledger, stage.Remote = d.verifier.Ledger(base), d.verifier
		d.metrics.SetOutbox(d.outboxGauge)
	}
	d.ledger = &healthLedger{Ledger: ledger}
	stage.Ledger = d.ledger
	if al, ok := ledger.(judge.AsyncLedger); ok {
		// The stage signs while the store's journal write is under way.
		stage.Ledger = &healthAsyncLedger{healthLedger: d.ledger, async: al}
	}
	if sg, ok := src.(reader.Signaler); ok && cfg.Feedback {
		stage.Signaler = sg
	}
	if d.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if d.tls, err = d.tlsConfig(paths); err != nil {
		d.ln.Close()
		return err
	}
	pages := d.pages(kioskUI(cfg, profiles))
	tokens := token.Open(paths.Tokens)
	d.server, err = ws.NewServer(ws.Config{
		Addr:             d.ln.Addr().String(),
		AllowNonLoopback: cfg.AllowNonLoopback,
		TLS:              d.tls,
		HostNames:        cfg.HostNames,
		AllowedOrigins:   cfg.AllowedOrigins,
		CheckToken:       tokens.Check,
		Hello:            d.hello,
		Static:           pages,
		Metrics:          d.metrics,
		MaxConns:         cfg.MaxConnections,
		MaxConnsPerToken: cfg.MaxConnectionsPerToken,
	}, d.log)
	if err != nil {
		d.ln.Close()
		return err
	}
	d.server.Handle(ReadersListType, d.readers, ws.HandlerOptions{})
	d.server.Handle(history.RequestType, history.Handler(d.store), ws.HandlerOptions{MaxConcurrent: 2, MaxConcurrentTotal: historyConcurrency})
	remoteverify.Register(d.server, d.verifier, d.store)
	stage.Publisher = d.server
	if lm := cfg.Remote.Legitmark; lm != nil {
		if d.station, err = d.newStation(*lm, paths); err != nil {
			d.ln.Close()
			return err
		}
		d.station.Register(d.server)
		pages.Handle(station.MediaPath, d.station.MediaHandler())
		stage.Publisher = tapNotes{Publisher: d.server, station: d.station}
	}
	d.stage = judge.New(stage)
	// `nfcd token revoke` edits the token file from another process: the
	// watcher closes the revoked token's live connections.
	d.tokens = &token.Watcher{Store: tokens, Log: d.log, Changed: func() { d.server.Reauthorize(tokens.Has) }}
	d.startAdmin(paths)
	d.startWatch()
	if d.opts.OnConfig != nil {
		d.opts.OnConfig(cfg)
	}
	d.log.Info("ready", zap.Stringer("addr", d.ln.Addr()), zap.Int("profiles", len(profiles)), zap.String("key_id", d.signer.KeyID()),
		zap.String("version", d.opts.Version), zap.Duration("startup", time.Since(d.started)), logging.ServiceEvent)
	return nil
}

// newStation builds the authentication station: the Legitmark client (its
// actor token in the state directory), the workflow journalled in the
// store, photos spooled in the state directory.
func (d *daemon) newStation(cfg legitmark.Config, paths statedir.Paths) (*station.Station, error) {
	c, err := legitmark.New(cfg, legitmark.Options{Log: d.log, Tokens: station.TokenFile{Path: paths.LegitmarkToken},
		UserAgent: "nfcd/" + d.opts.Version})
	if err != nil {
		return nil, fmt.Errorf("remote.legitmark: %w", err)
	}
	w := legitmark.NewWorkflow(c, d.store.SRJournal(), d.log)
	return station.New(station.Options{Workflow: w, Publisher: d.server, SpoolDir: paths.LegitmarkSpool, Log: d.log})
}

// tapNotes publishes the verdict stage's events and tells the station
// about each judged tap (an SR is for the last authentic one).
type tapNotes struct {
	judge.Publisher
	station *station.Station
}

func (p tapNotes) Publish(typ string, payload any) uint64 {
	// The station knows the tap before any client can act on its event.
	if tr, ok := payload.(judge.TagRead); ok {
		p.station.NoteTap(tr.UID, tr.Verdict, time.Now())
	}
	return p.Publisher.Publish(typ, payload)
}

// Prepare is the publisher's Prepare (judge.Preparer) with the station
// told at publication.
func (p tapNotes) Prepare(typ string, payload any) interface{ Publish() uint64 } {
	tr, isTap := payload.(judge.TagRead)
	pr, ok := p.Publisher.(judge.Preparer)
	if !ok {
		return publishLater{p, typ, payload}
	}
	ev := pr.Prepare(typ, payload)
	if !isTap {
		return ev
	}
	return notedTap{ev, p.station, tr.UID, tr.Verdict}
}

// publishLater is the Prepare of a publisher that has none.
type publishLater struct {
	p       judge.Publisher
	typ     string
	payload any
}

func (l publishLater) Publish() uint64 { return l.p.Publish(l.typ, l.payload) }

// notedTap is a prepared tag.read that tells the station at publication.
type notedTap struct {
	ev           interface{ Publish() uint64 }
	station      *station.Station
	uid, verdict string
}

func (n notedTap) Publish() uint64 {
	n.station.NoteTap(n.uid, n.verdict, time.Now())
	return n.ev.Publish()
}

// tlsConfig returns the TLS configuration of the listener: the operator's
// certificate (tls_cert, tls_key), or, for a listener beyond loopback
// without one, the state directory's self-signed certificate, made on
// first need. It returns nil for a loopback listener without tls_cert.
func (d *daemon) tlsConfig(paths statedir.Paths) (*tls.Config, error) {
	cfg := d.opts.Config
	if cfg.TLSCert == "" && cfg.Loopback() {
		return nil, nil
	}
	var cert tls.Certificate
	var err error
	if cfg.TLSCert != "" {
		if cert, err = tlscert.Load(cfg.TLSCert, cfg.TLSKey); err != nil {
			return nil, err
		}
	} else {
		var created bool
		cert, created, err = tlscert.Ensure(paths.TLS, paths.TLSCert, tlscert.Options{Hosts: d.hostNames(), IPs: d.listenIPs()})
		if err != nil {
			return nil, err
		}
		if created {
			d.log.Warn("made a self-signed TLS certificate: network clients pin its fingerprint (nfcd key show)",
				zap.String("path", paths.TLS), zap.String("sha256", tlscert.Fingerprint(cert.Certificate[0])))
		}
	}
	d.log.Info("TLS", zap.String("sha256", tlscert.Fingerprint(cert.Certificate[0])))
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// hostNames are the names a generated certificate is made for: host_names
// and the machine's own name.
func (d *daemon) hostNames() []string {
	names := append([]string(nil), d.opts.Config.HostNames...)
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " _/:") {
		names = append(names, h)
	}
	return names
}

// listenIPs are the addresses a generated certificate is made for: the
// listening address, or every interface's when it listens on all.
func (d *daemon) listenIPs() []net.IP {
	ta, ok := d.ln.Addr().(*net.TCPAddr)
	if !ok {
		return nil
	}
	if !ta.IP.IsUnspecified() {
		return []net.IP{ta.IP}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ips = append(ips, n.IP)
		}
	}
	return ips
}

// pages serves what the listener offers besides the WebSocket API: the
// kiosk page (with its settings ui) and the JS client, /healthz and
// /metrics.
func (d *daemon) pages(ui web.UI) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/healthz", health.Handler(d.health))
	mux.Handle("/metrics", d.metricsHandler())
	mux.Handle("/", web.NewHandler(ui))
	return mux
}

// kioskUI is what the kiosk page is told: the [kiosk] settings and how
// each profile's tags are presented.
func kioskUI(cfg config.Config, profiles profile.Set) web.UI {
	ui := web.UI{VerdictTimeout: cfg.Kiosk.VerdictTimeout.Duration, Sound: cfg.Kiosk.Sound, Profiles: map[string]web.ProfileDisplay{}}
	for _, p := range profiles {
		if d := p.Display; p.Name != "" && (d.DisplayName != "" || d.LogoURL != "") {
			ui.Profiles[p.Name] = web.ProfileDisplay{Name: d.DisplayName, LogoURL: d.LogoURL}
		}
	}
	return ui
}

// source returns the profiles and the readers: the configured PC/SC
// readers, or the simulated reader with its demo profile first.
func (d *daemon) source(paths statedir.Paths) (profile.Set, reader.Source, error) {
	cfg := d.opts.Config
	profiles, err := cfg.CompileProfiles()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case d.opts.Source != nil:
		return profiles, d.opts.Source, nil
	case d.opts.Simulate:
		sim, demo, err := simulate.NewDemo(paths.Demo, simulate.Config{Interval: cfg.SimulateInterval.Duration, Marks: d.store, Plain: d.opts.RemoteFake})
		if err != nil {
			return nil, nil, err
		}
		d.demo = &demo
		return append(profile.Set{demo}, profiles...), sim, nil
	}
	mon, err := pcsc.Open(context.Background(), d.log, pcsc.Options{
		Include:   cfg.IncludeReaders,
		Exclude:   cfg.ExcludeReaders,
		Feedback:  cfg.Feedback,
		Metrics:   d.metrics,
		TraceAPDU: d.opts.TraceAPDU,
	})
	if err != nil {
		return nil, nil, err
	}
	d.mon = mon
	return profiles, mon.Source(), nil
}

// remote builds the remote verifier slot from [remote.legitimate] (or the
// in-process fake of RemoteFake); it returns nil when remote verification
// is off.
func (d *daemon) remote(src reader.Source) (*remoteverify.Verifier, error) {
	leg := d.opts.Config.Remote.Legitimate
	if d.opts.RemoteFake {
		sim, ok := src.(*simulate.Source)
		if !ok {
			return nil, errors.New("remote fake: needs the simulated reader (--simulate)")
		}
		uids, key := sim.RemoteTags()
		var tags []legitimatetest.Tag
		for i, u := range uids {
			tags = append(tags, legitimatetest.Tag{UID: fmt.Sprintf("%X", u[:]), Key: key, Name: fmt.Sprintf("Simulated tag %d", i+1),
				SerialNumber: int64(i + 1), Claimable: true, RecoverEnabled: true})
		}
		d.fake = legitimatetest.NewServer(legitimatetest.Options{}, tags...)
		l := remote.Legitimate{Mode: remote.Confirm}
		if leg != nil {
			l = *leg
		}
		// The fake gets no API key: it is not the real service.
		l.Config = verifyclient.Config{BaseURL: d.fake.URL, Timeout: l.Timeout}
		l.Match = []string{simulate.DemoURL}
		if l.Mode == remote.LocalOnly {
			l.Mode = remote.Confirm
		}
		if err := l.Validate(); err != nil {
			return nil, err
		}
		leg = &l
		d.log.Info("remote fake", zap.String("base_url", d.fake.URL), zap.Int("tags", len(tags)))
	}
	if leg == nil || leg.Mode == remote.LocalOnly {
		return nil, nil
	}
	opts, err := leg.Options(d.opts.Version)
	if err != nil {
		return nil, fmt.Errorf("remote.legitimate: %w", err)
	}
	opts.Log = d.log.Named("legitimate")
	client, err := verifyclient.New(opts)
	if err != nil {
		return nil, err
	}
	v, err := remoteverify.New(remoteverify.Config{Legitimate: leg, Client: client, Outbox: d.store, Log: d.log})
	if err != nil {
		return nil, err
	}
	d.log.Info("remote verification", zap.String("mode", string(leg.Mode)), zap.Duration("timeout", leg.Timeout.Duration))
	return v, nil
}

// serve runs the parts until ctx is done or one of them fails, then shuts
// them down in order within one ShutdownTimeout: the pipeline finishes the
// tap in flight, the verdict stage records and publishes it, then the
// server closes every socket with 1001.
func (d *daemon) serve(ctx context.Context) error {
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	// The stage and the server outlive ctx: the shutdown stops them after
	// the pipeline.
	stageCtx, stopStage := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStage()

	taps := make(chan tap.Event, 64)
	pipeDone := make(chan error, 1)
	stageDone := make(chan error, 1)
	serverDone := make(chan error, 1)
	// The remote verifier outlives the stage, whose updates it delivers.
	remoteCtx, stopRemote := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRemote()
	remoteDone := make(chan error, 1)
	if d.verifier != nil {
		go func() { remoteDone <- d.verifier.Run(remoteCtx) }()
	} else {
		remoteDone <- nil
	}
	// The fleet's drain loop outlives the stage too: its late replays go
	// to the stage, and what it has not sent stays queued.
	fleetCtx, stopFleet := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFleet()
	fleetDone := make(chan error, 1)
	if d.fleet != nil {
		go func() { fleetDone <- d.fleet.Run(fleetCtx) }()
	} else {
		fleetDone <- nil
	}
	go func() { serverDone <- d.server.Serve(context.WithoutCancel(ctx), d.ln) }()
	tokensDone := make(chan struct{})
	go func() {
		defer close(tokensDone)
		d.tokens.Run(runCtx)
	}()
	go func() { stageDone <- d.stage.Run(stageCtx, taps) }()
	stationCtx, stopStation := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStation()
	stationDone := make(chan error, 1)
	if d.station != nil {
		go func() { stationDone <- d.station.Run(stationCtx) }()
	} else {
		stationDone <- nil
	}
	// The admin API and the file watch end with the run.
	var aux sync.WaitGroup
	defer aux.Wait()
	if d.adminLn != nil {
		aux.Add(1)
		go func() {
			defer aux.Done()
			if err := d.admin.Serve(runCtx, d.adminLn); err != nil {
				d.log.Warn("admin api stopped", zap.Error(err))
			}
		}()
	}
	if d.watcher != nil {
		aux.Add(1)
		go func() {
			defer aux.Done()
			d.watcher.Run(runCtx, func() { d.requestReload(runCtx, reasonFile) })
		}()
	}
	go func() {
		err := d.pipeline.Run(runCtx, taps)
		close(taps) // the stage settles what is queued, then returns
		pipeDone <- err
	}()
	if d.opts.Ready != nil {
		d.opts.Ready(pageURL(d.tls != nil, d.ln.Addr()))
	}

	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-prune.C:
			if _, err := d.store.Prune(); err != nil {
				d.log.Warn("audit prune failed", zap.Error(err))
			}
		case <-d.opts.Reload:
			d.reload(reasonSignal)
		case req := <-d.reloads:
			req.reply <- d.reload(req.reason)
		case runErr = <-pipeDone:
			pipeDone <- runErr
			break loop
		case runErr = <-serverDone:
			serverDone <- runErr
			break loop
		}
	}

	// One deadline bounds the whole shutdown; each step waits for what is
	// left of it.
	sd, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	keep := func(err error, ok bool, part string) {
		switch {
		case !ok:
			d.log.Warn("shutdown deadline passed", zap.String("waiting_for", part))
		case runErr == nil:
			runErr = err
		}
	}
	stopRun()
	<-tokensDone // returns at once on runCtx
	err, ok := await(sd, pipeDone)
	keep(err, ok, "pipeline")
	err, ok = await(sd, stageDone)
	keep(err, ok, "verdict stage")
	stopStage()
	// Requests in flight are canceled; their items stay in the outbox.
	stopRemote()
	err, ok = await(sd, remoteDone)
	keep(err, ok, "remote verifier")
	stopFleet()
	err, ok = await(sd, fleetDone)
	keep(err, ok, "fleet")
	d.server.Shutdown(sd)
	// Past the deadline the server drops its last sockets at once.
	err, ok = await(context.WithoutCancel(sd), serverDone)
	keep(err, ok, "server")
	// The station's uploads and status polls stop where they are: the
	// journal and the spool resume them on the next start.
	stopStation()
	err, ok = await(sd, stationDone)
	keep(err, ok, "station")
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	d.log.Info("stopped", zap.Duration("uptime", time.Since(d.started)), logging.ServiceEvent)
	return runErr
}

// missing reports whether nothing exists at path.
func missing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// pageURL is the URL that opens the kiosk page on addr in a browser on
// this machine: https when the listener serves TLS. An address of all
// interfaces (0.0.0.0, or [::] as Go reports a dual-stack listener) is not
// a Host the server accepts, so 127.0.0.1 stands in.
func pageURL(tls bool, addr net.Addr) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

// await returns what done delivers, or ok false when ctx is done first.
func await(ctx context.Context, done <-chan error) (err error, ok bool) {
	select {
	case err := <-done:
		return err, true
	case <-ctx.Done():
		return nil, false
	}
}

// hello describes the daemon for each new connection.
func (d *daemon) hello() ws.HelloInfo {
	return ws.HelloInfo{
		ServerVersion: d.opts.Version,
		Readers:       d.pipeline.Readers(),
		PCSC:          tap.ServiceState{State: d.pipeline.Service()},
		VerdictKeyID:  d.signer.KeyID(),
	}
}

// readersResult is the result of readers.list.
type readersResult struct {
	Readers []tap.ReaderState `json:"readers"`
	// PCSC is the state of the PC/SC service: a page says "reader
	// service down" rather than "no reader" when it is not running.
	PCSC tap.ServiceState `json:"pcsc"`
}

func (d *daemon) readers(context.Context, *ws.Request) (any, error) {
	return readersResult{Readers: d.pipeline.Readers(), PCSC: tap.ServiceState{State: d.pipeline.Service()}}, nil
}
