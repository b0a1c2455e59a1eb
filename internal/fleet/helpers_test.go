package fleet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
)

// testTimeout is the check timeout of tests that expect every check to be
// answered: generous, because the race detector on two shared cores can
// make a round trip take a while.
const testTimeout = 5 * time.Second

// checkTimeout is the timeout of tests that exercise it (a stalled
// network, a lock, a queue behind) but also need the checks around that to
// be answered: long enough for a loaded machine, short next to the
// seconds a check waiting for the network would take.
const checkTimeout = time.Second

// accept makes kiosk name accept (profile, uid, ctr) in the fleet, through
// a client of its own with testTimeout: the setup of a test whose kiosks
// run with short timeouts.
func accept(t testing.TB, dsn, name, profile string, uid []byte, ctr uint32) {
	t.Helper()
	k := newKiosk(t, dsn, name, testTimeout)
	defer k.close()
	if r := k.check(profile, uid, ctr); r.State != fleet.StateConfirmed || r.Replayed {
		t.Fatalf("%s: setup check (%X, %d) = %+v", name, uid, ctr, r)
	}
}

// kiosk is one fleet client with its queues, as one daemon would hold it.
type kiosk struct {
	t        testing.TB
	name     string
	cfg      fleet.Config
	c        *fleet.Client
	advances *fleettest.Queue[fleet.Advance]
	taps     *fleettest.Queue[fleet.Tap]

	mu      sync.Mutex
	late    []fleet.LateReplay
	lateErr error // returned by the LateReplay callback when set

	stop func() // stops Run and waits for it
}

// newKiosk opens a client for kiosk name on dsn; it is closed when t ends.
func newKiosk(t testing.TB, dsn, name string, timeout time.Duration) *kiosk {
	t.Helper()
	k := &kiosk{
		t:        t,
		name:     name,
		cfg:      fleet.Config{DSN: dsn, Kiosk: name, Timeout: timeout},
		advances: fleettest.NewQueue[fleet.Advance](),
		taps:     fleettest.NewQueue[fleet.Tap](),
	}
	k.open()
	return k
}

// open opens (or, after close, reopens) the client on the same queues: a
// daemon restart.
func (k *kiosk) open() {
	k.t.Helper()
	c, err := fleet.Open(context.Background(), k.cfg, fleet.Options{
		Advances:   k.advances,
		Taps:       k.taps,
		LateReplay: k.onLate,
		Version:    "test",
		Log:        zaptest.NewLogger(k.t).Named(k.name),
	})
	if err != nil {
		k.t.Fatalf("Open(%s): %v", k.name, err)
	}
	k.c = c
	k.t.Cleanup(k.close)
}

func (k *kiosk) close() {
	if k.stop != nil {
		k.stop()
		k.stop = nil
	}
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

func (k *kiosk) onLate(ctx context.Context, r fleet.LateReplay) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lateErr != nil {
		return k.lateErr
	}
	k.late = append(k.late, r)
	return nil
}

func (k *kiosk) lates() []fleet.LateReplay {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]fleet.LateReplay(nil), k.late...)
}

// run starts the client's Run loop until the kiosk closes.
func (k *kiosk) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.c.Run(ctx) }()
	k.stop = func() {
		cancel()
		if err := <-done; err != nil {
			k.t.Errorf("Run(%s) = %v, want nil", k.name, err)
		}
	}
}

// check runs one advance and fails the test on error.
func (k *kiosk) check(profile string, uid []byte, ctr uint32) fleet.Result {
	k.t.Helper()
	res, err := k.c.Check(context.Background(), fleet.Advance{Profile: profile, UID: uid, Ctr: ctr})
	if err != nil {
		k.t.Fatalf("%s: Check(%X, %d): %v", k.name, uid, ctr, err)
	}
	return res[0]
}

// migrate brings dsn's schema to the current version.
func migrate(t testing.TB, dsn string) {
	t.Helper()
	k := newKiosk(t, dsn, "migrator", testTimeout)
	if _, err := k.c.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	k.close()
}

// connect opens a plain connection to dsn for looking at the tables.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// drained reports whether both of k's queues are empty.
func (k *kiosk) drained() bool {
	st, err := k.c.Status(context.Background())
	return err == nil && st.QueuedAdvances == 0 && st.UnshippedTaps == 0
}

var errLateRefused = errors.New("test: late replay not accepted yet")
