package daemon_test

// Benchmarks of the verdict stage alone (issue 16): from a tap.Event
// entering internal/judge to its tag.read frame published by the
// WebSocket server (encoded into the server's ring; no client), with the
// real store on disk (b.TempDir, which is on the machine's disk here, not
// tmpfs), the real Ed25519 signer and the real ws.Server. Run them with
//
//	go test ./internal/daemon -run '^$' -bench 'Stage' -benchmem -benchtime 2000x -count 3
//
// ns/op and allocs/op cover one tap (BenchmarkStageTap) or one burst of 20
// taps (BenchmarkStageBurst); p50-µs and p99-µs are per tap, or to the last
// tap of a burst.

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nfcd/nfcd/internal/event"
	"github.com/nfcd/nfcd/internal/judge"
	"github.com/nfcd/nfcd/internal/ntag424"
	"github.com/nfcd/nfcd/internal/profile"
	"github.com/nfcd/nfcd/internal/store"
	"github.com/nfcd/nfcd/internal/tap"
	"github.com/nfcd/nfcd/internal/verdict"
	"github.com/nfcd/nfcd/internal/ws"
)

// stagePublisher is the WebSocket server, noting when each tag.read has
// been published.
type stagePublisher struct {
	judge.Publisher
	at chan time.Time
}

func (p *stagePublisher) Publish(typ string, payload any) uint64 {
	seq := p.Publisher.Publish(typ, payload)
	if typ == event.TagRead.String() {
		p.at <- time.Now()
	} else {
		p.at <- time.Time{}
	}
	return seq
}

// stageBench is a running verdict stage over a real store in a temp dir.
type stageBench struct {
	in  chan tap.Event
	pub *stagePublisher
	ctr uint32
}

func newStageBench(b *testing.B) *stageBench {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "nfcd.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	srv, err := ws.NewServer(ws.Config{Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sb := &stageBench{in: make(chan tap.Event, 64), pub: &stagePublisher{Publisher: srv, at: make(chan time.Time, 64)}}
	stage := judge.New(judge.Config{Ledger: st, Signer: verdict.NewSigner(seed), Publisher: sb.pub})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stage.Run(ctx, sb.in) }()
	b.Cleanup(func() {
		close(sb.in)
		<-done
		cancel()
		st.Close()
	})
	return sb
}

// tapEvent is an authentic read of tag uid on reader r with the next
// counter.
func (sb *stageBench) tapEvent(r string, uid byte) tap.Event {
	sb.ctr++
	read := &tap.Read{
		Outcome: profile.Outcome{Profile: "bench", Verdict: verdict.Authentic, Reason: verdict.ReasonOK,
			Result: ntag424.Result{Ctr: ntag424.CounterOf(sb.ctr)}},
		UID:   []byte{0x04, 0xDE, 0x5F, 0x1E, 0xAC, 0xC0, uid},
		URL:   benchURL,
		APDUs: 2,
	}
	return tap.Event{Kind: event.TagRead, Reader: r, Time: time.Now(), Read: read}
}

func (sb *stageBench) published(b *testing.B) time.Time {
	select {
	case at := <-sb.pub.at:
		if at.IsZero() {
			b.Fatal("the stage published an error instead of tag.read")
		}
		return at
	case <-time.After(benchWait):
		b.Fatal("no tag.read published")
	}
	return time.Time{}
}

func reportMicros(b *testing.B, prefix string, samples []time.Duration) {
	s := slices.Clone(samples)
	slices.Sort(s)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(benchPercentile(s, 0.50)), prefix+"p50-µs")
	b.ReportMetric(us(benchPercentile(s, 0.99)), prefix+"p99-µs")
}

// BenchmarkStageTap measures one tap at a time: tap.Event in → tag.read
// frame published, the replay mark durable before it.
func BenchmarkStageTap(b *testing.B) {
	sb := newStageBench(b)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := sb.tapEvent("bench reader", byte(i%16))
		i++
		t0 := time.Now()
		sb.in <- ev
		lat = append(lat, sb.published(b).Sub(t0))
	}
	reportMicros(b, "", lat)
}

// BenchmarkStageBurst sends 20 taps from 4 readers at once (5 each, from
// 4 goroutines as the tap pipeline would) and measures the time until the
// last of them is published (target: single-tap p99 + 2 ms).
func BenchmarkStageBurst(b *testing.B) {
	const readers, perReader = 4, 5
	sb := newStageBench(b)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		evs := make([][]tap.Event, readers)
		for r := range readers {
			for k := range perReader {
				evs[r] = append(evs[r], sb.tapEvent(fmt.Sprintf("reader %d", r), byte(r*perReader+k)))
			}
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for r := range readers {
			wg.Go(func() {
				<-start
				for _, ev := range evs[r] {
					sb.in <- ev
				}
			})
		}
		t0 := time.Now()
		close(start)
		var last time.Time
		for range readers * perReader {
			last = sb.published(b)
		}
		wg.Wait()
		lat = append(lat, last.Sub(t0))
	}
	reportMicros(b, "last-", lat)
}
