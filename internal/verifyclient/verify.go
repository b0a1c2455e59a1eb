package verifyclient

import (
	"container/list"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Status is what the service said about a triple, as far as the client
// could establish it. It is a string so that it can be stored and logged
// as is.
type Status string

// Verify statuses.
const (
	// StatusAuthentic: the service accepted the triple — the verify
	// succeeded, or an ambiguous verify was settled as ours (SettledBy).
	StatusAuthentic Status = "authentic"
	// StatusExpired: "has expired", the triple was already used before
	// this client's first attempt reached the server.
	StatusExpired Status = "expired"
	// StatusInvalid: "is invalid", the MAC does not verify.
	StatusInvalid Status = "invalid"
	// StatusUnknownTag: the service does not know the tag.
	StatusUnknownTag Status = "unknown_tag"
	// StatusRejected: any other final refusal (another 4xx, a redirect, a
	// 2xx with an error body or verified:false). Not authentic, and no
	// statement about the tag either.
	StatusRejected Status = "rejected"
	// StatusAmbiguous: a verify may have been processed and its answer was
	// lost, and the read-only settle path could not tell. The triple must
	// never be verified again; only Settle may resolve it.
	StatusAmbiguous Status = "ambiguous"
	// StatusUnreachable: no attempt was processed (nothing written, or
	// refused with 429/503) before the attempts or the context ran out.
	// Verifying the triple again later is safe.
	StatusUnreachable Status = "unreachable"
)

// Final reports whether s is an answer about the triple, as opposed to
// ambiguous or unreachable.
func (s Status) Final() bool {
	switch s {
	case StatusAuthentic, StatusExpired, StatusInvalid, StatusUnknownTag, StatusRejected:
		return true
	}
	return false
}

// How an ambiguous verify was settled.
const (
	SettledByLatest        = "latest"        // cmac/latest: the triple is the latest registered tap
	SettledByVerifications = "verifications" // verifications/{uid} lists a verification at the triple's counter
)

// Outcome is the result of Verify or Settle.
type Outcome struct {
	Status Status
	// Verify is the tags/verify success body (StatusAuthentic from a
	// direct answer).
	Verify *VerifyResponse
	// Latest is the cmac/latest body when SettledBy is SettledByLatest.
	Latest *LatestResponse
	// SettledBy says how an ambiguous verify was resolved; "" for a
	// direct answer.
	SettledBy string
	// Err is the *APIError or *TransportError behind any status but a
	// direct StatusAuthentic (for a settled one: what made it ambiguous).
	Err error
	// Sent counts the tags/verify requests that were written (or may have
	// been); more than one only after 429/503 refusals.
	Sent int
	// SentAt is when the first request that may have reached the server
	// was sent; a durable queue keeps it for Settle.
	SentAt time.Time
	// RetryAfter is the server's requested delay when the client gave up
	// on a 429/503 (StatusUnreachable).
	RetryAfter time.Duration
	// Shared says the outcome was another call's: a verify of the same
	// triple in flight or already done in this process.
	Shared bool
}

// flight is one verify in progress; followers wait on done.
type flight struct {
	done chan struct{}
	out  Outcome
}

// Verify verifies t with tags/verify under the one-shot rules of
// remote-apis.md §3.3:
//
//   - t is validated first; a bad triple is an error and nothing is sent;
//   - one verify per triple at a time, and a triple verified before by
//     this client is answered from memory (Shared) instead of being sent
//     again (unless it was only StatusUnreachable);
//   - an attempt that certainly was not written (dial, TLS, refused
//     connection) or that was refused with 429/503 is retried with capped
//     full-jitter backoff or after Retry-After, at most three attempts;
//   - an attempt that may have been processed (timeout or reset after
//     writing, truncated, malformed or wrongly typed success body, 408,
//     other 5xx, a redirect) is never resent: it is settled with Settle,
//     and is StatusAmbiguous if Settle cannot tell;
//   - "has expired" after an earlier attempt reached the server (a 429 or
//     503 that should not have processed anything) is settled the same way
//     instead of being reported as a replay.
//
// The error is non-nil only for a bad triple (zero Outcome) or when ctx
// ended; the Outcome then still says whether the triple may have been
// processed (StatusAmbiguous) or not (StatusUnreachable). A follower whose
// ctx ends while waiting for another call's verify gets a zero Outcome.
func (c *Client) Verify(ctx context.Context, t Triple) (Outcome, error) {
	if err := t.Validate(); err != nil {
		return Outcome{}, err
	}
	key := t.Key()
	c.mu.Lock()
	if out, ok := c.recent.get(key); ok {
		c.mu.Unlock()
		out.Shared = true
		return out, nil
	}
	if f, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			out := f.out
			out.Shared = true
			return out, nil
		case <-ctx.Done():
			return Outcome{}, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.inflight[key] = f
	c.mu.Unlock()

	out := c.verify(ctx, t)
	c.mu.Lock()
	delete(c.inflight, key)
	if out.Status != StatusUnreachable {
		c.recent.put(key, out)
	}
	c.mu.Unlock()
	f.out = out
	close(f.done)
	if out.Status.Final() {
		return out, nil
	}
	return out, ctx.Err()
}

func (c *Client) verify(ctx context.Context, t Triple) Outcome {
	log := c.log.With(zap.String("uid", t.UID), zap.String("ctr", t.Ctr))
	body := tripleBody(t, "")
	var out Outcome
	reached := false // an earlier attempt reached the server (429/503)
	for attempt := 1; ; attempt++ {
		at := c.now()
		r := c.send(ctx, http.MethodPost, "/tags/verify", nil, body)
		if r.written {
			if out.Sent == 0 {
				out.SentAt = at
			}
			out.Sent++
		}
		var retryAfter time.Duration
		switch {
		case r.status == 0 && !r.written:
			// Dial, TLS or connection refused: certainly not processed.
			out.Status, out.Err = StatusUnreachable, &TransportError{Op: opVerify, Err: r.err}
		case r.status == 0:
			out.Err = &TransportError{Op: opVerify, Written: true, Err: r.err}
			log.Warn("verify outcome unknown", zap.Error(out.Err))
			return c.settleAfter(ctx, t, out)
		case r.status == 429 || r.status == 503:
			e := c.apiError(opVerify, r)
			reached = true
			out.Status, out.Err, out.RetryAfter = StatusUnreachable, e, e.RetryAfter
			retryAfter = e.RetryAfter
		case r.status/100 == 2:
			v, err := decodeSuccess(c, opVerify, r, DecodeVerify)
			var ae *APIError
			switch {
			case err == nil && v.Verified:
				out.Status, out.Verify, out.Err, out.RetryAfter = StatusAuthentic, &v, nil, 0
				return out
			case err == nil:
				out.Status, out.Err = StatusRejected, &APIError{Op: opVerify, Status: r.status, kinds: []error{errNotVerified}}
				return out
			case errors.As(err, &ae) && !ae.Has(ErrMalformedResponse):
				// A 2xx carrying an error body: the official client shows
				// its generic error, not "expired" (remote-apis.md §1.3
				// #1), so it says nothing about the tag.
				out.Status, out.Err = StatusRejected, ae
				return out
			default:
				// Processed, answer unreadable.
				out.Err = err
				log.Warn("verify answer unreadable", zap.Int("status", r.status), zap.Error(err))
				return c.settleAfter(ctx, t, out)
			}
		case r.status == 408 || r.status >= 500 || r.status/100 == 3:
			out.Err = c.apiError(opVerify, r)
			log.Warn("verify outcome unknown", zap.Int("status", r.status))
			return c.settleAfter(ctx, t, out)
		default:
			return c.classify(ctx, t, out, c.apiError(opVerify, r), reached)
		}
		log.Debug("verify not processed", zap.Int("attempt", attempt), zap.Int("status", r.status), zap.Error(out.Err))
		if ctx.Err() != nil || attempt >= c.verifyPolicy.attempts || !c.wait(ctx, c.verifyPolicy, attempt, retryAfter) {
			return out
		}
	}
}

// errNotVerified is the cause of a 2xx whose body says verified:false.
var errNotVerified = errors.New("verifyclient: verified is not true")

// classify turns a refusal into a status. "has expired" is trusted only
// when no earlier attempt reached the server; otherwise that attempt may
// have used the triple, and the read-only settle path decides.
func (c *Client) classify(ctx context.Context, t Triple, out Outcome, e *APIError, reached bool) Outcome {
	out.Err, out.RetryAfter = e, 0
	switch {
	case e.Has(ErrExpired) && reached:
		return c.settleAfter(ctx, t, out)
	case e.Has(ErrExpired):
		out.Status = StatusExpired
	case e.Has(ErrInvalidCMAC):
		out.Status = StatusInvalid
	case e.Has(ErrTagNotFound):
		out.Status = StatusUnknownTag
	default:
		out.Status = StatusRejected
	}
	return out
}

// settleAfter settles an ambiguous verify, keeping what the verify
// established (Sent, the error that made it ambiguous).
func (c *Client) settleAfter(ctx context.Context, t Triple, out Outcome) Outcome {
	s := c.settle(ctx, t, out.SentAt)
	s.Sent, s.SentAt = out.Sent, out.SentAt
	if s.Err == nil || s.Status == StatusAmbiguous {
		s.Err = out.Err
	}
	return s
}

// maxSettlePages bounds the verifications scan of Settle.
const maxSettlePages = 5

// ClockSkew is how far the service's clock may be behind ours: a
// registered verification counts as ours only if the service created it no
// earlier than ClockSkew before we sent the verify.
const ClockSkew = 2 * time.Minute

// Settle resolves a verify of t whose answer was lost, with read-only
// calls only — it never sends t to tags/verify:
//
//  1. cmac/latest: 200 with cmac_verified → the verify registered:
//     StatusAuthentic (SettledByLatest). 404 → StatusUnknownTag.
//  2. On 422 (not latest, or superseded by a later tap), verifications
//     lists the tag's successful verifications: one at t's counter can only
//     be t (one valid MAC per counter) → StatusAuthentic
//     (SettledByVerifications).
//  3. Anything else leaves it StatusAmbiguous; call Settle again later.
//
// sentAt is when the lost verify was sent (Outcome.SentAt); when it is not
// zero, a registered verification created more than ClockSkew before it is
// someone else's earlier use of the triple (a copied URL), not ours, and
// does not settle. A zero sentAt, or a verification without a readable
// created_at, skips that check.
//
// It may be called any number of times. The error is ctx's, if it ended.
func (c *Client) Settle(ctx context.Context, t Triple, sentAt time.Time) (Outcome, error) {
	if err := t.Validate(); err != nil {
		return Outcome{}, err
	}
	out := c.settle(ctx, t, sentAt)
	out.SentAt = sentAt
	if out.Status.Final() {
		c.mu.Lock()
		c.recent.put(t.Key(), out)
		c.mu.Unlock()
		return out, nil
	}
	return out, ctx.Err()
}

func (c *Client) settle(ctx context.Context, t Triple, sentAt time.Time) Outcome {
	log := c.log.With(zap.String("uid", t.UID), zap.String("ctr", t.Ctr))
	recent := func(ts Timestamp) bool {
		return sentAt.IsZero() || ts.Time.IsZero() || !ts.Time.Before(sentAt.Add(-ClockSkew))
	}
	lr, err := c.Latest(ctx, t)
	if err == nil {
		if lr.CMACVerified && (lr.Verification == nil ||
			strings.EqualFold(lr.Verification.CMAC, t.CMAC) && recent(lr.Verification.CreatedAt)) {
			log.Info("verify settled", zap.String("by", SettledByLatest))
			return Outcome{Status: StatusAuthentic, Latest: &lr, SettledBy: SettledByLatest}
		}
		return Outcome{Status: StatusAmbiguous, Err: &APIError{Op: opLatest, Status: http.StatusOK, kinds: []error{ErrNotLatest}}}
	}
	switch {
	case errors.Is(err, ErrTagNotFound):
		return Outcome{Status: StatusUnknownTag, Err: err}
	case !errors.Is(err, ErrNotLatest):
		log.Warn("verify not settled", zap.Error(err))
		return Outcome{Status: StatusAmbiguous, Err: err}
	}
	ctr, cerr := t.Counter()
	if cerr != nil {
		return Outcome{Status: StatusAmbiguous, Err: err}
	}
	for page := 1; page <= maxSettlePages; page++ {
		vr, verr := c.Verifications(ctx, t.UID, VerificationsQuery{Page: page, Limit: MaxVerificationsLimit})
		if verr != nil {
			log.Warn("verify not settled", zap.Error(verr))
			return Outcome{Status: StatusAmbiguous, Err: err}
		}
		for _, v := range vr.Verifications {
			if v.Counter != nil && *v.Counter == int64(ctr) && (v.UID == "" || strings.EqualFold(v.UID, t.UID)) && recent(v.CreatedAt) {
				log.Info("verify settled", zap.String("by", SettledByVerifications))
				return Outcome{Status: StatusAuthentic, SettledBy: SettledByVerifications}
			}
		}
		if len(vr.Verifications) < MaxVerificationsLimit {
			break
		}
	}
	log.Warn("verify not settled", zap.Error(err))
	return Outcome{Status: StatusAmbiguous, Err: err}
}

// recentOutcomes remembers the last n finished outcomes by triple key.
type recentOutcomes struct {
	n     int
	order *list.List // of string keys, newest at the front
	m     map[string]*list.Element
	vals  map[string]Outcome
}

func newRecent(n int) *recentOutcomes {
	return &recentOutcomes{n: n, order: list.New(), m: map[string]*list.Element{}, vals: map[string]Outcome{}}
}

func (r *recentOutcomes) get(k string) (Outcome, bool) {
	o, ok := r.vals[k]
	return o, ok
}

func (r *recentOutcomes) put(k string, o Outcome) {
	if e, ok := r.m[k]; ok {
		r.order.MoveToFront(e)
		r.vals[k] = o
		return
	}
	r.m[k] = r.order.PushFront(k)
	r.vals[k] = o
	for r.order.Len() > r.n {
		old := r.order.Remove(r.order.Back()).(string)
		delete(r.m, old)
		delete(r.vals, old)
	}
}
