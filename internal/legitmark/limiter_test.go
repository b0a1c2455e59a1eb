package legitmark_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nfcd/nfcd/internal/legitmark"
	"github.com/nfcd/nfcd/internal/legitmark/legitmarktest"
)

// A burst of 500 operations never exceeds a server limit: the fake counts
// the requests in every sliding window and would answer 429; none may
// happen, and no window may hold more than the limit.
func TestLimiterBurst(t *testing.T) {
	for _, tc := range []struct {
		name   string
		auth   string
		limits legitmark.Limits
	}{
		{"older model: 60/min per actor token, 100 SRs/hour", legitmark.AuthXAPIKey, legitmark.Limits{}},
		{"app budget 120/min, 30 SRs/hour", legitmark.AuthBearer, legitmark.Limits{AppPerMinute: 120, SRPerHour: 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				want := tc.limits
				if want.AppPerMinute == 0 {
					want.AppPerMinute = legitmark.DefaultAppPerMinute
				}
				if want.UserPerMinute == 0 {
					want.UserPerMinute = legitmark.DefaultUserPerMinute
				}
				if want.SRPerHour == 0 {
					want.SRPerHour = legitmark.DefaultSRPerHour
				}
				f := legitmarktest.New(legitmarktest.Options{RequireUserToken: tc.auth == legitmark.AuthXAPIKey, RetryAfter: true,
					Limits: legitmarktest.Limits{AppPerMinute: want.AppPerMinute, UserPerMinute: want.UserPerMinute, SRPerHour: want.SRPerHour}})
				cfg := testConfig()
				cfg.Auth = tc.auth
				cfg.Limits = tc.limits
				tokens := &legitmark.MemTokens{}
				if tc.auth == legitmark.AuthXAPIKey {
					f.AddUserToken("lm_usr_0123456789ab")
					_ = tokens.SaveUserToken(t.Context(), "lm_usr_0123456789ab")
				}
				c := newClient(t, f, cfg, legitmark.Options{Tokens: tokens})
				seed := mustCreate(t, c, "seed", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)

				const ops = 500
				var wg sync.WaitGroup
				errs := make(chan error, ops)
				for i := range ops {
					wg.Go(func() {
						var err error
						switch i % 5 {
						case 0: // 100 creates: beyond the hourly budget in both cases
							_, err = c.CreateSR(t.Context(), legitmark.CreateSR{ReferenceID: fmt.Sprintf("burst-%d", i),
								Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
						case 1:
							_, err = c.GetSR(t.Context(), seed.UUID, legitmark.IncludeRequirements)
						case 2:
							_, err = c.Progress(t.Context(), seed.UUID)
						case 3:
							_, err = c.CategoryTree(t.Context(), true)
						default:
							_, err = c.Services(t.Context())
						}
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Fatalf("operation failed: %v", err)
					}
				}
				reqs := routes(f, "")
				var all, creates []time.Time
				for _, r := range reqs {
					if r.Status == 429 {
						t.Errorf("the server answered 429 to %s at %v", r.Route, r.At)
					}
					if r.Route == "sr.find" {
						continue // public: no budget
					}
					all = append(all, r.At)
					if r.Route == "sr.create" {
						creates = append(creates, r.At)
					}
				}
				if len(all) != ops+1 {
					t.Errorf("requests = %d, want %d (one per operation)", len(all), ops+1)
				}
				limit := want.AppPerMinute
				if tc.auth == legitmark.AuthXAPIKey {
					limit = want.UserPerMinute
				}
				if got := maxInWindow(all, time.Minute); got > limit {
					t.Errorf("max requests in a minute = %d, want <= %d", got, limit)
				}
				if got := maxInWindow(creates, time.Hour); got > want.SRPerHour {
					t.Errorf("max creates in an hour = %d, want <= %d", got, want.SRPerHour)
				}
				// The limiter must not be needlessly slow either: the burst
				// takes about as long as the tightest budget requires.
				span := all[len(all)-1].Sub(all[0])
				t.Logf("%d requests over %v", len(all), span)
			})
		})
	}
}

func TestLimiterFailsFastPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := legitmarktest.New(legitmarktest.Options{})
		cfg := testConfig()
		cfg.Limits = legitmark.Limits{SRPerHour: 1}
		c := newClient(t, f, cfg, legitmark.Options{})
		mustCreate(t, c, "first", legitmarktest.CategoryFootwear, legitmarktest.TypeSneakers)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		_, err := c.CreateSR(ctx, legitmark.CreateSR{ReferenceID: "second", Category: legitmarktest.CategoryFootwear, Type: legitmarktest.TypeSneakers})
		var le *legitmark.LimitError
		if !errors.As(err, &le) || le.Budget != "sr" || !errors.Is(err, legitmark.ErrRateLimited) {
			t.Fatalf("second create within the hour = %v, want a LimitError on the sr budget", err)
		}
		if time.Since(start) != 0 {
			t.Errorf("waited %v before failing", time.Since(start))
		}
		if f.Count("sr.create") != 1 {
			t.Errorf("the held-back create reached the server")
		}
	})
}

func TestLimiterReadsHeaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The server allows 5/min; the client is configured for 1000 and
		// learns the real limit from X-RateLimit-Limit-Actor.
		f := legitmarktest.New(legitmarktest.Options{Limits: legitmarktest.Limits{AppPerMinute: 5}})
		c := newClient(t, f, testConfig(), legitmark.Options{})
		for range 12 {
			if _, err := c.Services(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		rl := c.RateLimit()
		if rl.LimitActor != 5 || rl.RemainingActor < 0 {
			t.Errorf("RateLimit = %+v", rl)
		}
		var ts []time.Time
		for _, r := range routes(f, "services") {
			if r.Status == 429 {
				t.Errorf("429 at %v", r.At)
			}
			ts = append(ts, r.At)
		}
		if got := maxInWindow(ts, time.Minute); got > 5 {
			t.Errorf("max in a minute = %d, want <= 5", got)
		}
	})
}
