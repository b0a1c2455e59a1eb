package fleet

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
)

// Timeouts of the work done in the background (Run), which, unlike a
// counter check, nobody waits for.
const (
	// syncTimeout bounds one round of Run: connecting, migrating, draining
	// one batch of advances and shipping one batch of taps.
	syncTimeout = 10 * time.Second
	// connectTimeout is the pool's dial-and-authenticate limit unless the
	// connection string sets connect_timeout. A check is bounded by its own
	// timeout; Run gives a slow network (TLS over a WAN) time to connect
	// so that checks find a warm connection.
	connectTimeout = 10 * time.Second
	// heartbeatEvery is how often Run updates this kiosk's row in kiosks.
	heartbeatEvery = time.Minute
	// partitionsEvery is how often Run makes sure the taps table has its
	// monthly partitions, for this month and the next partitionsAhead-1.
	partitionsEvery = 24 * time.Hour
	partitionsAhead = 3
	// advanceLogKeep is how long the fleet keeps the answers to this
	// kiosk's queued advances for resends (0003_advance_log.sql).
	advanceLogKeep = 7 * 24 * time.Hour
	// advanceBatch and tapBatch bound the items of one round trip of Run.
	advanceBatch = 64
	tapBatch     = 500
	// poolMaxConns bounds one kiosk's connections: a check and Run at
	// once. A thousand kiosks are a thousand or two thousand connections:
	// docs/fleet.md puts a pooler in front of PostgreSQL for that.
	poolMaxConns = 2
)

// Options are a Client's collaborators.
type Options struct {
	// Advances and Taps are the durable outbox (required): advances
	// decided locally while the fleet could not answer, and audit rows to
	// ship. Only this Client may push to them.
	Advances Queue[Advance]
	Taps     Queue[Tap]
	// LateReplay is called by Run, before the advance leaves the queue,
	// for a queued advance that the fleet refused. An error keeps the
	// advance queued and Run calls again later (at least once). Nil means
	// the refusals are only logged.
	LateReplay func(ctx context.Context, r LateReplay) error
	// Version is this nfcd's version, recorded in the kiosks table.
	Version string
	// Log is the parent logger; the client names its own ("fleet").
	Log *zap.Logger
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Client is one kiosk's link to the fleet: counter checks, the durable
// queues and the loop that drains them, on top of a DB. Check and Ship are
// safe for concurrent use; Run must run for queued work to reach the fleet.
type Client struct {
	*DB
	timeout time.Duration
	migrate bool
	version string

	advances Queue[Advance]
	taps     Queue[Tap]
	onLate   func(context.Context, LateReplay) error
	now      func() time.Time

	// sem admits one direct check at a time: with pending it keeps this
	// kiosk's advances in order (an advance never overtakes a queued one,
	// which the fleet would then refuse as a replay of the later counter).
	sem chan struct{}
	// pending counts queued advances (raised before a push, lowered after
	// a removal, so it errs on the side of queueing).
	pending atomic.Int64
	// down is set when the fleet failed (other than by a slow answer):
	// checks then queue at once instead of waiting for their timeout, until
	// Run gets through again.
	down atomic.Bool
	// kick wakes Run when there is new work.
	kick chan struct{}

	// sync is Run's round of work; tests replace it.
	sync func(ctx context.Context) (more bool, err error)

	mu          sync.Mutex // guards the fields below
	ready       bool       // schema checked (and migrated) since the last failure
	schema      int
	lastContact time.Time
	lastErr     string
	lateCount   uint64
	dropped     uint64
	heartbeatAt time.Time
	partitionAt time.Time
	warnedParts bool
}

// Open prepares a client from the [fleet] section. It does not wait for the
// database: a kiosk starts (and decides taps locally) while the fleet is
// away. Run connects, migrates when allowed, and drains the queues.
func Open(ctx context.Context, cfg Config, opts Options) (*Client, error) {
	if opts.Advances == nil || opts.Taps == nil {
		return nil, errors.New("fleet: Open needs both queues")
	}
	r, err := cfg.resolve(osHostname, osGetenv)
	if err != nil {
		return nil, err
	}
	c := &Client{
		timeout:  r.timeout,
		migrate:  r.migrate,
		version:  opts.Version,
		advances: opts.Advances,
		taps:     opts.Taps,
		onLate:   opts.LateReplay,
		now:      opts.Now,
		sem:      make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.sync = c.syncOnce
	st, err := c.advances.Stats(ctx)
	if err != nil {
		return nil, fmt.Errorf("fleet: read the advance queue: %w", err)
	}
	c.pending.Store(int64(st.Len))
	// One warm connection kept idle for checks, dialled in the background:
	// a tap does not pay for TLS and authentication, even while Run holds
	// the other connection.
	if c.DB, err = newDB(ctx, r, 1, opts.Log); err != nil {
		return nil, err
	}
	c.log.Info("fleet configured", zap.String("kiosk", c.kiosk), zap.Duration("timeout", c.timeout),
		zap.String("database", r.pool.ConnConfig.Database), zap.String("host", r.pool.ConnConfig.Host),
		zap.Int64("queued_advances", c.pending.Load()))
	return c, nil
}

// Migrate applies the embedded schema migrations (see DB.Migrate) and
// records the version for Status.
func (c *Client) Migrate(ctx context.Context) (Migration, error) {
	m, err := c.DB.Migrate(ctx)
	if err == nil {
		c.mu.Lock()
		c.schema = m.To
		c.mu.Unlock()
	}
	return m, err
}

// Wake makes Run look at its queues now. The daemon calls it after
// pushing audit rows to the Taps queue itself (in the same commit as its
// own audit entry) rather than through Ship.
func (c *Client) Wake() { c.wake() }

func (c *Client) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// newNonce returns a random non-zero 63-bit advance ID (PostgreSQL bigint
// is signed).
func newNonce() uint64 {
	var b [8]byte
	for {
		crand.Read(b[:])
		if n := binary.LittleEndian.Uint64(b[:]) >> 1; n != 0 {
			return n
		}
	}
}

// timedOut reports whether err is a check that ran out of time (the fleet
// is slow, not necessarily away).
func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
}

// contact records a successful round trip.
func (c *Client) contact() {
	c.mu.Lock()
	c.lastContact = c.now()
	c.lastErr = ""
	c.mu.Unlock()
	if c.down.Swap(false) {
		c.log.Info("fleet reachable", zap.Int64("queued_advances", c.pending.Load()))
	}
}

// failed records a failed round trip. A slow answer only queues the tap;
// anything else also makes later checks queue at once until Run gets
// through.
func (c *Client) failed(err error, markDown bool) {
	err = c.scrub(err)
	c.mu.Lock()
	c.lastErr = err.Error()
	if markDown {
		c.ready = false
	}
	c.mu.Unlock()
	if markDown && !c.down.Swap(true) {
		c.log.Warn("fleet unreachable; taps are decided locally and queued", zap.Error(err))
	}
}
