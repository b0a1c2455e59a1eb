package verifyclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfcd/nfcd/internal/secret"
	"go.uber.org/zap"
)

// Operation names, used in errors and logs.
const (
	opVerify        = "verify"
	opValidate      = "validate"
	opLatest        = "latest"
	opClaim         = "claim"
	opRecover       = "recover"
	opVerifications = "verifications"
	opTransfers     = "transfers"
	opConsent       = "marketing_consent"
)

// DefaultMaxRetryAfter is the longest Retry-After the client waits for
// inside one call; a longer one ends the call (the answer carries the
// delay, so a durable queue can come back later).
const DefaultMaxRetryAfter = 10 * time.Second

// defaultRecent is how many finished verify outcomes the client remembers.
const defaultRecent = 1024

// Options configure a Client. Only BaseURL is required.
type Options struct {
	// BaseURL is the API root, e.g. "https://api.legitimate.tech/external/v1".
	BaseURL string
	// Timeout bounds each attempt (request and body); 0 means
	// DefaultTimeout. The whole call is bounded by the caller's context.
	Timeout time.Duration
	// APIKey, when set, is sent in APIKeyHeader (default
	// DefaultAPIKeyHeader). It is never logged.
	APIKey       secret.String
	APIKeyHeader string
	// Version goes into the User-Agent, "nfcd/<version>".
	Version string
	// HTTPClient replaces the default client (e.g. a test server's). Its
	// CheckRedirect is overridden: the client never follows redirects.
	HTTPClient *http.Client
	// Log receives debug lines per attempt and warnings for ambiguous
	// verifies; nil means no logging.
	Log *zap.Logger
	// Now and Rand are the clock (HTTP-date Retry-After, deadlines) and
	// the jitter source in [0, 1); nil means time.Now and math/rand/v2.
	Now  func() time.Time
	Rand func() float64
	// MaxRetryAfter is the longest Retry-After waited for in-line; 0 means
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// Recent is how many finished verify outcomes are remembered, so that
	// the same triple is never sent twice by one process; 0 means 1024.
	Recent int
}

// policy is a retry policy: full-jitter exponential backoff,
// rand(0, min(cap, base·2^(attempt-1))), for at most attempts attempts
// (remote-apis.md §3.4).
type policy struct {
	base, cap time.Duration
	attempts  int
}

var (
	verifyPolicy = policy{base: 250 * time.Millisecond, cap: 2 * time.Second, attempts: 3}
	readPolicy   = policy{base: 250 * time.Millisecond, cap: 4 * time.Second, attempts: 4}
	txPolicy     = policy{base: 250 * time.Millisecond, cap: 2 * time.Second, attempts: 2}
)

func (p policy) delay(attempt int, rnd float64) time.Duration {
	d := p.cap
	if attempt-1 < 16 {
		if e := p.base << (attempt - 1); e < d {
			d = e
		}
	}
	return time.Duration(rnd * float64(d))
}

// Client is a Legitimate API client. It is safe for concurrent use.
type Client struct {
	base          string
	hc            *http.Client
	ua            string
	key           secret.String
	keyHeader     string
	timeout       time.Duration
	log           *zap.Logger
	now           func() time.Time
	rand          func() float64
	maxRetryAfter time.Duration
	verifyPolicy  policy
	readPolicy    policy

	mu       sync.Mutex
	inflight map[string]*flight
	recent   *recentOutcomes
}

// New returns a client for opts. The base URL must be http(s) and
// absolute; Config.Validate applies the stricter configuration rules.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("verifyclient: base URL must be an absolute http(s) URL")
	}
	if opts.APIKeyHeader != "" {
		if err := checkHeaderName(opts.APIKeyHeader); err != nil {
			return nil, errors.New("verifyclient: api key header: " + err.Error())
		}
	}
	c := &Client{
		base:          strings.TrimRight(opts.BaseURL, "/"),
		ua:            "nfcd/" + cmp(opts.Version, "dev"),
		key:           opts.APIKey,
		keyHeader:     cmp(opts.APIKeyHeader, DefaultAPIKeyHeader),
		timeout:       opts.Timeout,
		log:           opts.Log,
		now:           opts.Now,
		rand:          opts.Rand,
		maxRetryAfter: opts.MaxRetryAfter,
		verifyPolicy:  verifyPolicy,
		readPolicy:    readPolicy,
		inflight:      map[string]*flight{},
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.maxRetryAfter <= 0 {
		c.maxRetryAfter = DefaultMaxRetryAfter
	}
	n := opts.Recent
	if n <= 0 {
		n = defaultRecent
	}
	c.recent = newRecent(n)
	if opts.HTTPClient != nil {
		hc := *opts.HTTPClient
		c.hc = &hc
	} else {
		c.hc = &http.Client{Transport: newTransport()}
	}
	// remote-apis.md §3.6: a 301/302 would turn the POST into a GET, a
	// 307/308 would resend the triple (and the key header) elsewhere.
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newTransport is the default transport: bounded dial and TLS handshake
// (remote-apis.md §3.5), TLS 1.2 or later.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   3 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// CloseIdleConnections closes the client's idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// response is what one attempt got.
type response struct {
	status  int
	header  http.Header
	body    []byte
	written bool  // request bytes may have reached the server
	err     error // no answer, or the body was cut off
}

var errBodyTooLarge = errors.New("response body too large")

// send makes one attempt, bounded by the per-attempt timeout. It never
// lets net/http resend the request: GetBody is nil and no idempotency
// header is set (remote-apis.md §3.6), so the transport can only retry a
// request it has not written.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte) response {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var written atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		WroteHeaders: func() { written.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { written.Store(true) },
	})
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, method, u, rd)
	if err != nil {
		return response{err: err}
	}
	req.GetBody = nil
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !c.key.IsZero() {
		req.Header.Set(c.keyHeader, c.key.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{err: err, written: written.Load()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	r := response{status: resp.StatusCode, header: resp.Header, body: b, written: true, err: err}
	if err == nil && len(b) > maxBody {
		r.err = errBodyTooLarge
	}
	return r
}

// apiError normalises r, which has a status.
func (c *Client) apiError(op string, r response) *APIError {
	return newAPIError(op, r.status, r.header.Get("Content-Type"), r.header.Get("Retry-After"), r.body, c.now())
}

// decodeSuccess decodes r's 2xx body, or returns the ErrMalformedResponse
// error for a body that is cut off, not JSON or an error body.
func decodeSuccess[T any](c *Client, op string, r response, decode func([]byte) (T, error)) (T, error) {
	var zero T
	if r.err != nil || !isJSONType(r.header.Get("Content-Type")) {
		return zero, malformed(op, r.status, r.header.Get("Content-Type"), r.body)
	}
	v, err := decode(r.body)
	if err != nil {
		e := c.apiError(op, r)
		if !errors.Is(err, errErrorKey) {
			e.kinds = append([]error{ErrMalformedResponse}, e.kinds...)
		}
		return zero, e
	}
	return v, nil
}

// wait sleeps before retry attempt+1: the server's Retry-After when it
// gave one, else the policy's backoff. It reports false (without
// sleeping) when the wait would pass MaxRetryAfter or the context's
// deadline, or when the context ends.
func (c *Client) wait(ctx context.Context, p policy, attempt int, retryAfter time.Duration) bool {
	d := retryAfter
	if d <= 0 {
		d = p.delay(attempt, c.rand())
	}
	if d > c.maxRetryAfter {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && c.now().Add(d).After(dl) {
		return false
	}
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// call runs a read-only or otherwise repeatable request under p:
// transport errors, timeouts, cut-off or malformed bodies, 408, 429 and
// 5xx are retried; other answers are final.
func call[T any](ctx context.Context, c *Client, op, method, path string, q url.Values, body []byte, p policy, decode func([]byte) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		r := c.send(ctx, method, path, q, body)
		var err error
		var retryAfter time.Duration
		switch {
		case r.status == 0:
			err = &TransportError{Op: op, Written: r.written, Err: r.err}
		case r.status/100 == 2:
			v, derr := decodeSuccess(c, op, r, decode)
			if derr == nil {
				return v, nil
			}
			err = derr
		default:
			e := c.apiError(op, r)
			retryAfter = e.RetryAfter
			err = e
			if !(r.status == 408 || r.status == 429 || r.status >= 500) {
				return zero, err
			}
		}
		c.log.Debug("request failed", zap.String("op", op), zap.Int("attempt", attempt), zap.Int("status", r.status), zap.Error(err))
		if ctx.Err() != nil {
			return zero, err
		}
		if attempt >= p.attempts || !c.wait(ctx, p, attempt, retryAfter) {
			return zero, err
		}
	}
}

// tripleBody is the JSON body of the triple endpoints.
func tripleBody(t Triple, wallet string) []byte {
	type body struct {
		Triple
		WalletAddress string `json:"walletAddress,omitempty"`
	}
	b, _ := json.Marshal(body{t, wallet}) // strings only: cannot fail
	return b
}

// Validate calls tags/cmac/validate: is the triple's MAC valid and not
// outdated? It changes nothing on the server [inferred].
func (c *Client) Validate(ctx context.Context, t Triple) (ValidateResponse, error) {
	if err := t.Validate(); err != nil {
		return ValidateResponse{}, err
	}
	return call(ctx, c, opValidate, http.MethodPost, "/tags/cmac/validate", nil, tripleBody(t, ""), c.readPolicy, DecodeValidate)
}

// Latest calls tags/cmac/latest: is the triple the most recent registered
// verification of its tag? A 422 matches ErrNotLatest. Read-only
// [inferred, remote-apis.md §1.3 #3].
func (c *Client) Latest(ctx context.Context, t Triple) (LatestResponse, error) {
	if err := t.Validate(); err != nil {
		return LatestResponse{}, err
	}
	return call(ctx, c, opLatest, http.MethodPost, "/tags/cmac/latest", nil, tripleBody(t, ""), c.readPolicy, DecodeLatest)
}

// Claim calls tags/claim: transfer the tag's digital ID to wallet ("0x" +
// 40 hex). The triple must be the latest successful verify. Claim is an
// on-chain transaction and is never resent once it may have reached the
// server: an error matching ErrAmbiguous must be reconciled with
// Transfers or the tag's owner_address, not by claiming again.
func (c *Client) Claim(ctx context.Context, t Triple, wallet string) (TxResponse, error) {
	if err := t.Validate(); err != nil {
		return TxResponse{}, err
	}
	if err := checkWallet("walletAddress", wallet); err != nil {
		return TxResponse{}, err
	}
	return c.tx(ctx, opClaim, "/tags/claim", tripleBody(t, wallet))
}

// Recover calls tags/recover: reset the tag's digital ID back to
// Legitimate. The same one-shot rules as Claim apply.
func (c *Client) Recover(ctx context.Context, t Triple) (TxResponse, error) {
	if err := t.Validate(); err != nil {
		return TxResponse{}, err
	}
	return c.tx(ctx, opRecover, "/tags/recover", tripleBody(t, ""))
}

// tx sends a one-shot transaction request: retried only when nothing was
// written or the server refused it unprocessed (429, 503).
func (c *Client) tx(ctx context.Context, op, path string, body []byte) (TxResponse, error) {
	for attempt := 1; ; attempt++ {
		r := c.send(ctx, http.MethodPost, path, nil, body)
		var err error
		var retryAfter time.Duration
		switch {
		case r.status == 0:
			err = &TransportError{Op: op, Written: r.written, Err: r.err}
			if r.written {
				return TxResponse{}, err
			}
		case r.status/100 == 2:
			v, derr := decodeSuccess(c, op, r, DecodeTx)
			if derr != nil {
				// Processed, answer unreadable.
				return TxResponse{}, &TransportError{Op: op, Written: true, Err: derr}
			}
			return v, nil
		case r.status == 429 || r.status == 503:
			e := c.apiError(op, r)
			err, retryAfter = e, e.RetryAfter
		case r.status == 408 || r.status >= 500 || r.err != nil:
			return TxResponse{}, &TransportError{Op: op, Written: true, Err: c.apiError(op, r)}
		default:
			return TxResponse{}, c.apiError(op, r)
		}
		if ctx.Err() != nil || attempt >= txPolicy.attempts || !c.wait(ctx, txPolicy, attempt, retryAfter) {
			return TxResponse{}, err
		}
	}
}

// VerificationsQuery pages through verifications/{uid}. Page is 1-based;
// zero values are left out of the request. Limit is at most 1000.
type VerificationsQuery struct {
	Page, Limit int
	// Type is the documented but unexplained "claim | reset | mint"
	// filter; "" leaves it out.
	Type string
}

// MaxVerificationsLimit is the documented page size limit.
const MaxVerificationsLimit = 1000

// Verifications lists the successful verifications of a tag.
func (c *Client) Verifications(ctx context.Context, uid string, q VerificationsQuery) (VerificationsResponse, error) {
	if err := hexField("uid", uid, MinUIDLen, MaxUIDLen); err != nil {
		return VerificationsResponse{}, err
	}
	v := url.Values{}
	if q.Page < 0 || q.Limit < 0 || q.Limit > MaxVerificationsLimit {
		return VerificationsResponse{}, &FormatError{Field: "limit", Msg: "page must be ≥ 1 and limit 1 to 1000"}
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	switch q.Type {
	case "":
	case "claim", "reset", "mint":
		v.Set("type", q.Type)
	default:
		return VerificationsResponse{}, &FormatError{Field: "type", Msg: "want claim, reset or mint"}
	}
	return call(ctx, c, opVerifications, http.MethodGet, "/verifications/"+url.PathEscape(uid), v, nil, c.readPolicy, DecodeVerifications)
}

// TransferQuery filters transfers/{uid}. The service answers 406 to a
// combination it does not expect, so the client checks the documented
// rules first: mint and claim need Receiver and no Sender, recover needs
// Sender and no Receiver; an empty Type sends no parameters at all.
type TransferQuery struct {
	Type             string // "", "mint", "claim", "recover"
	Sender, Receiver string // wallet addresses
}

func (q TransferQuery) values() (url.Values, error) {
	v := url.Values{}
	switch q.Type {
	case "":
		if q.Sender != "" || q.Receiver != "" {
			return nil, &FormatError{Field: "type", Msg: "sender and receiver need a type"}
		}
		return v, nil
	case "mint", "claim":
		if q.Sender != "" || q.Receiver == "" {
			return nil, &FormatError{Field: "receiver", Msg: q.Type + " needs a receiver and no sender"}
		}
		if err := checkWallet("receiver", q.Receiver); err != nil {
			return nil, err
		}
		v.Set("receiver", q.Receiver)
	case "recover":
		if q.Receiver != "" || q.Sender == "" {
			return nil, &FormatError{Field: "sender", Msg: "recover needs a sender and no receiver"}
		}
		if err := checkWallet("sender", q.Sender); err != nil {
			return nil, err
		}
		v.Set("sender", q.Sender)
	default:
		return nil, &FormatError{Field: "type", Msg: "want mint, claim or recover"}
	}
	v.Set("type", q.Type)
	return v, nil
}

// Transfers lists the ownership transfers of a tag.
func (c *Client) Transfers(ctx context.Context, uid string, q TransferQuery) (TransfersResponse, error) {
	if err := hexField("uid", uid, MinUIDLen, MaxUIDLen); err != nil {
		return TransfersResponse{}, err
	}
	v, err := q.values()
	if err != nil {
		return TransfersResponse{}, err
	}
	return call(ctx, c, opTransfers, http.MethodGet, "/transfers/"+url.PathEscape(uid), v, nil, c.readPolicy, DecodeTransfers)
}

// MarketingConsent sets the e-mail marketing consent of the users with
// that e-mail. It is a GET with a side effect, meant for links in e-mails
// (remote-apis.md §1.3 #8): call it only on an explicit user request.
// Setting the same value twice is harmless, so it is retried like a read.
func (c *Client) MarketingConsent(ctx context.Context, email string, subscribe bool) (ConsentResponse, error) {
	if len(email) < 3 || len(email) > 254 || strings.IndexByte(email, '@') <= 0 || strings.ContainsAny(email, " \t\r\n") {
		return ConsentResponse{}, &FormatError{Field: "email", Msg: "not an e-mail address"}
	}
	v := url.Values{"email": {email}, "subscribe": {strconv.FormatBool(subscribe)}}
	return call(ctx, c, opConsent, http.MethodGet, "/marketing_consent", v, nil, c.readPolicy, DecodeConsent)
}

// checkWallet checks an EVM address: "0x" and 40 hex digits.
func checkWallet(field, a string) error {
	if len(a) != 42 || (a[:2] != "0x" && a[:2] != "0X") {
		return &FormatError{Field: field, Msg: "want 0x and 40 hex digits"}
	}
	for i := 2; i < len(a); i++ {
		if !isHex(a[i]) {
			return &FormatError{Field: field, Msg: "want 0x and 40 hex digits"}
		}
	}
	return nil
}
