package verifyclient_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/verifyclient"
	lt "github.com/nfcd/nfcd/internal/verifyclient/legitimatetest"
)

// BenchmarkVerifyRoundTrip is one tap's remote verify against the local
// fake over loopback HTTP/1.1 keep-alive: encode, POST, the fake's SUN MAC
// check and bookkeeping, decode. The tap itself (minting the triple) is
// outside the timer. Reports p50/p99 besides ns/op.
func BenchmarkVerifyRoundTrip(b *testing.B) {
	srv := lt.NewServer(lt.Options{}, lt.Tag{UID: tagUID, Key: tagKey})
	defer srv.Close()
	c, err := verifyclient.New(verifyclient.Options{BaseURL: srv.URL, HTTPClient: srv.HTTP.Client(), Recent: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		tr, err := srv.Tap(tagUID)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		out, err := c.Verify(ctx, tr)
		lat = append(lat, time.Since(start))
		if err != nil || out.Status != verifyclient.StatusAuthentic {
			b.Fatalf("Verify = %+v, %v", out, err)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[n*99/100].Microseconds()), "p99-µs")
	}
}
