package station

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nfcd/nfcd/internal/legitmark"
)

// MediaPath is where MediaHandler serves the photo guides: the page gets
// "/legitmark/media/<id>" links in sr.requirements, never a CDN URL, so
// its Content-Security-Policy stays same-origin.
const MediaPath = "/legitmark/media/"

// Media limits.
const (
	maxMediaBytes = 2 << 20  // one guide image
	maxMediaCache = 16 << 20 // all cached guide images
	maxMediaLinks = 1024
	mediaTimeout  = 20 * time.Second
)

// mediaHosts are the documented hosts of Legitmark's images (§2.2), allowed
// besides the configured base and intent hosts.
var mediaHosts = []string{"media.legitmark.com", "cdn.legitmark.com", "asset.legitmark.com"}

// media proxies guide images from allow-listed hosts. Links are random
// ids handed out with sr.requirements, so the handler fetches only URLs
// the API named, and only from the allowed hosts.
type media struct {
	hc    *http.Client
	rand  io.Reader
	log   *zap.Logger
	hosts map[string]bool

	mu    sync.Mutex
	links map[string]string // id → upstream URL
	ids   map[string]string // upstream URL → id
	order []string
	cache map[string]mediaItem
	size  int
}

type mediaItem struct {
	ct   string
	body []byte
}

func newMedia(cfg legitmark.Config, hc *http.Client, rand io.Reader, log *zap.Logger) *media {
	if hc == nil {
		hc = &http.Client{Timeout: mediaTimeout, Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 15 * time.Second,
		}}
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	m := &media{hc: &cp, rand: rand, log: log, hosts: map[string]bool{},
		links: map[string]string{}, ids: map[string]string{}, cache: map[string]mediaItem{}}
	for _, h := range mediaHosts {
		m.hosts[h] = true
	}
	for _, raw := range []string{cfg.BaseURL, cfg.IntentURL} {
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			m.hosts[strings.ToLower(u.Host)] = true
		}
	}
	return m
}

// allowed reports whether the station may fetch u: https (or http on
// loopback) on an allowed host, without credentials.
func (m *media) allowed(u *url.URL) bool {
	if u.User != nil || !m.hosts[strings.ToLower(u.Host)] {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		ip := net.ParseIP(u.Hostname())
		return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return false
}

// link returns the daemon's URL for an upstream image, or "" when the
// image is absent or not from an allowed host.
func (m *media) link(raw string) string {
	if raw == "" || len(raw) > 2048 {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || !m.allowed(u) {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.ids[raw]; ok {
		return MediaPath + id
	}
	id, err := randomID(m.rand)
	if err != nil {
		return ""
	}
	if len(m.order) >= maxMediaLinks {
		old := m.order[0]
		m.order = m.order[1:]
		delete(m.ids, m.links[old])
		delete(m.links, old)
		if it, ok := m.cache[old]; ok {
			m.size -= len(it.body)
			delete(m.cache, old)
		}
	}
	m.links[id], m.ids[raw] = raw, id
	m.order = append(m.order, id)
	return MediaPath + id
}

// MediaHandler serves the photo guides at MediaPath. Mount it among the
// daemon's pages (behind the Host check).
func (s *Station) MediaHandler() http.Handler { return s.media }

func (m *media) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, _ := strings.CutPrefix(r.URL.Path, MediaPath)
	m.mu.Lock()
	raw, ok := m.links[id]
	it, cached := m.cache[id]
	m.mu.Unlock()
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if !cached {
		var err error
		if it, err = m.fetch(r.Context(), raw); err != nil {
			m.log.Info("guide image unavailable", zap.String("host", hostOf(raw)), zap.Error(err))
			http.Error(w, "guide image unavailable", http.StatusBadGateway)
			return
		}
		m.mu.Lock()
		if _, still := m.links[id]; still && m.size+len(it.body) <= maxMediaCache {
			m.cache[id] = it
			m.size += len(it.body)
		}
		m.mu.Unlock()
	}
	h.Set("Content-Type", it.ct)
	h.Set("Cache-Control", "private, max-age=3600")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(it.body))
}

// fetch reads an image: a 200 with an image content type, at most
// maxMediaBytes.
func (m *media) fetch(ctx context.Context, raw string) (mediaItem, error) {
	ctx, cancel := context.WithTimeout(ctx, mediaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return mediaItem{}, err
	}
	req.Header.Set("Accept", "image/png, image/jpeg, image/webp")
	resp, err := m.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return mediaItem{}, ue.Err // without the URL
		}
		return mediaItem{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return mediaItem{}, errStatus(resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMediaBytes+1))
	if err != nil {
		return mediaItem{}, err
	}
	if len(body) > maxMediaBytes {
		return mediaItem{}, errTooBig
	}
	ct := http.DetectContentType(body)
	switch ct {
	case "image/png", "image/jpeg", "image/webp":
	default:
		return mediaItem{}, errNotImage
	}
	return mediaItem{ct: ct, body: body}, nil
}

type mediaErr string

func (e mediaErr) Error() string { return string(e) }

const (
	errTooBig   = mediaErr("station: guide image too large")
	errNotImage = mediaErr("station: guide is not a PNG, JPEG or WebP image")
)

func errStatus(code int) error {
	return mediaErr("station: guide image: HTTP " + http.StatusText(code))
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}
