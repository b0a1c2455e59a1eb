package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/config"
	"github.com/nfcd/nfcd/internal/daemon"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/simulate"
	"github.com/nfcd/nfcd/internal/statedir"
	"github.com/nfcd/nfcd/internal/token"
	"github.com/nfcd/nfcd/internal/tomlfile"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

var benchUpdatedPrefix = []byte(`{"v":1,"type":"verdict.updated",`)

// benchStartRemote runs a daemon in confirm mode whose simulated
// plain-mirror tags the fake Legitimate service also knows.
func benchStartRemote(b *testing.B, dir string) *benchDaemon {
	b.Helper()
	var key ntag424.Key
	rand.Read(key[:])
	srv := lt.NewServer(lt.Options{})
	b.Cleanup(srv.Close)
	sim, err := simulate.New(simulate.Config{Layout: ntag424.Layout{Mode: ntag424.ModePlain}, Keys: ntag424.Keys{FileRead: key},
		URL: benchURL, Dwell: benchDwell, Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	uids, _ := sim.RemoteTags()
	for _, u := range uids {
		if err := srv.AddTag(lt.Tag{UID: fmt.Sprintf("%X", u[:]), Key: key}); err != nil {
			b.Fatal(err)
		}
	}
	src := &benchSource{Source: sim, present: make(chan time.Time, 16), removed: make(chan struct{}, 16)}
	tok, err := token.Open(statedir.PathsOf(dir).Tokens).Create("bench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.SimulateInterval = tomlfile.Duration{Duration: time.Hour}
	cfg.Profiles = config.Profiles(profile.Spec{Name: "bench", Match: benchURL, LayoutSpec: ntag424.LayoutSpec{Mode: "plain"}, FileReadKey: hex.EncodeToString(key[:])})
	cfg.Remote.Legitimate = &remote.Legitimate{Config: verifyclient.Config{BaseURL: srv.URL}, Match: []string{benchURL}, Mode: remote.Confirm}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Config: cfg, StateDir: dir, Source: src, Version: "bench", Log: zap.NewNop(),
			Ready: func(url string) { ready <- url }})
	}()
	d := &benchDaemon{b: b, src: src, token: tok, buf: make([]byte, benchFrameMax)}
	select {
	case u := <-ready:
		d.wsURL = "ws" + strings.TrimPrefix(u, "http") + "v1/ws"
	case err := <-done:
		cancel()
		b.Fatalf("daemon.Run: %v", err)
	case <-time.After(benchWait):
		cancel()
		b.Fatal("daemon not ready")
	}
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("daemon.Run: %v", err)
			}
		case <-time.After(2 * daemon.ShutdownTimeout):
			b.Error("daemon did not stop")
		}
	})
	return d
}

// nextSettled reads c until the tag.read and then the verdict.updated of
// one tap and returns their arrival times.
func (d *benchDaemon) nextSettled(c *websocket.Conn) (read, updated time.Time) {
	d.b.Helper()
	c.SetReadDeadline(time.Now().Add(benchWait))
	for updated.IsZero() {
		msg, err := benchReadFrame(c, d.buf)
		at := time.Now()
		if err != nil {
			d.b.Fatalf("waiting for the verdict: %v", err)
		}
		switch {
		case bytes.HasPrefix(msg, benchErrorPrefix):
			d.b.Fatalf("error event: %s", msg)
		case bytes.HasPrefix(msg, benchTagReadPrefix):
			read = at
		case bytes.HasPrefix(msg, benchUpdatedPrefix):
			var u struct {
				Payload struct{ Verdict, Remote string }
			}
			if err := json.Unmarshal(msg, &u); err != nil || u.Payload.Verdict != verdict.Authentic || u.Payload.Remote != "authentic" {
				d.b.Fatalf("verdict.updated: %s", msg)
			}
			if read.IsZero() {
				d.b.Fatal("verdict.updated before its tag.read")
			}
			updated = at
		}
	}
	return read, updated
}

// BenchmarkRemoteTapToFinal measures a confirm-mode tap through the whole
// daemon against the fake Legitimate service over loopback HTTP: from the
// simulated card-present event to the tag.read frame (read-*: the local
// verdict, with the remote state pending) and to the verdict.updated
// frame with the remote answer (final-*). The remote path adds the outbox
// write on the verdict stage, the "attempting" write, the verify request
// and the settle commit.
func BenchmarkRemoteTapToFinal(b *testing.B) {
	for _, v := range benchStateDirs {
		b.Run(v.name, func(b *testing.B) {
			d := benchStartRemote(b, v.dir(b))
			c := d.dial()
			reads := make([]time.Duration, 0, b.N)
			finals := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				present := d.tap()
				read, final := d.nextSettled(c)
				b.StopTimer()
				reads = append(reads, read.Sub(present))
				finals = append(finals, final.Sub(present))
				d.awaitRemoved()
				b.StartTimer()
			}
			b.StopTimer()
			benchReport(b, "read-", reads)
			benchReport(b, "final-", finals)
		})
	}
}
