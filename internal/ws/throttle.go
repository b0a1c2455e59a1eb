package ws

import (
	"net/http"
	"sync"
	"time"
)

// Limits on failed token attempts and on rejection logging, per peer.
const (
	// failBurst failed token attempts are allowed at once; then one more
	// every 1/failRate seconds. A peer over its budget is refused with 429
	// without its token being checked.
	failBurst = 10
	failRate  = 1.0 // per second
	// logEvery is the least time between two rejection log lines about
	// one peer; the lines in between are counted ("suppressed").
	logEvery = 10 * time.Second
	// maxPeers bounds each per-peer table; past it, idle entries are
	// dropped first, then arbitrary ones (a new peer is never refused
	// because of the table).
	maxPeers = 4096
)

// peerIPKey returns the key of the request's peer for failed attempts:
// its IP address (a new connection does not buy new guesses).
func peerIPKey(r *http.Request) string {
	if ip := peerIP(r); ip != nil {
		return ip.String()
	}
	return r.RemoteAddr
}

// peerKey returns the key of the request's peer for log limiting: its IP
// address, like peerIPKey.
func peerKey(r *http.Request) string { return peerIPKey(r) }

// failThrottle is a token bucket of failed token attempts per peer.
type failThrottle struct {
	now func() time.Time

	mu    sync.Mutex
	peers map[string]*bucket
}

type bucket struct {
	level float64 // attempts left
	at    time.Time
}

// refill brings b up to date at now and reports whether it is full.
func (b *bucket) refill(now time.Time) bool {
	if d := now.Sub(b.at); d > 0 {
		b.level = min(failBurst, b.level+d.Seconds()*failRate)
		b.at = now
	}
	return b.level >= failBurst
}

// allowed reports whether peer may try a token now.
func (ft *failThrottle) allowed(peer string) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	b, ok := ft.peers[peer]
	if !ok {
		return true
	}
	b.refill(ft.now())
	return b.level >= 1
}

// fail records a failed attempt of peer.
func (ft *failThrottle) fail(peer string) {
	now := ft.now()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	b, ok := ft.peers[peer]
	if !ok {
		if len(ft.peers) >= maxPeers {
			ft.evict(now)
		}
		b = &bucket{level: failBurst, at: now}
		ft.peers[peer] = b
	}
	b.refill(now)
	b.level = max(0, b.level-1)
}

// evict drops the peers whose budget is full again, or, if none is, one
// arbitrary peer. ft.mu must be held.
func (ft *failThrottle) evict(now time.Time) {
	for k, b := range ft.peers {
		if b.refill(now) {
			delete(ft.peers, k)
		}
	}
	if len(ft.peers) < maxPeers {
		return
	}
	for k := range ft.peers {
		delete(ft.peers, k)
		return
	}
}

// logLimiter allows one log line per peer per logEvery and counts the
// lines it holds back.
type logLimiter struct {
	now func() time.Time

	mu    sync.Mutex
	peers map[string]*logState
}

type logState struct {
	last       time.Time
	suppressed int
}

// allow reports whether a line about peer may be logged now, and how many
// were suppressed since the last one.
func (l *logLimiter) allow(peer string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	st, found := l.peers[peer]
	if !found {
		if len(l.peers) >= maxPeers {
			for k, v := range l.peers {
				if now.Sub(v.last) >= logEvery || len(l.peers) >= maxPeers {
					delete(l.peers, k)
				}
			}
		}
		l.peers[peer] = &logState{last: now}
		return true, 0
	}
	if now.Sub(st.last) < logEvery {
		st.suppressed++
		return false, 0
	}
	suppressed, st.suppressed, st.last = st.suppressed, 0, now
	return true, suppressed
}
