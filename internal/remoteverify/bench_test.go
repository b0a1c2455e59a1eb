package remoteverify_test

// Benchmarks of the remote path against the in-process fake over loopback
// HTTP, with the real store (every outbox write is an fsynced bbolt
// commit):
//
//	go test ./internal/remoteverify -run '^$' -bench . -benchmem -benchtime 300x
//
// BenchmarkTapToFinal is one confirm-mode tap from Submit (what the verdict
// stage calls) to its final update: outbox write, "attempting" write,
// verify, settle (audit entry and removal in one commit). It reports p50
// and p99. BenchmarkOutboxDrain is the drain of a backlog left by an
// outage: b.N queued items of 64 tags, drained at the backlog's
// concurrency; ns/op is per item.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/remote"
	"github.com/nfcd/nfcd/internal/remoteverify"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

type benchEnv struct {
	srv *lt.Server
	st  *store.Store
	leg *remote.Legitimate
	c   *verifyclient.Client
}

func newBenchEnv(b *testing.B, tags []lt.Tag) *benchEnv {
	b.Helper()
	srv := lt.NewServer(lt.Options{}, tags...)
	b.Cleanup(srv.Close)
	st, err := store.Open(filepath.Join(b.TempDir(), "nfcd.db"), store.Options{MaxAge: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	leg := &remote.Legitimate{Config: verifyclient.Config{BaseURL: srv.URL}, Mode: remote.Confirm}
	if err := leg.Validate(); err != nil {
		b.Fatal(err)
	}
	c, err := verifyclient.New(verifyclient.Options{BaseURL: srv.URL, Timeout: 2 * time.Second, HTTPClient: srv.HTTP.Client(), Recent: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	return &benchEnv{srv: srv, st: st, leg: leg, c: c}
}

func (e *benchEnv) run(b *testing.B) (*remoteverify.Verifier, func()) {
	v, err := remoteverify.New(remoteverify.Config{Legitimate: e.leg, Client: e.c, Outbox: e.st})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	return v, func() { cancel(); <-done }
}

func benchVerdict(i int, tr verifyclient.Triple) *verdict.Verdict {
	return &verdict.Verdict{Tap: fmt.Sprintf("b-%d", i), Reader: "R", UID: tr.UID, Verdict: verdict.UnknownProfile,
		Reason: verdict.ReasonUnknownProfile, Time: time.Now(), Remote: verdict.RemoteOff, Fleet: verdict.FleetOff,
		URL: "https://legitimate.example/t?uid=" + tr.UID + "&ctr=" + tr.Ctr + "&cmac=" + tr.CMAC}
}

func BenchmarkTapToFinal(b *testing.B) {
	e := newBenchEnv(b, []lt.Tag{{UID: tagUID, Key: tagKey}})
	v, stop := e.run(b)
	defer stop()
	samples := make([]time.Duration, 0, b.N)
	held := make([]bool, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		tr, err := e.srv.Tap(tagUID)
		if err != nil {
			b.Fatal(err)
		}
		vd := benchVerdict(i, tr)
		b.StartTimer()
		start := time.Now()
		v.Submit(context.Background(), []*verdict.Verdict{vd}, held)
		var u judge.Update
		select {
		case u = <-v.Updates():
		case <-time.After(10 * time.Second):
			b.Fatal("no final verdict within 10 s")
		}
		samples = append(samples, time.Since(start))
		if u.Verdict.Verdict != verdict.Authentic {
			b.Fatalf("final verdict %+v", u.Verdict)
		}
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(samples[min(len(samples)-1, len(samples)*99/100)].Microseconds())/1000, "p99-ms")
}

func BenchmarkOutboxDrain(b *testing.B) {
	const nTags = 64
	var tags []lt.Tag
	for i := range nTags {
		tags = append(tags, lt.Tag{UID: fmt.Sprintf("04BE%08X00", i), Key: tagKey})
	}
	e := newBenchEnv(b, tags)
	// The backlog of an outage: b.N queued items, written before the
	// verifier starts.
	var items []*store.OutboxItem
	for i := range b.N {
		tr, err := e.srv.Tap(tags[i%nTags].UID)
		if err != nil {
			b.Fatal(err)
		}
		vd := benchVerdict(i, tr)
		items = append(items, &store.OutboxItem{Tap: vd.Tap, UID: tr.UID, Ctr: tr.Ctr, CMAC: tr.CMAC, Mode: string(remote.Confirm),
			Local: verdict.UnknownProfile, State: store.OutboxQueued, Created: time.Now(),
			Verdict: store.OutboxVerdict{Reader: "R", UID: tr.UID, URL: vd.URL, Verdict: verdict.Pending, Reason: verdict.ReasonRemotePending, Remote: "pending", Time: vd.Time}})
	}
	for chunk := range slices.Chunk(items, 1000) {
		if err := e.st.AddOutbox(chunk); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	v, stop := e.run(b)
	defer stop()
	for range b.N {
		select {
		case u := <-v.Updates():
			if u.Verdict.Verdict != verdict.Authentic {
				b.Fatalf("final verdict %+v", u.Verdict)
			}
		case <-time.After(10 * time.Second):
			b.Fatal("the drain stalled")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "items/s")
}
