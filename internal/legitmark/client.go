package legitmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfcd/nfcd/internal/secret"
	"go.uber.org/zap"
)

// TokenStore keeps the actor token (older auth model) across restarts; the
// daemon's store implements it. Load returns "" when no token is stored.
type TokenStore interface {
	LoadUserToken(ctx context.Context) (secret.String, error)
	SaveUserToken(ctx context.Context, token secret.String) error
}

// MemTokens is an in-memory TokenStore.
type MemTokens struct {
	mu  sync.Mutex
	tok secret.String
}

// LoadUserToken returns the stored token.
func (m *MemTokens) LoadUserToken(context.Context) (secret.String, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tok, nil
}

// SaveUserToken stores the token.
func (m *MemTokens) SaveUserToken(_ context.Context, t secret.String) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = t
	return nil
}

// Options are the client's collaborators; every field may be left zero.
type Options struct {
	Log          *zap.Logger
	HTTPClient   *http.Client        // API and intent requests
	UploadClient *http.Client        // presigned PUTs (defaults to HTTPClient)
	Tokens       TokenStore          // actor token store (x-api-key auth)
	Now          func() time.Time    // clock
	Rand         func() float64      // jitter source in [0,1)
	Getenv       func(string) string // for api_key_env / user_token_env
	UserAgent    string              // e.g. "nfcd/1.2.3"
}

// Client talks to the Legitmark API. It is safe for concurrent use.
type Client struct {
	cfg    Config
	key    secret.String
	base   *url.URL
	intent *url.URL
	hc, uc *http.Client
	log    *zap.Logger
	now    func() time.Time
	rand   func() float64
	ua     string
	tokens TokenStore
	lim    *limiter

	mu       sync.Mutex
	userTok  secret.String
	tokKnown bool // userTok loaded from the config or the store
	secrets  scrubber
}

// New validates cfg, resolves its secrets and returns a client.
func New(cfg Config, o Options) (*Client, error) {
	creds, err := cfg.Resolve(o.Getenv)
	if err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	base, _ := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	intent, _ := url.Parse(cfg.IntentURL)
	c := &Client{
		cfg: cfg, key: creds.APIKey, base: base, intent: intent,
		hc: o.HTTPClient, uc: o.UploadClient, log: o.Log, now: o.Now, rand: o.Rand,
		ua: o.UserAgent, tokens: o.Tokens,
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	c.log = c.log.Named("legitmark")
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.ua == "" {
		c.ua = "nfcd"
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: defaultTransport()}
	}
	if c.uc == nil {
		c.uc = c.hc
	}
	// Never follow redirects: a 307/308 would resend a create or submit to
	// another host, a 301/302 would turn it into a body-less GET (§3.6), and
	// a redirect could carry credentials off the configured host.
	c.hc = noRedirects(c.hc)
	c.uc = noRedirects(c.uc)
	c.secrets.add(string(creds.APIKey))
	if creds.UserToken != "" {
		c.userTok, c.tokKnown = creds.UserToken, true
		c.secrets.add(string(creds.UserToken))
	}
	c.lim = newLimiter(cfg.Limits, c.now)
	return c, nil
}

func defaultTransport() http.RoundTripper {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}

func noRedirects(hc *http.Client) *http.Client {
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// Config returns the configuration in use (with defaults filled in). Its
// secrets print redacted.
func (c *Client) Config() Config { return c.cfg }

// RateLimit returns the last X-RateLimit-* headers the server sent.
func (c *Client) RateLimit() RateLimit { return c.lim.status() }

func (c *Client) scrub(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secrets.scrub(s)
}

// userToken returns the actor token for x-api-key auth: from the
// configuration, else the TokenStore (loaded once).
func (c *Client) userToken(ctx context.Context) (secret.String, error) {
	c.mu.Lock()
	if c.tokKnown || c.tokens == nil {
		t := c.userTok
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()
	t, err := c.tokens.LoadUserToken(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tokKnown {
		c.userTok, c.tokKnown = t, true
		c.secrets.add(string(t))
	}
	return c.userTok, nil
}

func (c *Client) setUserToken(t secret.String) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.userTok, c.tokKnown = t, true
	c.secrets.add(string(t))
}

// call describes one API operation.
type call struct {
	op          string
	method      string
	u           *url.URL
	body        any  // JSON-encoded when non-nil
	idempotent  bool // safe to resend after it may have reached the server
	public      bool // no credentials (GET /api/sr/find)
	newSR       bool // counts against the SR-per-hour budget
	noUserToken bool // x-api-key without x-user-token (actor registration)
	out         any  // decoded from a 2xx body
}

// retry policy of remote-apis.md §3.4: LM requests 1 s base, 30 s cap, 4
// attempts; rate-limit waits are counted separately.
const (
	apiAttempts    = 4
	apiBackoffBase = time.Second
	apiBackoffCap  = 30 * time.Second
	maxRateWaits   = 6
	maxBody        = 8 << 20
)

// backoff returns a full-jitter delay for attempt n (0-based), at least
// base/2 so that a retry never follows immediately ("never hammer").
func (c *Client) backoff(n int, base, limit time.Duration) time.Duration {
	d := base << n
	if d > limit || d <= 0 {
		d = limit
	}
	return base/2 + time.Duration(c.rand()*float64(d-base/2))
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) apiURL(path string, q url.Values) *url.URL {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return &u
}

// do runs one API operation with the limiter, auth, retries and error
// decoding. A non-idempotent operation is resent only when the failed
// attempt provably did not reach the server (not written, or a 429);
// otherwise do returns an *AmbiguousError for the caller to settle.
func (c *Client) do(ctx context.Context, cl *call) error {
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return err
		}
	}
	var (
		tok   secret.String
		err   error
		user  bool
		waits int
	)
	if !cl.public && !cl.noUserToken && c.cfg.Auth == AuthXAPIKey {
		if tok, err = c.userToken(ctx); err != nil {
			return err
		}
		user = tok != ""
	}
	for attempt := 0; ; {
		bs := []*budget{c.lim.app}
		if cl.public {
			bs = nil
		}
		if user {
			bs = append(bs, c.lim.user)
		}
		if cl.newSR {
			bs = append(bs, c.lim.sr)
		}
		if err := c.lim.wait(ctx, bs...); err != nil {
			return err
		}
		resp, payload, written, err := c.send(ctx, cl, body, tok)
		if err != nil {
			if ctx.Err() != nil {
				if written && !cl.idempotent {
					return &AmbiguousError{Op: cl.op, Err: err}
				}
				return err
			}
			attempt++
			if !written || cl.idempotent {
				if attempt < apiAttempts {
					d := c.backoff(attempt-1, apiBackoffBase, apiBackoffCap)
					c.log.Warn("request failed, retrying", zap.String("op", cl.op), zap.Int("attempt", attempt),
						zap.Bool("written", written), zap.Duration("after", d), zap.String("error", c.scrub(err.Error())))
					if err := sleep(ctx, d); err != nil {
						return err
					}
					continue
				}
				return err
			}
			return &AmbiguousError{Op: cl.op, Err: err}
		}
		if !cl.public {
			c.lim.observe(resp.Header, user)
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if cl.out == nil {
				return nil
			}
			if err := json.Unmarshal(payload, cl.out); err != nil {
				return &DecodeError{Op: cl.op, Err: err}
			}
			return nil
		case resp.StatusCode == http.StatusTooManyRequests:
			ae := c.apiError(cl.op, resp, payload)
			waits++
			d := ae.RetryAfter
			if d <= 0 {
				d = c.backoff(waits-1, apiBackoffBase, 60*time.Second)
			}
			// A 429 is refused before processing (§3.3 rule 3): resending is
			// safe even for create and submit. Hold every budget this request
			// used, so that concurrent callers pause too.
			c.lim.block(c.now().Add(d), bs...)
			c.log.Warn("rate limited", zap.String("op", cl.op), zap.Duration("wait", d), zap.Int("waits", waits))
			if waits >= maxRateWaits {
				return ae
			}
			if len(bs) == 0 { // no budget holds a public request back: wait here
				if err := sleep(ctx, d); err != nil {
					return err
				}
			}
			continue
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
			ae := c.apiError(cl.op, resp, payload)
			if !cl.idempotent {
				// A gateway may have lost the answer of a request that the
				// upstream committed.
				return &AmbiguousError{Op: cl.op, Err: ae}
			}
			attempt++
			if attempt < apiAttempts && resp.StatusCode != http.StatusNotImplemented {
				d := c.backoff(attempt-1, apiBackoffBase, apiBackoffCap)
				if ae.RetryAfter > d {
					d = ae.RetryAfter
				}
				c.log.Warn("server error, retrying", zap.String("op", cl.op), zap.Int("status", resp.StatusCode),
					zap.Int("attempt", attempt), zap.Duration("after", d))
				if err := sleep(ctx, d); err != nil {
					return err
				}
				continue
			}
			return ae
		default:
			return c.apiError(cl.op, resp, payload)
		}
	}
}

// send performs one attempt. written reports whether the request reached the
// connection (httptrace WroteRequest), i.e. whether the server may act on it.
func (c *Client) send(ctx context.Context, cl *call, body []byte, tok secret.String) (*http.Response, []byte, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.u.String(), rd)
	if err != nil {
		return nil, nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !cl.public {
		switch c.cfg.Auth {
		case AuthXAPIKey:
			req.Header.Set("x-api-key", c.key.Reveal())
			if tok != "" {
				req.Header.Set("x-user-token", tok.Reveal())
			}
		default:
			req.Header.Set("Authorization", "Bearer "+c.key.Reveal())
		}
	}
	start := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, wrote.Load(), &TransportError{Op: cl.op, Written: wrote.Load(), Err: c.transportCause(err)}
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, true, &TransportError{Op: cl.op, Written: true, Err: c.transportCause(err)}
	}
	c.log.Debug("request", zap.String("op", cl.op), zap.String("method", cl.method), zap.String("path", cl.u.Path),
		zap.Int("status", resp.StatusCode), zap.Duration("took", c.now().Sub(start)))
	return resp, payload, true, nil
}

// transportCause drops the *url.Error wrapper (its text carries the URL,
// whose query may hold a presigned signature) and keeps the cause, whose
// type callers may test (context.DeadlineExceeded, net.Error).
func (c *Client) transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if msg := err.Error(); c.scrub(msg) != msg {
		return errors.New(c.scrub(msg))
	}
	return err
}

// apiError decodes an error body tolerantly: the documented object form, a
// bare string "error", a top-level message, or no JSON at all.
func (c *Client) apiError(op string, resp *http.Response, payload []byte) *APIError {
	ae := &APIError{Op: op, Status: resp.StatusCode}
	var body struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
		Errors  json.RawMessage `json:"errors"`
		Details json.RawMessage `json:"details"`
	}
	if json.Unmarshal(payload, &body) == nil {
		ae.Message = body.Message
		ae.Details = rawString(body.Details)
		ae.Errors = fieldErrors(body.Errors)
		var obj struct {
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
			Errors  json.RawMessage `json:"errors"`
		}
		if s := rawString(body.Error); s != "" {
			ae.Message = s
		} else if json.Unmarshal(body.Error, &obj) == nil {
			if obj.Message != "" {
				ae.Message = obj.Message
			}
			if d := rawString(obj.Details); d != "" {
				ae.Details = d
			}
			if fe := fieldErrors(obj.Errors); fe != nil {
				ae.Errors = fe
			}
		}
	}
	if ae.Message == "" {
		ae.Message = strings.ToLower(http.StatusText(resp.StatusCode))
	}
	ae.Message = c.scrub(truncate(ae.Message, 200))
	ae.Details = c.scrub(truncate(ae.Details, 100))
	for i := range ae.Errors {
		ae.Errors[i].Code = c.scrub(truncate(ae.Errors[i].Code, 100))
		ae.Errors[i].Message = c.scrub(truncate(ae.Errors[i].Message, 200))
	}
	if len(ae.Errors) > 20 {
		ae.Errors = ae.Errors[:20]
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if d, ok := retryAfter(resp.Header, ae.Message, c.now()); ok {
			ae.RetryAfter = d
		}
	}
	ae.RequestID = truncate(firstHeader(resp.Header, "X-Request-Id", "X-Amzn-Requestid"), 100)
	return ae
}

func firstHeader(h http.Header, keys ...string) string {
	for _, k := range keys {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

func rawString(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// fieldErrors accepts the documented array of {code,message}, an array of
// strings, or a Rails-style {"field":["message"]} object.
func fieldErrors(raw json.RawMessage) []FieldError {
	if len(raw) == 0 {
		return nil
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		var out []FieldError
		for _, e := range arr {
			var fe FieldError
			if s := rawString(e); s != "" {
				fe.Message = s
			} else if json.Unmarshal(e, &fe) != nil {
				continue
			}
			out = append(out, fe)
		}
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out []FieldError
		for _, k := range keys {
			v := obj[k]
			var msgs []string
			if s := rawString(v); s != "" {
				msgs = []string{s}
			} else {
				_ = json.Unmarshal(v, &msgs)
			}
			out = append(out, FieldError{Code: k, Message: strings.Join(msgs, "; ")})
		}
		return out
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
