package legitmark

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// PresignedURL is an upload URL from the intent endpoint. Its query holds an
// S3 signature — a short-lived credential — so it prints without the query.
type PresignedURL struct {
	u       *url.URL
	expires time.Time // by the local clock: receipt time + X-Amz-Expires
}

// String returns the URL without its query.
func (p PresignedURL) String() string {
	if p.u == nil {
		return ""
	}
	return p.u.Scheme + "://" + p.u.Host + p.u.Path
}

// MarshalJSON writes the query-less form.
func (p PresignedURL) MarshalJSON() ([]byte, error) { return []byte(`"` + p.String() + `"`), nil }

// Expires returns when the URL stops working by the local clock — the time
// it was received plus its X-Amz-Expires, so that a kiosk clock that is off
// does not matter — and whether the URL said.
func (p PresignedURL) Expires() (time.Time, bool) { return p.expires, !p.expires.IsZero() }

// signsHeader reports whether the URL's X-Amz-SignedHeaders lists h; true
// when the parameter is absent (follow the SDK then).
func (p PresignedURL) signsHeader(h string) bool {
	sh := p.u.Query().Get("X-Amz-SignedHeaders")
	if sh == "" {
		return true
	}
	for _, v := range strings.Split(sh, ";") {
		if strings.EqualFold(v, h) {
			return true
		}
	}
	return false
}

// Intent asks for a presigned upload URL for one side
// (GET <intent_url>?sr=<uuid>&side=<side uuid>.<ext>). "The side parameter
// must include a file extension … Requests without an extension return
// 400." The intent host is Legitmark's (or the configured proxy), so it gets
// the credentials; the S3 URL it returns never does.
func (c *Client) Intent(ctx context.Context, sr, side, ext string) (PresignedURL, error) {
	if err := checkID("sr", sr); err != nil {
		return PresignedURL{}, err
	}
	if err := checkID("side", side); err != nil {
		return PresignedURL{}, err
	}
	switch ext {
	case "jpg", "jpeg", "png":
	default:
		return PresignedURL{}, errors.Join(ErrBadInput, errors.New("legitmark: intent: extension must be jpg, jpeg or png"))
	}
	u := *c.intent
	u.RawQuery = url.Values{"sr": {sr}, "side": {side + "." + ext}}.Encode()
	var resp struct {
		Message string `json:"message"`
		URL     string `json:"url"`
	}
	received := c.now()
	if err := c.do(ctx, &call{op: "upload intent", method: http.MethodGet, u: &u, idempotent: true, out: &resp}); err != nil {
		return PresignedURL{}, err
	}
	pu, err := url.Parse(resp.URL)
	if err != nil || (pu.Scheme != "https" && !(pu.Scheme == "http" && isLoopback(pu.Hostname()))) || pu.Host == "" {
		return PresignedURL{}, &DecodeError{Op: "upload intent", Err: errors.New("url is not an https URL")}
	}
	out := PresignedURL{u: pu}
	if secs := atoiOr(pu.Query().Get("X-Amz-Expires"), -1); secs >= 0 {
		out.expires = received.Add(time.Duration(secs) * time.Second)
	}
	c.mu.Lock()
	if sig := pu.Query().Get("X-Amz-Signature"); sig != "" {
		c.secrets.add(sig)
	}
	c.mu.Unlock()
	return out, nil
}

// Presigned PUT retry policy (§3.4): 1 s base, 10 s cap, 3 attempts per URL;
// a 403 (expired or bad signature) fetches a new intent, at most twice.
const (
	putAttempts     = 3
	putBackoffBase  = time.Second
	putBackoffCap   = 10 * time.Second
	putReintents    = 2
	putExpiryMargin = 10 * time.Second
)

// Put uploads img to a presigned URL. progress, if not nil, is called with
// 0, then with the bytes sent so far in this attempt.
func (c *Client) Put(ctx context.Context, pu PresignedURL, img *Image, progress func(sent int64)) error {
	if pu.u == nil {
		return errors.Join(ErrBadInput, errors.New("legitmark: upload: no URL"))
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.UploadTimeout)
	defer cancel()
	if progress != nil {
		progress(0) // an attempt starts from nothing (a retry restarts the count)
	}
	var sent atomic.Int64
	body := &countingReader{r: bytes.NewReader(img.Data), n: &sent, fn: progress}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, pu.u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(img.Data))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(img.Data)), nil }
	req.Header.Set("Content-Type", img.ContentType)
	req.Header.Set("User-Agent", c.ua)
	// The SDK sends these two; a presigned URL that lists its signed headers
	// without x-amz-acl would refuse an unsigned x-amz-* header, so the ACL
	// follows the URL.
	req.Header.Set("Cache-Control", "max-age=10")
	if pu.signsHeader("x-amz-acl") {
		req.Header.Set("x-amz-acl", "public-read")
	}
	start := c.now()
	resp, err := c.uc.Do(req)
	if err != nil {
		return &TransportError{Op: "upload", Written: sent.Load() > 0, Err: c.transportCause(err)}
	}
	defer resp.Body.Close()
	payload, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	c.log.Debug("upload", zap.String("path", pu.u.Path), zap.Int("status", resp.StatusCode),
		zap.Int("bytes", len(img.Data)), zap.Duration("took", c.now().Sub(start)))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &S3Error{Status: resp.StatusCode}
	var x struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(payload, &x) == nil {
		se.Code, se.Message = truncate(x.Code, 64), c.scrub(truncate(x.Message, 200))
	}
	return se
}

// UploadSide uploads one side's image: intent, then PUT, retried per §3.4.
// A PUT to the same key overwrites, so it is idempotent: transport errors,
// timeouts and 5xx are retried with backoff; a 403 means the URL expired
// (or its signature no longer matches) and a fresh intent is requested.
func (c *Client) UploadSide(ctx context.Context, sr, side string, img *Image, progress func(sent int64)) error {
	var lastErr error
	for intent := 0; intent <= putReintents; intent++ {
		pu, err := c.Intent(ctx, sr, side, img.Ext)
		if err != nil {
			return err
		}
		for attempt := 0; attempt < putAttempts; attempt++ {
			if attempt > 0 {
				d := c.backoff(attempt-1, putBackoffBase, putBackoffCap)
				c.log.Warn("upload failed, retrying", zap.String("sr", sr), zap.String("side", side),
					zap.Int("attempt", attempt), zap.Duration("after", d), zap.String("error", c.scrub(lastErr.Error())))
				if err := sleep(ctx, d); err != nil {
					return err
				}
			}
			// A URL about to expire is not worth a 5 MB PUT: ask for a new
			// one (S3 may answer an expired PUT early, with a reset rather
			// than its 403).
			if exp, ok := pu.Expires(); ok && !c.now().Before(exp.Add(-putExpiryMargin)) {
				lastErr = &S3Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Request has expired"}
				break // known expired: do not send
			}
			lastErr = c.Put(ctx, pu, img, progress)
			if lastErr == nil {
				return nil
			}
			if ctx.Err() != nil {
				return lastErr
			}
			var se *S3Error
			if errors.As(lastErr, &se) && se.Status < 500 && se.Status != http.StatusTooManyRequests {
				break // 403 → new intent; other 4xx are final
			}
		}
		if !errors.Is(lastErr, ErrURLExpired) {
			return lastErr
		}
		c.log.Info("upload url expired, requesting a new one", zap.String("sr", sr), zap.String("side", side))
	}
	return lastErr
}

// countingReader reports read progress.
type countingReader struct {
	r  io.Reader
	n  *atomic.Int64
	fn func(int64)
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if n > 0 {
		v := cr.n.Add(int64(n))
		if cr.fn != nil {
			cr.fn(v)
		}
	}
	return n, err
}
