package fleet_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/nfcd/nfcd/internal/fleet"
	"github.com/nfcd/nfcd/internal/fleet/fleettest"
)

// TestPasswordNeverShown drives a client whose connection string holds a
// password through every failure it can report (a stalled and a cut
// network, a server that is gone, a database that does not exist) and
// looks for the password in every log line at debug level, every error and
// the status. (The test server trusts loopback, so the password is never
// checked, only carried.)
func TestPasswordNeverShown(t *testing.T) {
	t.Parallel()
	const pw = "Sup3r-s3cret-pw"
	dsn := fleettest.Database(t)
	migrate(t, dsn)
	withPW := func(dsn string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("postgres", pw)
		return u.String()
	}
	pdsn, proxy := viaProxy(t, withPW(dsn))
	core, logs := observer.New(zapcore.DebugLevel)
	ctx := context.Background()
	var texts []string
	open := func(dsn string) *fleet.Client {
		c, err := fleet.Open(ctx, fleet.Config{DSN: dsn, Kiosk: "A", Timeout: 200 * time.Millisecond},
			fleet.Options{Advances: fleettest.NewQueue[fleet.Advance](), Taps: fleettest.NewQueue[fleet.Tap](), Log: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { c.Run(runCtx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return c
	}
	observe := func(c *fleet.Client, what string) {
		if _, err := c.Check(ctx, fleet.Advance{Profile: "p", UID: []byte{1}, Ctr: uint32(time.Now().UnixNano())}); err != nil {
			texts = append(texts, err.Error())
		}
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := c.History(qctx, fleet.HistoryQuery{}); err != nil {
			texts = append(texts, err.Error())
		}
		if _, err := c.Migrate(qctx); err != nil {
			texts = append(texts, err.Error())
		}
		st, _ := c.Status(ctx)
		texts = append(texts, st.LastError)
		t.Logf("%s: last error %q", what, st.LastError)
	}

	c := open(pdsn)
	waitFor(t, 10*time.Second, "a contact", func() bool { st, _ := c.Status(ctx); return st.Connected })
	proxy.Pause()
	observe(c, "stalled")
	proxy.Cut()
	proxy.Close()
	observe(c, "proxy gone")
	waitFor(t, 10*time.Second, "Run to fail", func() bool { st, _ := c.Status(ctx); return !st.Connected })
	observe(c, "proxy gone, Run failed")

	gone := open(withPW("postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable"))
	waitFor(t, 10*time.Second, "Run to fail", func() bool { st, _ := gone.Status(ctx); return st.LastError != "" })
	observe(gone, "no server")

	u, _ := url.Parse(dsn)
	u.Path = "/no_such_database"
	missing := open(withPW(u.String()))
	waitFor(t, 10*time.Second, "Run to fail", func() bool { st, _ := missing.Status(ctx); return st.LastError != "" })
	observe(missing, "no database")

	if _, err := fleet.Open(ctx, fleet.Config{DSN: "postgres://x:" + pw + "@h:port/db", Kiosk: "A"},
		fleet.Options{Advances: fleettest.NewQueue[fleet.Advance](), Taps: fleettest.NewQueue[fleet.Tap]()}); err != nil {
		texts = append(texts, err.Error())
	} else {
		t.Error("Open with a bad port succeeded")
	}

	enc := zapcore.NewJSONEncoder(zap.NewDevelopmentEncoderConfig())
	for _, e := range logs.All() {
		buf, err := enc.EncodeEntry(e.Entry, e.Context)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, buf.String())
	}
	if len(texts) < 10 {
		t.Fatalf("only %d texts to look at", len(texts))
	}
	for _, s := range texts {
		if strings.Contains(s, pw) {
			t.Errorf("the password appears in: %s", s)
		}
	}
	t.Logf("%d texts, %d log lines checked", len(texts), logs.Len())
}
