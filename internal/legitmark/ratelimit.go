package legitmark

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// budget is a sliding-window request budget: at most limit requests in any
// window of period (plus margin). It keeps the admission times, so the
// guarantee holds for every window, not just aligned ones — the server's
// windows are not ours.
type budget struct {
	name    string
	limit   int // <= 0: unlimited
	period  time.Duration
	margin  time.Duration // absorbs transit-time jitter between our clock and the server's
	times   []time.Time   // admissions within the window, oldest first
	blocked time.Time     // no admission before this (429, Remaining 0)
}

func newBudget(name string, limit int, period time.Duration) *budget {
	return &budget{name: name, limit: limit, period: period, margin: period / 60}
}

func (b *budget) window() time.Duration { return b.period + b.margin }

func (b *budget) prune(now time.Time) {
	cut := now.Add(-b.window())
	i := 0
	for i < len(b.times) && !b.times[i].After(cut) {
		i++
	}
	if i > 0 {
		b.times = append(b.times[:0], b.times[i:]...)
	}
}

// earliest returns when the next request may be admitted.
func (b *budget) earliest(now time.Time) time.Time {
	t := now
	if b.blocked.After(t) {
		t = b.blocked
	}
	if b.limit > 0 && len(b.times) >= b.limit {
		// The limit-th most recent admission must leave the window.
		if e := b.times[len(b.times)-b.limit].Add(b.window()); e.After(t) {
			t = e
		}
	}
	return t
}

func (b *budget) admit(now time.Time) {
	if b.limit > 0 {
		b.times = append(b.times, now)
	}
}

func (b *budget) block(until time.Time) {
	if until.After(b.blocked) {
		b.blocked = until
	}
}

// limiter holds the client's budgets (seed 001 "API Rate Limits"): per app
// key, per actor token, and new SRs per hour.
type limiter struct {
	mu   sync.Mutex
	now  func() time.Time
	app  *budget
	user *budget
	sr   *budget
	last RateLimit
}

func newLimiter(l Limits, now func() time.Time) *limiter {
	return &limiter{
		now:  now,
		app:  newBudget("app", l.AppPerMinute, time.Minute),
		user: newBudget("user", l.UserPerMinute, time.Minute),
		sr:   newBudget("sr", l.SRPerHour, time.Hour),
		last: RateLimit{LimitActor: -1, RemainingActor: -1, LimitUser: -1, RemainingUser: -1},
	}
}

// wait blocks until every budget admits one request, then admits it in all
// of them at once. It fails fast with *LimitError when the wait would outlast
// ctx's deadline.
func (l *limiter) wait(ctx context.Context, bs ...*budget) error {
	for {
		l.mu.Lock()
		now := l.now()
		at, which := now, (*budget)(nil)
		for _, b := range bs {
			b.prune(now)
			if e := b.earliest(now); e.After(at) {
				at, which = e, b
			}
		}
		if which == nil {
			for _, b := range bs {
				b.admit(now)
			}
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && at.After(dl) {
			return &LimitError{Budget: which.name, Until: at}
		}
		t := time.NewTimer(at.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// block holds back every given budget until t.
func (l *limiter) block(t time.Time, bs ...*budget) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bs {
		b.block(t)
	}
}

// Rate-limit headers of the older model (seed 001).
const (
	hdrLimitActor     = "X-RateLimit-Limit-Actor"
	hdrRemainingActor = "X-RateLimit-Remaining-Actor"
	hdrLimitUser      = "X-RateLimit-Limit-User"
	hdrRemainingUser  = "X-RateLimit-Remaining-User"
)

// observe reads the X-RateLimit-* headers of a response: a lower limit than
// configured is adopted, and a budget the server reports as used up is held
// back until the reset the server names or, lacking one, a whole window.
func (l *limiter) observe(h http.Header, userSent bool) {
	la, ra := atoiOr(h.Get(hdrLimitActor), -1), atoiOr(h.Get(hdrRemainingActor), -1)
	lu, ru := atoiOr(h.Get(hdrLimitUser), -1), atoiOr(h.Get(hdrRemainingUser), -1)
	if la < 0 && ra < 0 && lu < 0 && ru < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.last = RateLimit{LimitActor: la, RemainingActor: ra, LimitUser: lu, RemainingUser: ru, At: now}
	adjust := func(b *budget, limit, remaining int, suffix string) {
		if limit > 0 && (b.limit <= 0 || limit < b.limit) {
			b.limit = limit
		}
		if remaining == 0 {
			until := now.Add(b.window())
			if d, ok := resetDelay(h, suffix, now); ok {
				until = now.Add(d)
			}
			b.block(until)
		}
	}
	adjust(l.app, la, ra, "Actor")
	if userSent {
		adjust(l.user, lu, ru, "User")
	}
}

func (l *limiter) status() RateLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// resetDelay reads X-RateLimit-Reset[-suffix]: not documented by Legitmark
// but common; accepted as Unix seconds or as seconds from now.
func resetDelay(h http.Header, suffix string, now time.Time) (time.Duration, bool) {
	for _, k := range []string{"X-RateLimit-Reset-" + suffix, "X-RateLimit-Reset"} {
		v, err := strconv.ParseInt(strings.TrimSpace(h.Get(k)), 10, 64)
		if err != nil || v < 0 {
			continue
		}
		if v > 1_000_000_000 {
			d := time.Unix(v, 0).Sub(now)
			if d < 0 {
				d = 0
			}
			return d, true
		}
		return time.Duration(v) * time.Second, true
	}
	return 0, false
}

var retryAfterMessage = regexp.MustCompile(`(?i)retry after (\d{1,5}) ?s`)

// retryAfter reads a 429's "retry timing information", whose form the seed
// leaves open: Retry-After (seconds or HTTP date), a reset header, or, last
// resort, the SDK fixture's message "Rate limit exceeded. Retry after 60
// seconds.".
func retryAfter(h http.Header, message string, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(v); err == nil {
			d := t.Sub(now)
			if d < 0 {
				d = 0
			}
			return d, true
		}
	}
	if d, ok := resetDelay(h, "Actor", now); ok {
		return d, true
	}
	if m := retryAfterMessage.FindStringSubmatch(message); m != nil {
		s, _ := strconv.Atoi(m[1])
		return time.Duration(s) * time.Second, true
	}
	return 0, false
}
