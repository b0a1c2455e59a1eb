// Package web holds nfcd's browser side: the kiosk page the daemon serves at
// "/" and nfcd-client.js, the dependency-free ES module that POS pages use to
// talk to the daemon's WebSocket API (docs/protocol.md, docs/js-client.md).
//
// The files are embedded in the binary; Handler serves them with a strict
// Content-Security-Policy, since the page runs on a loopback origin that
// holds a WebSocket token. Mount it as ws.Config.Static, which puts it
// behind the daemon's Host check and enables GET /v1/session, the page's
// source of single-use session tokens.
//
// The page (index.html, app.js, style.css) is written for store staff:
// every text is in strings.js (English and German, ?lang=), verdict sounds
// in sound.js. It reads its settings from GET /v1/ui-config (UI), which
// NewHandler serves. It has a demo mode (/?demo=1) that simulates a daemon
// in the browser (demo.js) for screenshots and for trying the UI without
// hardware.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// ContentSecurityPolicy is sent with every response. Everything is
// same-origin; connect-src also names the loopback WebSocket origins for
// browsers whose 'self' does not cover ws: (CSP Level 2).
const ContentSecurityPolicy = "default-src 'self'; " +
	"connect-src 'self' ws://127.0.0.1:* ws://localhost:*; " +
	"img-src 'self' data:; " +
	"style-src 'self'; " +
	"object-src 'none'; " +
	"base-uri 'none'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'"

// The served files. Test files and Go sources stay out of the binary.
//
//go:embed index.html app.js strings.js sound.js style.css nfcd-client.js demo.js favicon.svg station.js station.css
var files embed.FS

// contentTypes maps the served extensions to their media types, so that
// serving does not depend on the host's MIME database (on Windows the
// registry can map .js to text/plain, which browsers refuse for modules).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one embedded file, ready to serve.
type asset struct {
	name        string
	contentType string
	etag        string
	body        []byte
}

// loadAssets reads every embedded file once. A file with an unknown
// extension is a programmer error caught by the tests.
func loadAssets() map[string]*asset {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic("web: read embedded files: " + err.Error())
	}
	m := make(map[string]*asset, len(entries)+1)
	for _, e := range entries {
		body, err := files.ReadFile(e.Name())
		if err != nil {
			panic("web: read embedded file: " + err.Error())
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			panic("web: no content type for " + e.Name())
		}
		sum := sha256.Sum256(body)
		m["/"+e.Name()] = &asset{
			name:        e.Name(),
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
			body:        body,
		}
	}
	m["/"] = m["/index.html"]
	return m
}

// UIConfigPath is where the kiosk page reads its settings (UI).
const UIConfigPath = "/v1/ui-config"

// UI is what the kiosk page is told about its setting, as JSON at
// UIConfigPath (docs/protocol.md, "The kiosk page's settings"). It holds
// nothing secret: the page is public to whoever reaches the daemon.
type UI struct {
	// VerdictTimeout is how long a verdict stays on screen before the
	// page returns to "Hold the tag to the reader"; 0 keeps it until the
	// next tap.
	VerdictTimeout time.Duration
	// Sound plays a short sound per verdict (Web Audio).
	Sound bool
	// Profiles maps a profile name (tag.read's "profile") to how the page
	// presents that profile's tags.
	Profiles map[string]ProfileDisplay
}

// ProfileDisplay is the product or brand shown with a verdict.
type ProfileDisplay struct {
	Name    string `json:"display_name,omitempty"`
	LogoURL string `json:"logo_url,omitempty"`
}

// uiJSON is the document at UIConfigPath.
type uiJSON struct {
	VerdictTimeoutMS int64                     `json:"verdict_timeout_ms"`
	Sound            bool                      `json:"sound"`
	Profiles         map[string]ProfileDisplay `json:"profiles"`
}

// logoOrigins returns the origins of the profiles' logos, sorted, for the
// CSP's img-src: the page may show those images and no others.
func (ui UI) logoOrigins() []string {
	var out []string
	for _, p := range ui.Profiles {
		u, err := url.Parse(p.LogoURL)
		if p.LogoURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			strings.ContainsAny(u.Host, " ;,'\"") {
			continue
		}
		o := u.Scheme + "://" + strings.ToLower(u.Host)
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// Handler returns NewHandler with the default settings: a verdict stays
// on screen for 10 s, no sound, no product display.
func Handler() http.Handler {
	return NewHandler(UI{VerdictTimeout: 10 * time.Second})
}

// NewHandler returns an http.Handler that serves the kiosk page at "/",
// its files by name (/app.js, /nfcd-client.js, …) and its settings ui at
// UIConfigPath. Only GET and HEAD are allowed; any other path is 404.
// Responses carry Cache-Control: no-cache with an ETag (so an upgraded
// daemon's files are picked up at once while reloads stay cheap),
// X-Content-Type-Options: nosniff and ContentSecurityPolicy, whose img-src
// also names the origins of the configured logos.
func NewHandler(ui UI) http.Handler {
	assets := loadAssets()
	if ui.Profiles == nil {
		ui.Profiles = map[string]ProfileDisplay{}
	}
	settings, err := json.Marshal(uiJSON{VerdictTimeoutMS: ui.VerdictTimeout.Milliseconds(), Sound: ui.Sound, Profiles: ui.Profiles})
	if err != nil {
		panic("web: encode the UI settings: " + err.Error())
	}
	sum := sha256.Sum256(settings)
	assets[UIConfigPath] = &asset{
		name:        "ui-config.json",
		contentType: "application/json",
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		body:        settings,
	}
	csp := ContentSecurityPolicy
	if origins := ui.logoOrigins(); len(origins) > 0 {
		csp = strings.Replace(csp, "img-src 'self' data:;", "img-src 'self' data: "+strings.Join(origins, " ")+";", 1)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		a, ok := assets[r.URL.Path]
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}
