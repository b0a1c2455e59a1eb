// Package daemon runs nfcd as a service: reader events → tag read → local
// SUN verdict → counter check (replays) → signed verdict event → every
// subscribed WebSocket client, with an audit log in the embedded store.
package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/pcsc"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/ws"
	"github.com/nfcd/nfcd/web"
)

// Verdicts beyond the tap package's: an authentic SUN whose counter is not
// above the highest one already accepted for its UID.
const Replayed = "replayed"

// ShutdownTimeout bounds a clean shutdown: finish the tap in flight, flush
// the store, close every socket with 1001.
const ShutdownTimeout = 5 * time.Second

// Options configures Run.
type Options struct {
	Config   config.Config
	StateDir string
	// Simulate replaces the PC/SC readers with a simulated reader and a
	// demo profile whose keys are generated on first start.
	Simulate bool
	Version  string
	Log      *zap.Logger
	// Ready is called with the base URL once the server accepts connections.
	Ready func(url string)
	// Source, if set, replaces the PC/SC readers (tests).
	Source tap.Source
}

// Daemon is a running nfcd.
type Daemon struct {
	opts   Options
	log    *zap.Logger
	store  *store.Store
	tokens *token.Store
	key    ed25519.PrivateKey
	keyID  string
	server *ws.Server
	sim    *simSource

	mu      sync.Mutex
	readers map[string]*readerState
}

type readerState struct {
	Name        string `json:"name"`
	CardPresent bool   `json:"card_present"`
}

// StatePaths are the files in a state directory.
type StatePaths struct{ Dir, DB, Tokens, Demo, PublicKey string }

// Paths returns the files nfcd keeps in dir.
func Paths(dir string) StatePaths {
	return StatePaths{
		Dir:    dir,
		DB:     filepath.Join(dir, "nfcd.db"),
		Tokens: filepath.Join(dir, "tokens.json"),
		Demo:   filepath.Join(dir, "simulate-profile.toml"),
		// The verdict public key, raw 32 bytes, for `nfcd key show` while
		// the daemon holds the store.
		PublicKey: filepath.Join(dir, "verdict-key.pub"),
	}
}

// Run runs the daemon until ctx is done, then shuts down cleanly within
// ShutdownTimeout. Cancellation is not an error.
func Run(ctx context.Context, opts Options) error {
	d, ln, err := start(opts)
	if err != nil {
		return err
	}
	return d.serve(ctx, ln)
}

func start(opts Options) (*Daemon, net.Listener, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	paths := Paths(opts.StateDir)
	if err := os.MkdirAll(paths.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("state dir: %w", err)
	}
	d := &Daemon{opts: opts, log: opts.Log, readers: map[string]*readerState{}}
	cfg := opts.Config
	st, err := store.Open(paths.DB, store.Options{MaxAge: cfg.AuditMaxAge.Duration, MaxEntries: cfg.AuditMaxEntries})
	if err != nil {
		return nil, nil, err
	}
	d.store = st
	fail := func(err error) (*Daemon, net.Listener, error) {
		st.Close()
		return nil, nil, err
	}
	if d.key, d.keyID, err = st.SigningKey(); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(paths.PublicKey, d.key.Public().(ed25519.PublicKey), 0o644); err != nil {
		return fail(fmt.Errorf("public key file: %w", err))
	}
	d.tokens = token.Open(paths.Tokens)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	d.server, err = ws.NewServer(ws.Config{
		Addr:             ln.Addr().String(),
		AllowNonLoopback: cfg.AllowNonLoopback,
		AllowedOrigins:   cfg.AllowedOrigins,
		CheckToken:       d.tokens.Check,
		Backend:          d,
		Static:           web.Handler(),
	}, d.log.Named("ws"))
	if err != nil {
		ln.Close()
		return fail(err)
	}
	return d, ln, nil
}

func (d *Daemon) serve(ctx context.Context, ln net.Listener) error {
	defer d.store.Close()
	profiles, src, err := d.source(ctx)
	if err != nil {
		ln.Close()
		return err
	}
	pipe := tap.New(tap.Config{
		Source:      src,
		Profiles:    profiles,
		Emit:        d.handle,
		Originality: d.opts.Config.Originality,
		Log:         d.log.Named("tap"),
	})
	serverCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	serverDone := make(chan error, 1)
	go func() { serverDone <- d.server.Serve(serverCtx, ln) }()
	if d.opts.Ready != nil {
		d.opts.Ready("http://" + ln.Addr().String() + "/")
	}
	d.log.Info("ready", zap.Stringer("addr", ln.Addr()), zap.Int("profiles", len(profiles)), zap.String("key_id", d.keyID))

	pipeDone := make(chan error, 1)
	go func() { pipeDone <- pipe.Run(ctx) }()
	prune := time.NewTicker(time.Hour)
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
		case runErr = <-pipeDone:
			pipeDone <- runErr
			break loop
		case runErr = <-serverDone:
			serverDone <- runErr
			break loop
		}
	}
	// Shutdown: the pipeline finishes the tap in flight, then the server
	// closes every socket with 1001 (going away).
	deadline := time.After(ShutdownTimeout)
	select {
	case err := <-pipeDone:
		if runErr == nil {
			runErr = err
		}
	case <-deadline:
		d.log.Warn("pipeline did not stop in time")
	}
	stopServer()
	select {
	case err := <-serverDone:
		if runErr == nil {
			runErr = err
		}
	case <-deadline:
		d.log.Warn("server did not stop in time")
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	return runErr
}

// source returns the profiles and the tag source: the configured readers,
// or the simulated reader with its demo profile first.
func (d *Daemon) source(ctx context.Context) (profile.Set, tap.Source, error) {
	cfg := d.opts.Config
	profiles, err := cfg.CompileProfiles()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case d.opts.Source != nil:
		return profiles, d.opts.Source, nil
	case d.opts.Simulate:
		sim, err := newSimSource(Paths(d.opts.StateDir).Demo, cfg.SimulateInterval.Duration)
		if err != nil {
			return nil, nil, err
		}
		d.sim = sim
		return append(profile.Set{sim.profile}, profiles...), sim.src, nil
	}
	mon, err := pcsc.Open(ctx, d.log.Named("pcsc"), pcsc.Options{
		Include:  cfg.IncludeReaders,
		Exclude:  cfg.ExcludeReaders,
		Feedback: cfg.Feedback,
	})
	if err != nil {
		return nil, nil, err
	}
	return profiles, tap.PCSC{M: mon}, nil
}

// handle turns a pipeline event into store updates and WebSocket events.
// It runs on the reader's goroutine.
func (d *Daemon) handle(ev tap.Event) {
	switch ev.Type {
	case tap.TypeReaderAdded, tap.TypeReaderRemoved:
		d.mu.Lock()
		if ev.Type == tap.TypeReaderAdded {
			d.readers[ev.Reader] = &readerState{Name: ev.Reader}
		} else {
			delete(d.readers, ev.Reader)
		}
		d.mu.Unlock()
		d.server.Publish(wireType[ev.Type], map[string]any{"reader": ev.Reader})
	case tap.TypeCardPresent, tap.TypeCardRemoved:
		d.mu.Lock()
		if r := d.readers[ev.Reader]; r != nil {
			r.CardPresent = ev.Type == tap.TypeCardPresent
		}
		d.mu.Unlock()
		payload := map[string]any{"reader": ev.Reader}
		if ev.Type == tap.TypeCardPresent {
			payload["atr"] = fmt.Sprintf("%X", ev.ATR)
		}
		d.server.Publish(wireType[ev.Type], payload)
	case tap.TypeError:
		d.log.Info("reader error", zap.String("reader", ev.Reader), zap.Error(ev.Err))
		d.server.Publish("error", map[string]any{"reader": ev.Reader, "code": "read_failed", "message": ev.Err.Error()})
	case tap.TypeTag:
		d.tag(ev)
	}
}

var wireType = map[string]string{
	tap.TypeReaderAdded:   "reader.added",
	tap.TypeReaderRemoved: "reader.removed",
	tap.TypeCardPresent:   "card.present",
	tap.TypeCardRemoved:   "card.removed",
}

// TagRead is the payload of a tag.read event: the signed verdict fields
// (docs/signed-verdicts.md) and unsigned details.
type TagRead struct {
	verdict.Payload
	Profile     string  `json:"profile,omitempty"`
	TTStatus    string  `json:"tt_status,omitempty"`
	Originality string  `json:"originality"`
	Timings     Timings `json:"timings"`
}

// Timings of one tap.
type Timings struct {
	APDUs   int     `json:"apdus"`
	APDUMS  float64 `json:"apdu_ms"`
	TotalMS float64 `json:"total_ms"`
}

var originalityNames = map[ntag424.OriginalityStatus]string{
	ntag424.OriginalityUnchecked:   "unchecked",
	ntag424.OriginalityValid:       "valid",
	ntag424.OriginalityInvalid:     "invalid",
	ntag424.OriginalityUnavailable: "unavailable",
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// tag applies the replay check, records and signs the verdict and
// publishes it.
func (d *Daemon) tag(ev tap.Event) {
	t := ev.Tag
	v := verdict.Verdict{Reader: ev.Reader, UID: t.UIDHex(), URL: t.URL, Verdict: t.Verdict, Reason: t.Reason, Time: ev.Time.UTC().Truncate(time.Millisecond)}
	if t.HasCtr {
		c := t.Ctr
		v.Ctr = &c
	}
	// One durable transaction: the counter check (an authentic SUN with a
	// counter) and the audit entry. The verdict is published only after
	// the accepted counter is on disk.
	advance := t.Verdict == tap.Authentic && t.HasCtr
	replayed := func(prev uint32) (string, string) {
		return Replayed, fmt.Sprintf("counter %d is not above %d, already accepted for this UID", t.Ctr, prev)
	}
	accepted, prev, err := d.store.Tap(store.Entry{Time: v.Time, Reader: v.Reader, UID: t.UID, Counter: v.Ctr, Verdict: v.Verdict, Reason: v.Reason}, advance, replayed)
	switch {
	case err != nil && advance:
		// Without the store the counter cannot be checked, so the tap
		// gets no verdict at all: fail closed, never "authentic".
		d.log.Error("counter check failed", zap.String("reader", v.Reader), zap.Error(err))
		d.server.Publish("error", map[string]any{"reader": v.Reader, "code": "store_unavailable", "message": "the replay check could not be recorded; tap again"})
		return
	case err != nil:
		d.log.Error("audit record failed", zap.Error(err))
	case !accepted:
		v.Verdict, v.Reason = replayed(prev)
	}
	payload := TagRead{
		Payload: verdict.Seal(d.key, d.keyID, v),
		Profile: t.Profile, TTStatus: t.TT, Originality: originalityNames[t.Originality],
		Timings: Timings{APDUs: t.APDUs, APDUMS: ms(t.APDUTime), TotalMS: ms(t.Elapsed)},
	}
	d.log.Info("tag", zap.String("reader", v.Reader), zap.String("uid", v.UID), zap.String("verdict", v.Verdict), zap.String("reason", v.Reason))
	d.server.Publish("tag.read", payload)
}

// Hello implements ws.Backend.
func (d *Daemon) Hello() ws.HelloInfo {
	return ws.HelloInfo{ServerVersion: d.opts.Version, Readers: d.readerList(), VerdictKeyID: d.keyID}
}

func (d *Daemon) readerList() []readerState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]readerState, 0, len(d.readers))
	for _, r := range d.readers {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Readers implements ws.Backend.
func (d *Daemon) Readers(context.Context) (any, error) {
	return d.readerList(), nil
}

// PublicKey returns the verdict signing public key of the state directory
// dir: from the store, or, while a running daemon holds the store, from the
// public key file it writes at start.
func PublicKey(dir string) (ed25519.PublicKey, error) {
	paths := Paths(dir)
	st, err := store.Open(paths.DB, store.Options{Timeout: 300 * time.Millisecond})
	if err == nil {
		defer st.Close()
		priv, _, err := st.SigningKey()
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	}
	if !errors.Is(err, store.ErrLocked) {
		return nil, err
	}
	b, rerr := os.ReadFile(paths.PublicKey)
	if rerr != nil || len(b) != ed25519.PublicKeySize {
		return nil, err
	}
	return ed25519.PublicKey(b), nil
}
