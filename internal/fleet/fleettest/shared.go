package fleettest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedCluster is a server started on first use and stopped by Main.
type sharedCluster struct {
	settings []string
	once     sync.Once
	cluster  *Cluster
	err      error
}

func (s *sharedCluster) get() (*Cluster, error) {
	s.once.Do(func() {
		c, err := StartCluster(ClusterOptions{Settings: s.settings})
		sharedMu.Lock()
		s.cluster, s.err = c, err
		sharedMu.Unlock()
	})
	return s.cluster, s.err
}

var (
	sharedMu sync.Mutex // guards the cluster fields for Main
	fast     = &sharedCluster{settings: FastSettings}
	durable  = &sharedCluster{}
)

var dbSeq atomic.Int64

// Main runs the tests of a package that uses Shared or Database and stops
// the shared server afterwards. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(fleettest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for _, s := range []*sharedCluster{fast, durable} {
		if s.cluster != nil {
			if err := s.cluster.Close(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}
	return code
}

// Require skips t with a loud message when PostgreSQL is not installed,
// and fails it under CI=true, where .ci/run installs it.
func Require(t testing.TB) {
	t.Helper()
	if _, err := FindBin(); err != nil {
		unavailable(t, err)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("NO POSTGRESQL: %v; the fleet was NOT tested against a database", err)
	if os.Getenv("CI") == "true" || !errors.Is(err, ErrNoPostgres) {
		t.Fatal(msg)
	}
	t.Skip("SKIPPED: " + msg)
}

// FastSettings trade the server's crash safety for speed: the shared test
// server uses them so that the tests do not wait on a shared CI disk.
// Stopping the server (Stop) still writes everything out; benchmarks that
// measure PostgreSQL's real cost start a cluster of their own without them.
var FastSettings = []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off"}

// Shared returns the test binary's server (with FastSettings), starting it
// on first use. It
// skips or fails t (see Require) when PostgreSQL is not installed; a server
// that is installed but does not start always fails t.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	c, err := fast.get()
	if err != nil {
		unavailable(t, err)
	}
	return c
}

// SharedDurable is Shared for a server with PostgreSQL's default, crash-safe
// settings (every commit flushed to disk): what benchmarks measure.
func SharedDurable(t testing.TB) *Cluster {
	t.Helper()
	c, err := durable.get()
	if err != nil {
		unavailable(t, err)
	}
	return c
}

// Database creates a database of its own for t on the shared server, drops
// it when t ends, and returns its connection URL.
func Database(t testing.TB) string {
	t.Helper()
	return Shared(t).Database(t)
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// Database creates a database of its own for t on c, drops it when t ends,
// and returns its connection URL.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	name := unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", dbSeq.Add(1), name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return c.DSN(name)
}
